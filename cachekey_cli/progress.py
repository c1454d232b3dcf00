"""A rich progress bar on stderr, fed by the core's ``progress(stage, done, total)`` callback."""

from __future__ import annotations

from typing import Any

STAGE_LABELS = {
    "load": "loading model",
    "trace": "tracing with Dynamo",
    "split": "splitting graphs",
    "key": "keying pieces",
    "verify": "compiling for real",
    "runs": "fresh-process runs",
}


class ProgressReporter:
    """Silent unless enabled (stderr is a TTY and not --quiet)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressReporter:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description:<22}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, stage: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(stage)
        if task is None:
            task = self._progress.add_task(STAGE_LABELS.get(stage, stage), total=max(total, 1))
            self._tasks[stage] = task
        self._progress.update(task, completed=done, total=max(total, 1))

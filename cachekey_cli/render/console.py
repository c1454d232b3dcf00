"""Rich output rendered to a string: fixed width, colour only for a terminal."""

from __future__ import annotations

import io

from rich.console import Console


def make_console(width: int, color: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        color_system="truecolor" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
    )
    return console, buf


def finish(buf: io.StringIO, color: bool) -> str:
    """The rendered text; as plain text (no colour) without rich's padding spaces."""
    text = buf.getvalue()
    return text if color else "".join(line.rstrip() + "\n" for line in text.splitlines())

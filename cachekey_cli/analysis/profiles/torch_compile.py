"""The ``torch-compile`` profile: ``torch.compile(model)`` with the Inductor backend.

No split: every Dynamo graph (one per graph break) is one compiled unit, and
its keys are the ones ``compile_fx`` computes when Dynamo calls the default
backend, in Dynamo's tracing context, with torch's default config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachekey_cli.analysis.profiles.profile import Profile
from cachekey_cli.results import ProfileInfo


class TorchCompileProfile(Profile):
    name = "torch-compile"
    splits = False

    def range_setting(self, devices: Sequence[str], context: Any) -> Any:
        from cachekey_cli import torchapi

        return torchapi.KeySetting(
            dynamic_shapes="from_tracing_context", context=context, entry="compile_fx",
            label="torch.compile",
        )

    def size_setting(self, size: int, fake_mode: Any, devices: Sequence[str]) -> Any:
        from cachekey_cli.errors import UsageError

        raise UsageError(
            "--compile-size is vLLM's single-size compile", "drop it with --profile torch-compile"
        )

    def info(self, devices: Sequence[str], compile_sizes: Sequence[int],
             traced: set[str] | None = None) -> ProfileInfo:
        return ProfileInfo(
            name=self.name,
            client="torch.compile (Inductor backend)",
            settings={"backend": "'inductor'", "entry": "compile_fx(gm, example_inputs)"},
            notes=("no split: one compiled unit per Dynamo graph, so there is no second variant",),
        )

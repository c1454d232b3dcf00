"""The profile an analysis runs under, and its session around the model's construction.

``Session`` is what ``analysis/prepare.py`` hangs on the loading of the model
(a ``sources.Client``): the model's source names the deployment first (a
``vllm:`` model's serve arguments, else None), and the profile is chosen by
name for it (``profiles.get``); once a model file is imported, before its
factory runs, the profile's session (vLLM's current config, where vLLM is
importable) is entered on the caller's stack, given the splitting ops asked for,
so that a model built by vLLM's ``@support_torch_compile`` sees it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from cachekey_cli.analysis import split_ops


class Session:
    """The profile of one analysis (``options``: ``profile``, ``vllm_config``,
    ``split_ops``, ``compile_sizes``), its session entered on ``stack``."""

    def __init__(self, options: Any, stack: contextlib.ExitStack[Any]) -> None:
        self.options = options
        self.stack = stack
        self.profile: Any = None
        self.entered = False

    def deployment(self, serve: Any) -> None:
        """Choose the profile for the deployment the model's source names (None: none)."""
        from cachekey_cli.analysis import profiles

        self.profile = profiles.get(self.options.profile, self.options.vllm_config, serve)

    def before_factory(self, file_split_ops: tuple[str, ...] | None) -> None:
        """Enter the profile's session, given the splitting ops asked for (--split-op, else
        the ``SPLIT_OPS`` the model file names, else the default)."""
        names, origin = split_ops.asked(self.options.split_ops, file_split_ops)
        self.stack.enter_context(self.profile.session(names, origin,
                                                      self.options.compile_sizes))
        self.entered = True

"""Every way to name a model, in one room: the text becomes a loaded model and what it knows.

- ``model.py[:factory]`` and ``pkg.mod[:factory]`` (``file``): imported, the factory
  called; the file may name its ``SPLIT_OPS`` and ``DYNAMIC_DIMS``;
- ``hf:DIR`` / ``hf:ORG/NAME`` (``hf``): a Hugging Face config, built with transformers;
- ``vllm:DIR`` / ``vllm:ORG/NAME`` (``vllm``): vLLM's own model class, as a server builds
  it, for the deployment the serve arguments describe (``cachekey_cli/vllm/models.py``);
- a ``(module, args[, kwargs])`` tuple built by the caller (``model.from_object``, the
  Python API).

Each hands back a ``LoadedModel``. ``load`` loads what a text names; ``load_under``
is the analysis's way in (``analysis/prepare.py`` calls it once): it tells the
analysis's client the deployment a ``vllm:`` model names before anything is
imported, and lets the client set up what the model's construction must see.
Nothing here imports torch or vLLM at module level.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any, Protocol

from cachekey_cli.errors import InputError
from cachekey_cli.sources import file, hf, vllm
from cachekey_cli.sources.model import INIT_MODES, LoadedModel, ModelSpec, from_object

__all__ = ["INIT_MODES", "Client", "LoadedModel", "ModelSpec", "display_name", "from_object",
           "load", "load_under", "parse_spec"]


class Client(Protocol):
    """What an analysis hangs on the loading of its model (``analysis/prepare.py``)."""

    def deployment(self, serve: Any) -> None:
        """The deployment a ``vllm:`` model names (a ``ServeSpec``), or None: told first,
        before anything is imported."""

    def before_factory(self, split_ops: tuple[str, ...] | None) -> None:
        """Called once a model file is imported (with the ``SPLIT_OPS`` it names), before
        its factory runs, or before vLLM builds its own model class."""


def load_under(options: Any, client: Client, loaded: LoadedModel | None = None) -> LoadedModel:
    """The model ``options.model`` names, loaded for an analysis under ``client``'s set-up.

    ``client.deployment`` gets the ``vllm:`` model's deployment (``options.serve_args``,
    ``options.platform``) or None; then the model is loaded (``options.init``,
    ``options.seq_len``) with ``client.before_factory`` in between. A model the
    caller built already (``loaded``) is taken as it is.
    """
    client.deployment(vllm.serve_spec(options))
    if loaded is not None:
        return loaded
    return load(options.model, options.init, options.seq_len, client.before_factory,
                getattr(options, "platform", "host"))


def load(
    text: str,
    init: str = "auto",
    seq_len: int | None = None,
    before_factory: Callable[[tuple[str, ...] | None], None] | None = None,
    platform: str = "host",
) -> LoadedModel:
    """Import the model and call its factory.

    ``init="meta"`` calls the factory under the meta device, then gives the
    module and the inputs uninitialized CPU storage (see ``model.materialize``).
    Model code may print: stdout carries only the report (e.g. JSON), so
    anything the model writes goes to stderr instead. ``seq_len`` is the
    input length of ``hf:`` models, and an error for any other. ``before_factory``
    runs once a model file is imported, before its factory is called (a client's set-up
    that the model's construction must see, e.g. vLLM's current config).
    """
    if init not in INIT_MODES:
        raise InputError(f"unknown init mode {init!r}", f"use one of {', '.join(INIT_MODES)}")
    with contextlib.redirect_stdout(sys.stderr):
        if vllm.is_vllm(text):
            return vllm.load_served(text, seq_len, before_factory, platform)
        if hf.is_hf(text):
            return hf.load_config(text, "meta" if init == "auto" else init, seq_len)
        if seq_len is not None:
            raise InputError(
                f"--seq-len is for hf: models, and {text} is a model file or module",
                "drop --seq-len; the factory decides its inputs",
            )
        return file.load_factory(text, "real" if init == "auto" else init, before_factory)


def parse_spec(text: str) -> ModelSpec:
    """What ``text`` names: an ``hf:`` or ``vllm:`` model (its factory: the architecture),
    else a file or module and its factory."""
    if hf.is_hf(text) or vllm.is_vllm(text):
        return ModelSpec(target=text, factory="from_config", is_file=False)
    return file.parse_spec(text)


def display_name(text: str) -> str | None:
    """The stable name of an ``hf:`` or ``vllm:`` model for snapshots (no machine paths);
    None for a file or module."""
    if hf.is_hf(text):
        return hf.display_name(text)
    if vllm.is_vllm(text):
        return vllm.display_name(text)
    return None

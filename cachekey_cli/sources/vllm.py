"""``vllm:DIR`` / ``vllm:ORG/NAME``: a model as vLLM serves it, with ``vllm serve``'s arguments.

The model folder (a local folder with ``config.json``, or a model in the local
Hugging Face cache, never downloaded), the serve arguments after ``--`` and the
platform are the deployment (``serve_spec``), from which the ``vllm`` profile
builds vLLM's config (``cachekey_cli/vllm/config/from_serve.py``). The model is
vLLM's own class, built under that config (``cachekey_cli/vllm/models.py``). No
vLLM is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cachekey_cli.errors import InputError, UsageError
from cachekey_cli.sources.model import LoadedModel, ModelSpec

PREFIX = "vllm:"


def is_vllm(text: str) -> bool:
    return text.startswith(PREFIX)


def display_name(text: str) -> str:
    """The stable name for snapshots: ``vllm:`` and the folder's name, or ``vllm:ORG/NAME``."""
    target = text[len(PREFIX):].rstrip("/\\")
    if os.path.isdir(target):
        return PREFIX + os.path.basename(os.path.abspath(target))
    return PREFIX + target


def folder(text: str) -> str:
    """The model folder ``vllm:TEXT`` names: a local folder, else a local HF cache entry."""
    from cachekey_cli.sources import hf

    name = text[len(PREFIX):]
    if not name:
        raise InputError(f"{text} names no model", "vllm:DIR (config.json) or vllm:ORG/NAME")
    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise InputError(f"{name} has no config.json", "pass a Hugging Face model folder")
        return os.path.abspath(name)
    return os.path.dirname(hf.resolve("hf:" + name).config_path)


def serve_spec(options: Any) -> Any:
    """The ``vllm:`` model's deployment (folder, serve arguments, platform), else None;
    a usage error for serve arguments or ``--platform`` with any other model."""
    if not is_vllm(options.model):
        if options.serve_args:
            raise UsageError(f"serve arguments after -- are for vllm: models, and "
                             f"{options.model} is not one", "drop them, or use vllm:DIR")
        if options.platform != "host":
            raise UsageError("--platform is for vllm: models", "drop it")
        return None
    from cachekey_cli.vllm.config.from_serve import ServeSpec

    if options.vllm_config is not None:
        raise UsageError("--vllm-config and a vllm: model both give the deployment's config",
                         "give vllm serve's arguments after -- instead")
    return ServeSpec(folder(options.model), tuple(options.serve_args), options.platform)


def load_served(text: str, seq_len: int | None,
                before_factory: Callable[[tuple[str, ...] | None], None] | None,
                platform: str = "host") -> LoadedModel:
    """vLLM's own model class, built under the config the profile's session made from the
    serve arguments (``before_factory`` enters that session first), as a host of the keyed
    ``platform`` builds it (``models.build``)."""
    if before_factory is None:
        raise InputError(f"{text} is built by vLLM from a deployment's config",
                         "analyse it with the vllm profile")
    before_factory(None)
    from cachekey_cli.vllm import models

    changes: list[str] = []
    differs: list[str] = []
    module, args, kwargs, arch = models.build(seq_len, platform, changes, differs)
    return LoadedModel(ModelSpec(target=text, factory=arch, is_file=False), module, args, kwargs,
                       None, built_as=tuple(changes), built_differs=tuple(differs))

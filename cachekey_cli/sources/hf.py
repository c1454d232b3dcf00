"""Hugging Face configs as models: ``hf:PATH`` and ``hf:ORG/NAME``, built offline with transformers.

``hf:PATH`` names a folder holding ``config.json``, or a config file itself;
``hf:ORG/NAME`` names a model already in the local Hugging Face cache, read
from disk only (no download is ever attempted). The model is built with
transformers' ``from_config``, by default on the meta device and then given
uninitialized CPU storage (``model.materialize``); its input is a batch of
one sequence of ``seq_len`` token ids. The head follows the config's
``architectures``: a causal-LM class (one AutoModelForCausalLM builds, such as
``LlamaForCausalLM`` or ``GPT2LMHeadModel``) gives the causal-LM model, no
architectures gives the base model.

transformers is an optional extra (``cachekey-cli[hf]``); it is imported only
when an ``hf:`` model is loaded, and its absence is a one-line input error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError, exception_line
from cachekey_cli.sources.model import LoadedModel, ModelSpec, materialize

PREFIX = "hf:"
DEFAULT_SEQ_LEN = 16
CONFIG_FILE = "config.json"
EXTRA_HINT = "install the extra: pip install 'cachekey-cli[hf]'"


def is_hf(text: str) -> bool:
    return text.startswith(PREFIX)


def display_name(text: str) -> str:
    """The stable name of an ``hf:`` model for snapshots: no folders, so no machine paths.

    ``hf:ORG/NAME`` stays as it is; a path gives ``hf:`` and its folder's name
    (the config file's folder when the path is a ``config.json``).
    """
    target = text[len(PREFIX):].rstrip("/\\")
    if os.path.exists(target):
        path = os.path.abspath(target)
        if os.path.isfile(path) and os.path.basename(path) == CONFIG_FILE:
            path = os.path.dirname(path)
        name = os.path.basename(path)
        if name.endswith(".json"):
            name = name[: -len(".json")]
        return PREFIX + name
    return PREFIX + target


@dataclass(frozen=True)
class HfSource:
    spec: str  # as given, with the prefix
    config_path: str  # the config.json (or other .json) that was read
    cached_repo: str | None  # ORG/NAME when it came from the local cache


def resolve(text: str) -> HfSource:
    """Find the config file on disk: a path, or a repo in the local Hugging Face cache."""
    target = text[len(PREFIX):]
    if not target:
        raise InputError("hf: needs a folder, a config file or ORG/NAME", "e.g. hf:./qwen2-config")
    if os.path.isdir(target):
        path = os.path.join(target, CONFIG_FILE)
        if not os.path.isfile(path):
            raise InputError(
                f"{target} has no {CONFIG_FILE}", "pass the folder that holds the model's config"
            )
        return HfSource(text, path, None)
    if os.path.isfile(target):
        return HfSource(text, target, None)
    parts = target.split("/")
    if len(parts) != 2 or not all(parts) or target.endswith(".json"):
        raise InputError(
            f"{target} does not exist",
            "pass a folder with config.json, a config file, or ORG/NAME of a cached model",
        )
    return HfSource(text, _from_cache(target), target)


def _from_cache(repo: str) -> str:
    """The cached config.json of ``repo``, from the local cache only (never the network)."""
    _require_transformers()
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, CONFIG_FILE)
    except Exception as exc:  # an invalid repo id
        raise InputError(
            f"hf:{repo} is not a model id: {exception_line(exc)}", "use ORG/NAME"
        ) from None
    if not isinstance(found, str):
        from huggingface_hub import constants

        raise InputError(
            f"hf:{repo} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE})",
            "cachekey never downloads: fetch it first (e.g. `hf download "
            f"{repo} config.json`), or pass hf:PATH to a folder with config.json",
        )
    return found


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise InputError(
            "hf: models need transformers, which is not installed", EXTRA_HINT
        ) from None
    return transformers


def read_config(source: HfSource) -> Any:
    """The transformers config object for the file, by its ``model_type``."""
    transformers = _require_transformers()
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        with open(source.config_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {source.config_path}: {exception_line(exc)}", "pass a valid config.json"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("model_type"), str):
        raise InputError(
            f"{source.config_path} has no model_type", "a transformers config.json names one"
        )
    model_type = data["model_type"]
    if model_type not in CONFIG_MAPPING:
        raise InputError(
            f"transformers {transformers.__version__} does not know model_type {model_type!r}",
            "upgrade transformers (models that need remote code are not supported)",
        )
    try:
        return CONFIG_MAPPING[model_type].from_dict(data)
    except Exception as exc:
        raise InputError(
            f"{source.config_path} is not a valid {model_type} config: {exception_line(exc)}",
            "fix the config file",
        ) from exc


def causal_lm_classes() -> set[str]:
    """The class names transformers' AutoModelForCausalLM builds (GPT2LMHeadModel among them)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    names: set[str] = set()
    for value in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        names.update([value] if isinstance(value, str) else value)
    return names


def architecture(config: Any) -> str | None:
    names = getattr(config, "architectures", None) or []
    return str(names[0]) if names else None


def load_config(text: str, init: str, seq_len: int | None) -> LoadedModel:
    """The model the config names (``init``: "meta" or "real"), its tensors on the CPU."""
    module, arch, args, kwargs = build(text, init, seq_len)
    if init == "meta":
        module, args, kwargs = materialize(module, args, kwargs)
    return LoadedModel(ModelSpec(target=text, factory=arch, is_file=False), module, args, kwargs,
                       None)


def build(
    text: str, init: str, seq_len: int | None
) -> tuple[Any, str, tuple[Any, ...], dict[str, Any]]:
    """Build the model: ``(module, architecture name, args, kwargs)``, on meta unless init is real.

    The caller gives meta tensors their CPU storage.
    """
    import torch

    source = resolve(text)
    config = read_config(source)
    transformers = _require_transformers()
    arch = architecture(config)
    if arch is None:
        auto, name = transformers.AutoModel, type(config).__name__.replace("Config", "Model")
    elif arch in causal_lm_classes():
        auto, name = transformers.AutoModelForCausalLM, arch
    else:
        raise InputError(
            f"{source.config_path} names architecture {arch}, not a causal LM",
            "cachekey builds causal-LM models (e.g. LlamaForCausalLM) or, without "
            "architectures, the base model",
        )
    length = DEFAULT_SEQ_LEN if seq_len is None else seq_len
    if length < 1:
        raise InputError(f"--seq-len {length} is not a length", "give a positive number of tokens")
    try:
        if init == "real":
            module = auto.from_config(config, attn_implementation="sdpa")
        else:
            with torch.device("meta"):
                module = auto.from_config(config, attn_implementation="sdpa")
    except Exception as exc:
        raise InputError(
            f"transformers could not build {name} from {source.config_path}: "
            f"{exception_line(exc)}",
            "check the config; rerun with --traceback for the full stack",
        ) from exc
    ids = torch.zeros(1, length, dtype=torch.long)
    return module, type(module).__name__, (ids,), {"use_cache": False}

"""The AOTAutograd key, the Inductor FX-graph key, and real compiles to check them.

Every function takes a ``KeySetting`` (torchapi/setting.py): the arguments and
config a client's compile call carries. Keys come from torch's own code: the
key-only ``standalone_compile.autograd_cache_key``, or a real compile that is
stopped as soon as torch has computed the key it would file its artifact under.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch._functorch.config  # torch._functorch.config.bundled_autograd_cache
import torch.fx

from cachekey_cli.results import Component, KeyResult
from cachekey_cli.torchapi.debuglines import (
    aot_debug_lines_enabled,
    parse_debug_lines,
    refusal_text,
)
from cachekey_cli.torchapi.setting import (
    KeySetting,
    as_compiled,
    key_api_kwargs,
    scope,
    standalone_kwargs,
)
from cachekey_cli.torchapi.shapes import private_cache_dir
from cachekey_cli.torchapi.spy import (
    AOT_PREFIX,
    BUNDLED,
    FX_CACHE_OFF,
    NONCE,
    Seen,
    aot_from_seen,
    readable,
    run_until_fx_key,
)
from cachekey_cli.torchapi.values import constant_lines, graph_tensors, saved_configs

AOT_CACHE_OFF = "AOTAutograd cache disabled: a compile computes no AOT key"


def _aot_cache_on() -> bool:
    from torch._functorch._aot_autograd import autograd_cache

    return bool(
        autograd_cache.should_use_local_autograd_cache()
        or autograd_cache.should_use_remote_autograd_cache()
    )


def aot_key(
    gm: torch.fx.GraphModule,
    inputs: Sequence[Any],
    setting: KeySetting,
    known: dict[str, tuple[Component, ...]] | None = None,
    likely_known: bool = True,
) -> KeyResult:
    """AOTAutograd cache key via torch's key-only API, in the client's setting.

    The graph module is taken as ``standalone_compile`` would take it (a
    deepcopy unless the client donates it). With ``known`` (key -> components
    seen before), torch first computes the key alone; only a new key pays for
    the per-component debug lines, which re-hash every component. Equal keys
    are hashes of equal pickled inputs, so their component hashes are equal.
    ``likely_known=False`` skips the key-alone attempt (a guess that only ever
    costs time, never changes a key).
    """
    from torch._functorch._aot_autograd.autograd_cache import BypassAOTAutogradCache

    if setting.entry == "compile_fx":
        with scope(setting):
            return compile_fx_keys(gm, inputs)[0]
    module = importlib.import_module("torch._inductor.standalone_compile")
    kwargs = key_api_kwargs(setting)
    try:
        with scope(setting):
            if not _aot_cache_on():
                return KeyResult("aot_key", None, refusal=AOT_CACHE_OFF)
            if known and likely_known:
                key, _ = module.autograd_cache_key(as_compiled(gm), list(inputs), **kwargs)
                if str(key) in known:
                    return KeyResult("aot_key", str(key), known[str(key)])
            keyed = as_compiled(gm)
            with aot_debug_lines_enabled(), saved_configs() as blobs:
                key, lines = module.autograd_cache_key(keyed, list(inputs), **kwargs)
    except NotImplementedError as exc:
        return KeyResult("aot_key", None, refusal=refusal_text(f"NotImplementedError: {exc}"))
    except BypassAOTAutogradCache as exc:
        return KeyResult("aot_key", None, refusal=refusal_text(f"cache bypass: {exc}"))
    except Exception as exc:  # torch refusing a graph is a finding, not a crash
        return KeyResult("aot_key", None, refusal=refusal_text(f"{type(exc).__name__}: {exc}"))
    if not str(key).startswith(AOT_PREFIX):
        return KeyResult("aot_key", None, refusal=_nonce_reason(gm, inputs, setting))
    components = readable(parse_debug_lines(lines), constant_lines(keyed, key="aot_key"), blobs)
    result = KeyResult("aot_key", str(key), components)
    if known is not None:
        known[str(key)] = result.components
    return result


def _nonce_reason(gm: torch.fx.GraphModule, inputs: Sequence[Any], setting: KeySetting) -> str:
    """NONCE, with the reason torch could not hash the graph: the same key asked for
    without ``bypass_autograd_cache_key``, which then raises instead of filing a nonce."""
    module = importlib.import_module("torch._inductor.standalone_compile")
    try:
        with scope(setting), torch._functorch.config.patch(bypass_autograd_cache_key=False):
            module.autograd_cache_key(as_compiled(gm), list(inputs), **key_api_kwargs(setting))
    except Exception as exc:
        reason = refusal_text(f"{type(exc).__name__}: {exc}")
        if type(exc).__name__ == "BypassAOTAutogradCache":
            reason = refusal_text(f"cache bypass: {exc}")
        return NONCE.format(why=f" ({reason})")
    return NONCE.format(why="")


def inductor_key(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], setting: KeySetting
) -> KeyResult:
    """The FX-graph key Inductor computes for the forward graph of one standalone compile.

    Runs the real ``torch._inductor.standalone_compile`` with the setting's
    arguments and stops it once ``FxGraphCache.prepare_key`` has the key.
    A donated graph module is copied first: the caller's piece stays untouched.
    """
    import copy

    if setting.entry == "compile_fx":
        with scope(setting):
            return compile_fx_keys(gm, inputs)[1]
    kwargs = standalone_kwargs(setting)
    if kwargs.get("aot"):  # standalone_compile sets bundled_autograd_cache=aot itself
        return KeyResult("inductor_key", None, refusal=BUNDLED)
    piece = copy.deepcopy(gm) if setting.donate else gm

    def call() -> Any:
        return torch._inductor.standalone_compile(piece, list(inputs), **kwargs)

    with scope(setting):
        return run_until_fx_key(call, Seen(originals=graph_tensors(gm)), record_aot=False)


def compile_fx_keys(
    gm: torch.fx.GraphModule, inputs: Sequence[Any]
) -> tuple[KeyResult, KeyResult]:
    """The AOT and FX keys ``torch.compile``'s Inductor backend computes for a Dynamo graph.

    Call it inside a Dynamo backend: ``compile_fx`` runs exactly as the default
    backend runs it, in Dynamo's tracing context, and is stopped at the FX key.
    """
    from torch._inductor.compile_fx import compile_fx

    seen = Seen(originals=graph_tensors(gm))
    with aot_debug_lines_enabled():
        inductor = run_until_fx_key(lambda: compile_fx(gm, list(inputs)), seen, record_aot=True)
    if not _aot_cache_on():
        return KeyResult("aot_key", None, refusal=AOT_CACHE_OFF), inductor
    if not seen.aot and inductor.refusal in (FX_CACHE_OFF, BUNDLED):
        # No FX key to stop at: take the AOT key from compile_fx's own key function.
        from torch._inductor import compile_fx as compile_fx_module

        with aot_debug_lines_enabled():
            try:
                seen.aot.append(
                    compile_fx_module.autograd_cache_key(gm, list(inputs), ignore_shape_env=False)
                )
            except Exception as exc:
                seen.aot.append(exc)
    return aot_from_seen(seen), inductor


def cache_dir_keys(path: str) -> dict[str, list[str]]:
    """The AOTAutograd and FX-graph keys a compile filed under an Inductor cache directory."""
    aot_dir = os.path.join(path, "aotautograd")
    fx_dir = os.path.join(path, "fxgraph")
    # a nonce (see NONCE) names a folder too, but it is no key
    aot: list[str] = []
    if os.path.isdir(aot_dir):
        aot = sorted(k for k in os.listdir(aot_dir) if k.startswith(AOT_PREFIX))
    fx: list[str] = []
    if os.path.isdir(fx_dir):
        for prefix in sorted(os.listdir(fx_dir)):
            fx.extend(sorted(os.listdir(os.path.join(fx_dir, prefix))))
    return {"aot_key": aot, "inductor_key": fx}


def compile_for_real(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], setting: KeySetting
) -> dict[str, list[str]]:
    """Really ``standalone_compile`` one piece in the setting, into a fresh cache directory.

    Returns the AOTAutograd and FX-graph keys found on disk, which is where a
    real compile files its artifacts.
    """
    with private_cache_dir() as path, scope(setting):
        torch._inductor.standalone_compile(gm, list(inputs), **standalone_kwargs(setting))
        return cache_dir_keys(path)


def torch_build_key() -> str:
    """Torch's build key (``codecache.torch_key()``, a hash of its sources) as hex.

    Standalone-compiled artifacts carry it in their header, and loading one
    built by another torch fails (``CompiledArtifact.load``: "torch_key mismatch").
    """
    from torch._inductor.codecache import torch_key

    return bytes(torch_key()).hex()

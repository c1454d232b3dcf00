"""The only place that touches private torch APIs.

Everything that reaches into ``torch._inductor``, ``torch._functorch`` or
``torch._dynamo`` lives in this package, behind small functions with plain
signatures; the rest of cachekey imports them from here. Capabilities are
probed (``inspect.signature``, ``hasattr``), never inferred from version
strings. Torch config is only ever changed through ``config.patch`` context
managers, never globally.
"""

from __future__ import annotations

from cachekey_cli.torchapi.config import (
    aot_cache_accepts_autocast,
    config_patched,
    functorch_normalize_inputs_default,
    inductor_config_value,
    known_functorch_flags,
    parse_override,
    torch_release,
)
from cachekey_cli.torchapi.debuglines import parse_debug_lines, refusal_text
from cachekey_cli.torchapi.dynamo import (
    compile_for_capture,
    compile_reason,
    dynamo_settings,
    guard_removal_applies,
    guard_removal_in_place,
    is_graph_break,
    quiet_torch_logs,
    reset_dynamo,
    run_aot_compile,
    torch_git_version,
    trace_records_kept_in_torch,
)
from cachekey_cli.torchapi.graphs import (
    graph_returns_tuple,
    lazy_graph_modules,
    normalize_return,
    split_module,
    split_module_supports_tuple_return,
    standalone_key_refusal,
)
from cachekey_cli.torchapi.keys import (
    aot_key,
    cache_dir_keys,
    compile_for_real,
    compile_fx_keys,
    inductor_key,
    torch_build_key,
)
from cachekey_cli.torchapi.setting import KeySetting, scope
from cachekey_cli.torchapi.shapes import (
    concrete_inputs,
    current_tracing_context,
    has_symbolic_inputs,
    private_cache_dir,
    symint_hints,
)
from cachekey_cli.torchapi.traced import collect_traced_files
from cachekey_cli.torchapi.values import input_names

__all__ = [
    "KeySetting",
    "aot_cache_accepts_autocast",
    "aot_key",
    "cache_dir_keys",
    "collect_traced_files",
    "compile_for_capture",
    "compile_for_real",
    "compile_fx_keys",
    "compile_reason",
    "concrete_inputs",
    "config_patched",
    "current_tracing_context",
    "dynamo_settings",
    "functorch_normalize_inputs_default",
    "graph_returns_tuple",
    "guard_removal_applies",
    "guard_removal_in_place",
    "has_symbolic_inputs",
    "inductor_config_value",
    "inductor_key",
    "input_names",
    "is_graph_break",
    "known_functorch_flags",
    "lazy_graph_modules",
    "normalize_return",
    "parse_debug_lines",
    "parse_override",
    "private_cache_dir",
    "quiet_torch_logs",
    "refusal_text",
    "reset_dynamo",
    "run_aot_compile",
    "scope",
    "split_module",
    "split_module_supports_tuple_return",
    "standalone_key_refusal",
    "symint_hints",
    "torch_build_key",
    "torch_git_version",
    "torch_release",
    "trace_records_kept_in_torch",
]

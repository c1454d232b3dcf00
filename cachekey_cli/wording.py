"""Small wording helpers shared by reports: plural nouns, freezing, vLLM's cache folders."""

from __future__ import annotations

from typing import Any


def plural(n: int, singular: str, many: str | None = None) -> str:
    """``"1 piece"``, ``"2 pieces"``; ``many`` for irregular plurals (``"1 key of"``)."""
    return f"{n} {singular if n == 1 else (many or singular + 's')}"


# What freezing (torch._inductor.config.freezing) means for weights on each profile's path.
# Inductor inlines a frozen parameter, and so keys its values, when it is 1-D with at most
# 8 elements (GraphLowering.can_inline_constant in torch/_inductor/graph.py); larger ones
# are keyed by shape and dtype (FxGraphCachePickler._reduce_tensor).
_FREEZING = {
    "vllm": (
        "vLLM does not freeze. Its split hands every parameter to the pieces as an input, so "
        "no weight becomes a constant and weight values reach no key; the AOTAutograd cache "
        "is bypassed (\"Cannot cache a graph with freezing enabled\"). vLLM 0.33.0 sets "
        "freezing only in its CPU model runner, around the warm-up compile, when "
        "compilation_config.inductor_compile_config asks for max_autotune"
    ),
    "torch-compile": (
        "under torch.compile a weight change is drift. Inductor keys a frozen weight by value "
        "when it inlines it (1-D, at most 8 elements) and by shape and dtype otherwise (a warm "
        "start then reads the new values); the AOTAutograd cache is bypassed"
    ),
}


def freezing_line(profile: str, which: str = "") -> str:
    """One line on freezing for the profile's path; ``which`` says which side has it on."""
    said = _FREEZING["torch-compile" if profile == "torch-compile" else "vllm"]
    return f"freezing is on{f' ({which})' if which else ''}: {said}"


def folder_line(info: Any) -> str:
    """Where this deployment's vLLM files its compile cache, under VLLM_CACHE_ROOT."""
    parts = []
    factors = info.folder_factors
    if info.hash_folder:
        parts.append(f"torch_compile_cache/{info.hash_folder}/"
                     f"{factors.get('rank_folder', 'rank_0_0')}/{factors.get('prefix', '')}")
    if info.aot_compile_folder:
        parts.append(f"torch_compile_cache/torch_aot_compile/{info.aot_compile_folder}")
    return "; ".join(parts)

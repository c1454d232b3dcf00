"""Small wording helpers shared by reports: counts with the right singular or plural noun."""

from __future__ import annotations


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

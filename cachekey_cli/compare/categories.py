"""The drift categories, and which category a changed component or a refusal falls in.

Torch-free and tiny, so the CLI can offer ``--allow`` choices without loading
the comparison code. docs/ci.md documents every category.
"""

from __future__ import annotations

import re

from cachekey_cli.compare.drift_values import changed_fields
from cachekey_cli.results import ComponentChange

# the six categories, then "refusal": torch started or stopped refusing to
# key a piece for a reason none of the six explains (a cache bypass, an exception)
CATEGORIES = (
    "environment", "config", "graph", "inputs", "split", "tuple-conformance", "refusal",
)
ENVIRONMENT_COMPONENTS = ("torch_version", "system_info", "cpp_runtime_thread_count")
_TUPLE_REFUSAL = re.compile(r"(don't|do not|must|only) return (a )?tuple|returns? a tuple", re.I)
_CONFIG_REFUSALS = ("FX graph cache disabled", "bundled_autograd_cache",
                    "AOTAutograd cache disabled")


def refusal_category(refusal: str) -> str:
    """The category of a key that torch started or stopped refusing, from the refusal's text."""
    if _TUPLE_REFUSAL.search(refusal):
        return "tuple-conformance"  # e.g. NotImplementedError: ... graphs that don't return a tuple
    if any(text in refusal for text in _CONFIG_REFUSALS):
        return "config"  # a cache switched off, or bundled into the AOT key
    if refusal.startswith("splitting op"):
        return "split"  # the piece became (or stopped being) a splitting op
    return "refusal"  # a cache bypass (e.g. an uncacheable custom op) or an exception


def category_of(component: str, absent_on_one_side: bool = False, torch_moved: bool = False) -> str:
    """Which category a changed key component belongs to."""
    base = component.split("[", 1)[0]
    if base in ENVIRONMENT_COMPONENTS:
        return "environment"
    if base == "example_inputs":
        # an input added or removed (e.g. a SymInt for a new dynamic dimension) is still
        # the piece's inputs changing; `split` is only said from the pieces themselves
        return "inputs"
    if absent_on_one_side and torch_moved:
        return "environment"  # a new torch adds and removes config entries
    if base == "gm":
        return "graph"
    if base == "fx_kwargs" and "static_input_idxs" in component:
        return "inputs"
    return "config"


def mode_explains(kind: str, c: ComponentChange, aot_gm_moved: bool) -> bool:
    """With inference ↔ training, the forward graph Inductor sees and inputs' requires_grad
    follow from the mode: config drift, not graph or inputs drift."""
    if c.name == "gm":
        return kind == "inductor_key" and not aot_gm_moved
    if c.name.startswith("example_inputs") and c.before and c.after:
        return changed_fields(c.before, c.after) == ["requires_grad"]
    return False

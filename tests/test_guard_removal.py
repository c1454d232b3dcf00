"""``torchapi.guard_removal_in_place`` leaves Dynamo's guards as torch's own rebuild does.

Torch drops the guards of a hoisted opaque object by rebuilding the whole guard set and its
source index, once per object (layers × guards). cachekey drops them in place during its
trace; these tests run torch's method and cachekey's on equal guard sets and compare what
Dynamo can read afterwards: the set in order, and every source's guards from the index.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
guards_mod = pytest.importorskip("torch._guards")
source_mod = pytest.importorskip("torch._dynamo.source")

from cachekey_cli import torchapi  # noqa: E402

GuardsSet = guards_mod.GuardsSet
Guard = guards_mod.Guard
if not hasattr(GuardsSet, "remove_guards_with_source"):
    pytest.skip("this torch's GuardsSet has no remove_guards_with_source",
                allow_module_level=True)


def _guard_set() -> tuple[object, list[object], list[object]]:
    """A set with guards on plain sources and on two synthetic inputs (chains included),
    one guard discarded from the set alone (as ``LazyVariableTracker.realize`` does)."""
    from torch._dynamo.guards import GuardBuilder

    local, other = source_mod.LocalSource("x"), source_mod.LocalSource("y")
    first = source_mod.SyntheticLocalSource("tmp_0")
    second = source_mod.SyntheticLocalSource("tmp_1")
    sources = [
        local, source_mod.AttrSource(local, "weight"), first,
        source_mod.AttrSource(first, "name"),
        source_mod.AttrSource(source_mod.AttrSource(first, "a"), "b"), other, second,
        source_mod.AttrSource(second, "name"), source_mod.AttrSource(other, "bias"),
    ]
    made = GuardsSet()
    for s in sources:
        for fn in (GuardBuilder.TYPE_MATCH, GuardBuilder.CONSTANT_MATCH):
            made.add(Guard(originating_source=s, create_fn=fn), collect_debug_stack=False)
    stale = next(g for g in made.inner if g.originating_source == sources[1])
    made.inner.discard(stale)
    return made, sources, [first, second]


def _seen(guard_set: object, sources: list[object]) -> tuple[list[object], list[list[object]]]:
    return (list(guard_set.inner),  # type: ignore[attr-defined]
            [guard_set.get_guards_for_source(s) for s in sources])  # type: ignore[attr-defined]


def test_in_place_removal_leaves_what_torchs_rebuild_leaves():
    theirs, sources, synthetic = _guard_set()
    ours, _, _ = _guard_set()
    for source in synthetic:
        theirs.remove_guards_with_source(source)
    with torchapi.guard_removal_in_place():
        for source in synthetic:
            ours.remove_guards_with_source(source)
        assert _seen(ours, sources) == _seen(theirs, sources)
    removed = [g for g in _guard_set()[0].inner if g not in theirs.inner]
    assert len(removed) == 10  # 5 sources on the two synthetic inputs, 2 guards each
    assert all(not any(g is r for g in ours.inner) for r in removed)


def test_torchs_methods_are_back_afterwards():
    if not torchapi.guard_removal_applies():
        pytest.skip("this torch's GuardsSet is not the one the in-place removal knows")
    before = (GuardsSet.remove_guards_with_source, GuardsSet.get_guards_for_source)
    with torchapi.guard_removal_in_place():
        assert GuardsSet.remove_guards_with_source is not before[0]
    assert (GuardsSet.remove_guards_with_source, GuardsSet.get_guards_for_source) == before


def test_the_probe_refuses_a_removal_that_leaves_other_guards(monkeypatch):
    # the once-per-process probe is what keeps another torch's GuardsSet from the in-place
    # removal: an implementation that drops only the synthetic input's own guards (not
    # those on a chain from it) must not pass it
    from cachekey_cli.torchapi import dynamo

    def shallow(self, source):
        for guard in [g for g in self.inner if g.originating_source == source]:
            self.inner.discard(guard)

    assert dynamo._probe_guard_removal()
    monkeypatch.setattr(dynamo, "_remove_in_place", shallow)
    assert not dynamo._probe_guard_removal()

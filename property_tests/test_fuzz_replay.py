"""Model law for the replay guard's pure value: SeenTokens agrees with a plain dict.

Operations are drawn at random (add an id with an expiry, discard one, let time pass);
after each, the immutable value and a reference dict {id: forget_after} pruned by time
must agree on membership, size and on which adds were "new". Capacity is small so the
refusal path is taken often.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lk_core import ReplayCapacityExceeded, SeenTokens
from tests.hardening.fuzz import FUZZ

CAPACITY = 4
# A handful of ids, so repeats are common; expiries 0..6 s ahead and steps of 0..3 s,
# so time often lands exactly on an expiry (the boundary that matters).
IDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), IDS, st.integers(0, 6)),
        st.tuples(st.just("discard"), IDS, st.just(0)),
        st.tuples(st.just("tick"), st.just(""), st.integers(0, 3)),
    ),
    max_size=40,
)


@FUZZ
@given(ops=OPS)
def test_seen_tokens_matches_a_dict_model(ops: list[tuple[str, str, int]]) -> None:
    """Membership, size, freshness and capacity refusals match the reference model."""
    seen = SeenTokens(capacity=CAPACITY)
    model: dict[str, int] = {}
    now = 1_000
    for op, jti, arg in ops:
        if op == "tick":
            now += arg
            continue
        if op == "discard":
            seen = seen.discard(jti)
            model.pop(jti, None)
            continue
        model = {k: v for k, v in model.items() if v >= now}
        forget_after = now + arg
        if jti in model:
            seen, new = seen.add(jti, forget_after, now)
            assert not new
        elif len(model) >= CAPACITY:
            before = seen
            try:
                seen.add(jti, forget_after, now)
            except ReplayCapacityExceeded:
                pass
            else:
                raise AssertionError("a full guard must refuse a new id")
            assert before == seen
        else:
            seen, new = seen.add(jti, forget_after, now)
            assert new
            model[jti] = forget_after
        current = seen.prune(now)
        assert len(current) == len(model)
        assert all(k in current for k in model)

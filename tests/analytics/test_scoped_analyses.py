"""The growth analyses within a scope (``within``: the group ids an access guard allows) against
the plain implementations of ``test_new_analyses`` fed only what the scope's definitions keep."""

from __future__ import annotations

import tempfile
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.analytics.funnel import cohort_rows, funnel_rows
from qunyun.analytics.reach import reach, reach_rows
from qunyun.analytics.referrals import first_referrals, referral_rows, referral_trees

from . import test_new_analyses as plain
from .test_new_analyses import AS_OF, GROUPS, KNOWN, Event, _day, _lake, events

SCOPES = st.sets(st.sampled_from([*[g for g in GROUPS if g], "SG9", "DG9"]))
"""Group ids of a scope: some of the lake's, and groups only the database knows."""


def _unique(batch: list[Event]) -> list[Event]:
    """Return the first event of each id, in order (what the lake keeps)."""
    seen: set[object] = set()
    kept = []
    for event in batch:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            kept.append(event)
    return kept


@settings(max_examples=10, deadline=None)
@given(st.lists(events(), min_size=1, max_size=150), SCOPES)
def test_funnel_and_cohorts_within_a_scope(batch: list[Event], scope: set[str]) -> None:
    # the scope's joins and activity; orders and referrals are the member's own, anywhere
    kept = [
        e for e in _unique(batch) if e["group_id"] in scope or e["kind"] in ("order", "referral")
    ]
    in_scope = [e for e in _unique(batch) if e["group_id"] in scope]
    with tempfile.TemporaryDirectory() as folder:
        lake = _lake(batch, folder)
        funnel = funnel_rows(lake, AS_OF, KNOWN, scope)
        cohorts = list(cohort_rows(lake, AS_OF, scope))

    assert funnel == plain.reference_funnel(kept)
    assert cohorts == plain.reference_cohorts(in_scope)


@settings(max_examples=10, deadline=None)
@given(st.lists(events(), min_size=1, max_size=150), SCOPES)
def test_reach_within_a_scope(batch: list[Event], scope: set[str]) -> None:
    in_scope = [e for e in _unique(batch) if e["group_id"] in scope]
    with tempfile.TemporaryDirectory() as folder:
        rows = reach_rows(reach(_lake(batch, folder), AS_OF, KNOWN, scope))

    # the tiers hold the scope's groups only, the database's among them
    with patch.object(plain, "KNOWN", {g: m for g, m in KNOWN.items() if g in scope}):
        assert rows == plain.reference_reach(in_scope)


@settings(max_examples=10, deadline=None)
@given(st.lists(events(), min_size=1, max_size=150), SCOPES)
def test_referrals_within_a_scope(batch: list[Event], scope: set[str]) -> None:
    # each invitee's first referral over the whole lake, kept when it was made in the scope
    referrals = sorted(
        (e for e in _unique(batch) if e["kind"] == "referral" and _day(e) <= AS_OF),
        key=lambda e: (int(e["ts"]), str(e["event_id"])),  # type: ignore[call-overload]
    )
    first: dict[tuple[object, object], Event] = {}
    for event in referrals:
        first.setdefault((event["member_kind"], event["member_id"]), event)
    kept = [e for e in first.values() if e["group_id"] in scope]
    with tempfile.TemporaryDirectory() as folder:
        lake = _lake(batch, folder)
        rows = list(referral_rows(referral_trees(first_referrals(lake, AS_OF, scope))))

    assert rows == plain.reference_referrals(kept)

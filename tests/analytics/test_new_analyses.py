"""VIP candidates, AARRR funnel, cohorts, reach down the tiers and referral trees against plain
implementations of their README definitions, on random events (duplicates, late events and
Asia/Shanghai midnights included)."""

from __future__ import annotations

import statistics
import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.analytics.funnel import cohort_rows, funnel_rows
from qunyun.analytics.lake import LakeTables, open_lake
from qunyun.analytics.reach import reach, reach_rows
from qunyun.analytics.referrals import first_referrals, referral_rows, referral_trees
from qunyun.analytics.vip import StoreValue, vip_candidate_rows
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.org.models import Tenant

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 11, 23)
MIDNIGHT = datetime(2026, 11, 23, tzinfo=SHANGHAI)
WEIGHTS = {
    "message": 1.0,
    "red_packet_send": 3.0,
    "red_packet_grab": 1.0,
    "order": 5.0,
    "referral": 4.0,
    "content_share": 2.0,
    "content_view": 0.2,
    "join": 0.0,
    "leave": 0.0,
}
GROUPS = ["DG1", "DG2", "SG1", "SG2", "SG3", "CG1", "CG2", "VG1", "X1", ""]
KNOWN = {"X1": "store", "SG9": "store", "DG9": "dealer"}
Event = dict[str, object]


def _day(event: Event) -> date:
    moment = datetime.fromtimestamp(int(event["ts"]) / 1000, UTC)  # type: ignore[call-overload]
    return moment.astimezone(SHANGHAI).date()


def _firsts(events: list[Event]) -> list[Event]:
    seen: set[object] = set()
    kept = []
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            if _day(event) <= AS_OF:
                kept.append(event)
    return kept


def _matrix(group_id: object) -> str | None:
    text = str(group_id)
    if text in KNOWN:
        return KNOWN[text]
    return {"DG": "dealer", "SG": "store", "CG": "consumer", "VG": "vip"}.get(text[:2])


@st.composite
def events(draw: st.DrawFn) -> Event:
    days_back = draw(st.one_of(st.integers(0, 45), st.sampled_from([-1, 89, 90, 91])))
    minutes = draw(st.sampled_from([-1, 0, 1, 600]))
    moment = MIDNIGHT - timedelta(days=days_back) + timedelta(minutes=minutes)
    kind = draw(st.sampled_from(sorted(WEIGHTS)))
    event: Event = {
        "event_id": f"e{draw(st.integers(0, 300))}",
        "ts": int(moment.timestamp() * 1000),
        "kind": kind,
        "group_id": draw(st.sampled_from(GROUPS)),
        "member_kind": draw(st.sampled_from(["store", "consumer", "staff"])),
        "member_id": draw(st.sampled_from(["1", "2", "3", "4", "5"])),
        "red_packet_id": "RP",
        "order_id": "O",
        "content_id": draw(st.sampled_from(["C1", "C2"])),
        "inviter_kind": draw(st.sampled_from(["store", "consumer"])),
        "inviter_id": draw(st.sampled_from(["1", "2", "3", "4", "5"])),
    }
    if kind == "order":
        event["amount_fen"] = draw(st.integers(0, 5000))
    return event


def _lake(batch: list[Event], folder: str) -> LakeTables:
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    # two imports: the second brings late events for old days and ids seen in the first
    half = len(batch) // 2
    do_ingest_events(tenant, batch[:half], skip_invalid=False, root=Path(folder))
    do_ingest_events(tenant, batch[half:], skip_invalid=False, root=Path(folder))
    return open_lake(tenant_lake(tenant, Path(folder)))


# --- VIP candidates


def reference_vip(batch: list[Event], stores: list[StoreValue], share: float) -> list[tuple]:  # type: ignore[type-arg]
    score: Counter[str] = Counter()
    orders: Counter[str] = Counter()
    has_event: set[str] = set()
    for event in _firsts(batch):
        if event["member_kind"] != "store":
            continue
        member = str(event["member_id"])
        has_event.add(member)
        age = (AS_OF - _day(event)).days
        if age < 90:
            score[member] += WEIGHTS[str(event["kind"])] * 0.5 ** (age / 14)
            if event["kind"] == "order":
                orders[member] += int(event.get("amount_fen") or 0)  # type: ignore[call-overload]
    per_province = Counter(store.province_code for store in stores)
    rows = []
    for province in sorted(per_province):
        quota = max(1, round(per_province[province] * share))
        eligible = [
            s
            for s in stores
            if s.province_code == province and s.store_id in has_event and score[s.store_id] >= 5
        ]
        eligible.sort(
            key=lambda s: (
                -(s.annual_purchase_fen + orders[s.store_id]),
                -score[s.store_id],
                s.store_id,
            )
        )
        for rank, s in enumerate(eligible[:quota], start=1):
            level = "core" if score[s.store_id] >= 20 else "active"
            value = s.annual_purchase_fen + orders[s.store_id]
            rows.append(
                (
                    province,
                    rank,
                    s.store_id,
                    value,
                    s.annual_purchase_fen,
                    orders[s.store_id],
                    f"{score[s.store_id]:.2f}",
                    level,
                )
            )
    return rows


@settings(max_examples=25, deadline=None)
@given(
    st.lists(events(), min_size=1, max_size=150),
    st.lists(st.integers(0, 3), min_size=5, max_size=5),
    st.sampled_from([0.05, 0.3, 0.5]),
)
def test_vip_candidates_match_a_plain_implementation(
    batch: list[Event], purchases: list[int], share: float
) -> None:
    stores = [
        StoreValue(str(i + 1), "440000" if i < 3 else "110000", purchase * 1000)
        for i, purchase in enumerate(purchases)
    ]
    with tempfile.TemporaryDirectory() as folder:
        rows = list(vip_candidate_rows(_lake(batch, folder), stores, AS_OF, share))

    assert rows == reference_vip(batch, stores, share)


# --- funnel and cohorts


def reference_funnel(batch: list[Event]) -> list[tuple[object, ...]]:
    firsts = [e for e in _firsts(batch) if e["member_kind"] != "staff"]
    joined: dict[tuple[str, tuple[object, object]], date] = {}
    for event in firsts:
        matrix = _matrix(event["group_id"]) if event["group_id"] else None
        if event["kind"] == "join" and matrix:
            key = (matrix, (event["member_kind"], event["member_id"]))
            joined[key] = min(joined.get(key, _day(event)), _day(event))
    rows = []
    for matrix in ("dealer", "store", "consumer", "vip"):
        counts = [0, 0, 0, 0, 0]
        for (m, member), day in joined.items():
            if m != matrix:
                continue
            counts[0] += 1
            ages = [
                (_day(e) - day).days
                for e in firsts
                if (e["member_kind"], e["member_id"]) == member
                and e["kind"] in ("message", "red_packet_grab")
                and e["group_id"]
                and _matrix(e["group_id"]) == matrix
            ]
            counts[1] += any(0 <= a < 7 for a in ages)
            counts[2] += any(21 <= a <= 27 for a in ages)
            counts[3] += any(
                e["kind"] == "order"
                and (e["member_kind"], e["member_id"]) == member
                and _day(e) >= day
                for e in firsts
            )
            counts[4] += any(
                e["kind"] in ("referral", "join")
                and (e["inviter_kind"], e["inviter_id"]) == member
                and _day(e) >= day
                for e in _firsts(batch)
            )
        rows.append((matrix, *counts))
    return rows


def reference_cohorts(batch: list[Event]) -> list[tuple[object, ...]]:
    firsts = [e for e in _firsts(batch) if e["member_kind"] != "staff" and e["group_id"]]
    first_join: dict[tuple[object, object], date] = {}
    for e in firsts:
        if e["kind"] == "join":
            member = (e["member_kind"], e["member_id"])
            first_join[member] = min(first_join.get(member, _day(e)), _day(e))
    cohorts: dict[date, list[tuple[object, object]]] = {}
    for member, day in first_join.items():
        cohorts.setdefault(day - timedelta(days=day.weekday()), []).append(member)
    as_of_week = AS_OF - timedelta(days=AS_OF.weekday())
    rows: list[tuple[object, ...]] = []
    for start in sorted(cohorts):
        members = cohorts[start]
        for week in range((as_of_week - start).days // 7 + 1):
            low, high = start + timedelta(days=7 * week), start + timedelta(days=7 * week + 6)
            active = sum(
                any(
                    (e["member_kind"], e["member_id"]) == member
                    and e["kind"] in ("message", "red_packet_grab")
                    and low <= _day(e) <= high
                    for e in firsts
                )
                for member in members
            )
            rows.append(
                (start.isoformat(), len(members), week, active, f"{active / len(members):.4f}")
            )
    return rows


@settings(max_examples=25, deadline=None)
@given(st.lists(events(), min_size=1, max_size=150))
def test_funnel_and_cohorts_match_a_plain_implementation(batch: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lake = _lake(batch, folder)
        funnel = funnel_rows(lake, AS_OF, KNOWN)
        cohorts = list(cohort_rows(lake, AS_OF))

    assert funnel == reference_funnel(batch)
    assert cohorts == reference_cohorts(batch)


def test_a_join_by_invite_counts_as_a_referral_in_the_funnel() -> None:
    # given: consumer 1 joins CG1, then brings consumer 2 into CG1 by invite (a join naming
    # him as inviter); store 3 joins SG1 and is named by no event
    def join(event_id: str, days_back: int, member: tuple[str, str], **inviter: str) -> Event:
        moment = MIDNIGHT - timedelta(days=days_back) + timedelta(hours=10)
        return {
            "event_id": event_id,
            "ts": int(moment.timestamp() * 1000),
            "kind": "join",
            "group_id": "SG1" if member[0] == "store" else "CG1",
            "member_kind": member[0],
            "member_id": member[1],
            **inviter,
        }

    batch = [
        join("j1", 10, ("consumer", "1"), scene="qr"),
        join("j2", 5, ("consumer", "2"), scene="invite", inviter_kind="consumer", inviter_id="1"),
        join("j3", 5, ("store", "3"), scene="direct"),
    ]
    with tempfile.TemporaryDirectory() as folder:
        # when
        rows = funnel_rows(_lake(batch, folder), AS_OF, KNOWN)

    # then
    assert rows == [
        ("dealer", 0, 0, 0, 0, 0),
        ("store", 1, 0, 0, 0, 0),
        ("consumer", 2, 0, 0, 0, 1),
        ("vip", 0, 0, 0, 0, 0),
    ]


# --- reach down the tiers


def reference_reach(batch: list[Event]) -> list[tuple[object, ...]]:
    unique = {str(e["event_id"]): e for e in reversed(batch)}.values()  # the first of each id
    groups = {g: _matrix(g) for g in {str(e["group_id"]) for e in unique if e["group_id"]}}
    groups |= KNOWN
    first: dict[tuple[str, str, str], datetime] = {}
    for e in _firsts(batch):
        tier = _matrix(e["group_id"]) if e["group_id"] else None
        if e["kind"] not in ("content_share", "content_view") or tier not in (
            "dealer",
            "store",
            "consumer",
        ):
            continue
        moment = datetime.fromtimestamp(int(e["ts"]) / 1000, UTC)  # type: ignore[call-overload]
        key = (str(e["content_id"]), tier, str(e["group_id"]))
        first[key] = min(first.get(key, moment), moment)
    rows: list[tuple[object, ...]] = []
    for content in sorted({c for c, _, _ in first}):
        upper: tuple[datetime | None, float] = (None, 0.0)
        for tier in ("dealer", "store", "consumer"):
            size = sum(m == tier for m in groups.values())
            moments = [t for (c, r, _), t in first.items() if c == content and r == tier]
            share = len(moments) / size if size else 0.0
            delay = ""
            if upper[0] is not None and moments:
                delay = f"{statistics.median((t - upper[0]).total_seconds() / 3600 for t in moments):.2f}"
            lost = ""
            if tier != "dealer" and upper[1] > 0:
                lost = f"{1 - share / upper[1]:.4f}"
            rows.append(
                (
                    content,
                    tier,
                    size,
                    len(moments),
                    f"{share:.4f}",
                    min(moments).isoformat() if moments else "",
                    delay,
                    lost,
                )
            )
            upper = (min(moments) if moments else None, share)
    return rows


@settings(max_examples=25, deadline=None)
@given(st.lists(events(), min_size=1, max_size=150))
def test_reach_matches_a_plain_implementation(batch: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows = reach_rows(reach(_lake(batch, folder), AS_OF, KNOWN))

    assert rows == reference_reach(batch)


# --- referral trees


def reference_referrals(batch: list[Event]) -> list[tuple[object, ...]]:
    referrals = sorted(
        (e for e in _firsts(batch) if e["kind"] == "referral"),
        key=lambda e: (int(e["ts"]), str(e["event_id"])),  # type: ignore[call-overload]
    )
    parent: dict[tuple[str, str], tuple[str, str]] = {}
    for e in referrals:
        invitee = (str(e["member_kind"]), str(e["member_id"]))
        inviter = (str(e["inviter_kind"]), str(e["inviter_id"]))
        if invitee in parent:
            continue
        chain, node = set(), inviter
        while node is not None:
            chain.add(node)
            node = parent.get(node)  # type: ignore[assignment]
        if invitee in chain:
            parent[invitee] = None  # type: ignore[assignment]  # taken, but no edge
            continue
        parent[invitee] = inviter
    edges = {k: v for k, v in parent.items() if v is not None}

    def below(member: tuple[str, str]) -> list[tuple[str, str]]:
        return [child for child, up in edges.items() if up == member]

    def total(member: tuple[str, str]) -> int:
        return sum(1 + total(child) for child in below(member))

    def depth(member: tuple[str, str]) -> int:
        return max((1 + depth(child) for child in below(member)), default=0)

    inviters = set(edges.values())
    board = sorted(inviters, key=lambda m: (-total(m), -len(below(m)), m))
    return [(rank, *m, len(below(m)), total(m), depth(m)) for rank, m in enumerate(board, start=1)]


@settings(max_examples=25, deadline=None)
@given(st.lists(events(), min_size=1, max_size=150))
def test_referral_trees_match_a_plain_implementation(batch: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows = list(referral_rows(referral_trees(first_referrals(_lake(batch, folder), AS_OF))))

    assert rows == reference_referrals(batch)

"""Deterministic, realistic activity in the demo brand's groups: the records of the event lake.

The shape follows the seeds: activity is heavy-tailed (a few core members, many lurkers who
only grab red packets), a share of groups die after their first weeks (僵尸群), the brand's
managers and director sit in groups and never speak, B2B groups are busy on weekdays and
consumer groups at weekends and in the evening, red packets make spikes, seed users and KOLs
bring in new members through referral chains (one top referrer brings well over a hundred), and
brand content travels from dealer groups to store groups to consumer groups with delays and a
loss at every hop. The same memberships, start day and seed always give the same events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

Event = dict[str, object]

HOURS = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.5, 2, 5, 8, 7, 6, 6, 7, 6, 5, 5, 5, 5, 6, 8, 10, 10, 7, 3],
    dtype=float,
)
HOURS /= HOURS.sum()
WEEKDAY = {
    "b2b": (1.0, 1.0, 1.0, 1.0, 1.0, 0.55, 0.35),
    "consumer": (0.85, 0.85, 0.9, 0.9, 1.05, 1.35, 1.25),
}
DAILY_MESSAGES = {"store": 200.0, "vip": 110.0, "dealer": 80.0, "consumer": 450.0}
STAFF_VOICE = {"rep": 3.0, "admin": 8.0, "supervisor": 0.4, "manager": 0.0, "director": 0.0}
"""How much each staff role talks, against a typical customer's 1: bosses never speak."""
MESSAGE_TYPES = ("text", "image", "video", "voice", "link", "file", "miniprogram")
MESSAGE_TYPE_SHARES = np.array([62, 16, 4, 6, 6, 1, 5], dtype=float) / 100
HEALTH_SHARES = {"lively": 0.5, "quiet": 0.25, "dormant": 0.13, "dead": 0.12}
"""Dormant groups talk for their first one to three weeks, then fall silent; in dead groups
(僵尸群) no customer ever speaks, only staff post promotions."""
HOP_REACH = {"store": 0.62, "consumer": 0.66}
"""Share of groups a piece of content reaches at the next tier (the seeds: ~30% lost a hop)."""


@dataclass
class _Group:
    group_id: str
    matrix: str
    customers: list[tuple[str, str]] = field(default_factory=list)
    staff: list[tuple[str, str]] = field(default_factory=list)
    kols: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ActivityShape:
    """What the generator made each group into (for tests and the demo's story)."""

    health: dict[str, str]
    """Group id → lively | quiet | dormant | dead, as generated."""
    top_referrer: str | None


class _Clock:
    """Stamps events in epoch milliseconds (the interface allows it; ISO text costs 10× more)."""

    def __init__(self, start: date, zone: ZoneInfo) -> None:
        self.start = start
        self.zone = zone
        self.origin = datetime(start.year, start.month, start.day, tzinfo=zone)
        self.midnights: dict[int, int] = {}

    def stamp(self, day: int, seconds: float) -> int:
        midnight = self.midnights.get(day)
        if midnight is None:
            local = self.start + timedelta(days=day)
            moment = datetime(local.year, local.month, local.day, tzinfo=self.zone)
            midnight = self.midnights[day] = int(moment.timestamp() * 1000)
        return midnight + int(seconds * 1000)


def generate_activity(
    memberships: Iterable[tuple[str, ...]],
    *,
    start: date,
    days: int = 90,
    seed: int = 20261123,
    zone: str = "Asia/Shanghai",
) -> tuple[ActivityShape, Iterator[Event]]:
    """Return the shape and the events of ``days`` days of activity, day by day.

    ``memberships`` are rows as ``qunyun plan export`` writes them: (group_id, group_name,
    matrix, territory_rep_id, member_kind, member_id, member_role).
    """
    groups: dict[str, _Group] = {}
    for group_id, _name, matrix, _rep, kind, member_id, role in memberships:
        group = groups.setdefault(group_id, _Group(group_id, matrix))
        if kind == "staff":
            group.staff.append((member_id, role))
        else:
            group.customers.append((kind, member_id))
            if role == "kol":
                group.kols.add(member_id)
    rng = np.random.default_rng(seed)
    ordered = [groups[gid] for gid in sorted(groups)]
    states = rng.choice(
        list(HEALTH_SHARES), size=len(ordered), p=list(HEALTH_SHARES.values())
    ).tolist()
    health = {group.group_id: state for group, state in zip(ordered, states, strict=True)}
    shape = ActivityShape(health, _top_referrer(ordered))
    return shape, _events(ordered, health, shape, rng, _Clock(start, ZoneInfo(zone)), days)


def _top_referrer(groups: list[_Group]) -> str | None:
    kols = sorted(kol for group in groups if group.matrix == "consumer" for kol in group.kols)
    return kols[0] if kols else None


class _Ids:
    def __init__(self) -> None:
        self.number = 0

    def __call__(self) -> str:
        self.number += 1
        return f"E{self.number:09d}"


def _events(
    groups: list[_Group],
    health: dict[str, str],
    shape: ActivityShape,
    rng: np.random.Generator,
    clock: _Clock,
    days: int,
) -> Iterator[Event]:
    next_id = _Ids()
    voices = {g.group_id: _voices(g, rng) for g in groups}
    by_id = {g.group_id: g for g in groups}
    lifetimes = {
        g.group_id: int(rng.integers(7, 21)) if health[g.group_id] == "dormant" else days
        for g in groups
    }
    trends = {g.group_id: float(rng.normal(0, 0.5)) for g in groups}
    referrals = _Referrals(groups, shape.top_referrer, rng)
    content = _Content(groups, rng, days)
    recent: dict[str, list[str]] = defaultdict(list)
    for day in range(days):
        day_events: list[tuple[float, Event]] = []
        if day == 0:
            for group in groups:
                for kind, member_id in group.customers:
                    scene = "qr" if kind == "store" else "invite"
                    day_events.append(
                        (rng.uniform(9, 11) * 3600, _join(group, kind, member_id, scene))
                    )
                for member_id, _ in group.staff:
                    day_events.append(
                        (rng.uniform(8, 9) * 3600, _join(group, "staff", member_id, "direct"))
                    )
        weekday = (clock.origin + timedelta(days=day)).weekday()
        for group in groups:
            if day >= lifetimes[group.group_id]:
                continue
            day_events.extend(
                _group_day(
                    group,
                    health[group.group_id],
                    voices[group.group_id],
                    day,
                    days,
                    weekday,
                    trends[group.group_id],
                    rng,
                )
            )
        day_events.extend(referrals.day(day, rng))
        for group_id, invitee in referrals.joined:
            by_id[group_id].customers.append(("consumer", invitee))
            voices[group_id].add(("consumer", invitee), rng)
        referrals.joined.clear()
        day_events.extend(content.day(day, rng))
        day_events.sort(key=lambda pair: pair[0])
        for seconds, record in day_events:
            record["event_id"] = next_id()
            record["ts"] = clock.stamp(day, min(seconds, 86_399))
            if record["kind"] == "message":
                earlier = recent[str(record["group_id"])]
                if earlier and rng.random() < 0.15:  # a reply to one of the last messages
                    record["reply_to"] = earlier[int(rng.integers(len(earlier)))]
                earlier.append(str(record["event_id"]))
                del earlier[:-20]
            yield record


def _join(group: _Group, kind: str, member_id: str, scene: str) -> Event:
    return {
        "kind": "join",
        "group_id": group.group_id,
        "member_kind": kind,
        "member_id": member_id,
        "scene": scene,
    }


@dataclass
class _Voices:
    members: list[tuple[str, str]]
    raw: np.ndarray
    staff_raw: np.ndarray
    weights: np.ndarray = field(init=False)
    staff_only: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.weights, self.staff_only = _normal(self.raw), _normal(self.staff_raw)

    def add(self, member: tuple[str, str], rng: np.random.Generator) -> None:
        """Seat a newcomer: heavy-tailed like the others, lurking as often."""
        weight = 0.0 if rng.random() < 0.45 else float(rng.pareto(1.3) + 0.05)
        self.members.append(member)
        self.raw = np.append(self.raw, weight)
        self.staff_raw = np.append(self.staff_raw, 0.0)
        self.__post_init__()


def _voices(group: _Group, rng: np.random.Generator) -> _Voices:
    """Return who talks in a group and how much: heavy-tailed customers, lurkers, quiet bosses."""
    members = list(group.customers)
    weights = rng.pareto(1.3, size=len(members)) + 0.05
    weights[rng.random(len(members)) < 0.45] = 0.0  # lurkers: in the group, never a word
    for index, (_, member_id) in enumerate(members):
        if member_id in group.kols:
            weights[index] = max(weights[index], 1.0) * 5
    staff_weights = [STAFF_VOICE.get(role, 0.0) for _, role in group.staff]
    members += [("staff", member_id) for member_id, _ in group.staff]
    everyone = np.concatenate([weights, np.array(staff_weights, dtype=float)])
    staff_only = np.concatenate([np.zeros(len(weights)), np.array(staff_weights, dtype=float)])
    return _Voices(members, everyone, staff_only)


def _normal(weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    return weights / total if total else weights


def _group_day(
    group: _Group,
    state: str,
    voices: _Voices,
    day: int,
    days: int,
    weekday: int,
    trend: float,
    rng: np.random.Generator,
) -> list[tuple[float, Event]]:
    rhythm = WEEKDAY["consumer" if group.matrix == "consumer" else "b2b"][weekday]
    level = {"lively": 1.0, "quiet": 0.0015, "dormant": 0.8, "dead": 0.02}
    expected = DAILY_MESSAGES[group.matrix] * level[state] * rhythm * np.exp(trend * day / days)
    expected *= min(1.0, (len(voices.members) / 120) ** 0.5)
    events: list[tuple[float, Event]] = []
    if not voices.weights.any():
        return events
    count = int(rng.poisson(expected))
    weights = voices.staff_only if state == "dead" else voices.weights
    if not weights.any():
        return events
    speakers = rng.choice(len(voices.members), size=count, p=weights)
    times = _times(count, rng)
    kinds = rng.choice(len(MESSAGE_TYPES), size=count, p=MESSAGE_TYPE_SHARES)
    lengths = rng.geometric(1 / 24, size=count)
    for speaker, moment, kind, length in zip(speakers, times, kinds, lengths, strict=True):
        member_kind, member_id = voices.members[speaker]
        record: Event = {
            "kind": "message",
            "group_id": group.group_id,
            "member_kind": member_kind,
            "member_id": member_id,
            "msg_type": MESSAGE_TYPES[kind],
            "length": int(length) if MESSAGE_TYPES[kind] == "text" else 0,
        }
        events.append((moment, record))
    if state in ("lively", "quiet") and rng.random() < 0.08:
        events.extend(_red_packet(group, day, rng))
    events.extend(_orders(group, state, rng))
    return events


def _times(count: int, rng: np.random.Generator) -> np.ndarray:
    hours = rng.choice(24, size=count, p=HOURS)
    return hours * 3600 + rng.uniform(0, 3600, size=count)


def _red_packet(group: _Group, day: int, rng: np.random.Generator) -> list[tuple[float, Event]]:
    """Return a red packet sent at about 20:00 and its grabs: lurkers come out for these."""
    senders = [member_id for member_id, role in group.staff if role in ("admin", "rep")]
    if not senders or not group.customers:
        return []
    sender = senders[int(rng.integers(len(senders)))]
    count = min(len(group.customers), int(rng.integers(10, 31)))
    total = int(rng.integers(count * 20, count * 200))
    packet = f"RP-{group.group_id}-{day:03d}"
    at = 20 * 3600 + float(rng.uniform(0, 1800))
    events: list[tuple[float, Event]] = [
        (
            at,
            {
                "kind": "red_packet_send",
                "group_id": group.group_id,
                "member_kind": "staff",
                "member_id": sender,
                "red_packet_id": packet,
                "amount_fen": total,
            },
        )
    ]
    cuts = (
        np.sort(rng.choice(np.arange(1, total - count + 1), size=count - 1, replace=False))
        if count > 1
        else np.array([], dtype=int)
    )
    shares = np.diff(np.concatenate([[0], cuts, [total - count]])) + 1
    grabbers = rng.choice(len(group.customers), size=count, replace=False)
    delays = np.sort(rng.exponential(90, size=count))
    for grabber, share, delay in zip(grabbers, shares, delays, strict=True):
        kind, member_id = group.customers[grabber]
        events.append(
            (
                at + 2 + float(delay),
                {
                    "kind": "red_packet_grab",
                    "group_id": group.group_id,
                    "member_kind": kind,
                    "member_id": member_id,
                    "red_packet_id": packet,
                    "amount_fen": int(share),
                },
            )
        )
        if rng.random() < 0.5:  # thanks and stickers: the spike after a red packet
            events.append(
                (
                    at + 30 + float(delay),
                    {
                        "kind": "message",
                        "group_id": group.group_id,
                        "member_kind": kind,
                        "member_id": member_id,
                        "msg_type": "text",
                        "length": int(rng.integers(2, 12)),
                    },
                )
            )
    return events


def _orders(group: _Group, state: str, rng: np.random.Generator) -> list[tuple[float, Event]]:
    if state in ("dead", "dormant") or not group.customers:
        return []
    chance = {"store": 0.02, "vip": 0.05, "dealer": 0.03, "consumer": 0.006}[group.matrix]
    chance *= 1.0 if state == "lively" else 0.4
    buyers = np.flatnonzero(rng.random(len(group.customers)) < chance)
    low, high = (3_000, 30_000) if group.matrix == "consumer" else (200_000, 5_000_000)
    events = []
    for buyer in buyers:
        kind, member_id = group.customers[buyer]
        events.append(
            (
                float(rng.uniform(8, 22) * 3600),
                {
                    "kind": "order",
                    "group_id": group.group_id,
                    "member_kind": kind,
                    "member_id": member_id,
                    "order_id": f"O-{group.group_id}-{member_id}-{int(rng.integers(1 << 40)):x}",
                    "amount_fen": int(rng.integers(low, high)),
                },
            )
        )
    return events


class _Referrals:
    """Seed users and KOLs invite new consumers, who invite others in turn (referral chains)."""

    def __init__(self, groups: list[_Group], top: str | None, rng: np.random.Generator) -> None:
        self.groups = [g for g in groups if g.matrix == "consumer" and g.customers]
        self.inviters: list[tuple[str, str]] = []  # (member id, group id)
        self.weights: list[float] = []
        for group in self.groups:
            for kind, member_id in group.customers:
                if kind != "consumer":
                    continue
                self.inviters.append((member_id, group.group_id))
                weight = 4.0 if member_id in group.kols else float(rng.pareto(1.5) * 0.2)
                self.weights.append(weight * (70 if member_id == top else 1))
        self.number = 0
        self.joined: list[tuple[str, str]] = []
        """(group id, invitee) of the day: they take part from the next day on."""

    def day(self, day: int, rng: np.random.Generator) -> list[tuple[float, Event]]:
        if not self.inviters or day == 0:
            return []
        total = sum(self.weights)
        count = int(rng.poisson(len(self.inviters) * 0.006))
        if not total or not count:
            return []
        chosen = rng.choice(len(self.inviters), size=count, p=np.array(self.weights) / total)
        events: list[tuple[float, Event]] = []
        for index in chosen.tolist():
            inviter, group_id = self.inviters[index]
            self.number += 1
            invitee = f"NC{self.number:07d}"
            at = float(rng.uniform(9, 23) * 3600)
            events.append(
                (
                    at,
                    {
                        "kind": "join",
                        "group_id": group_id,
                        "member_kind": "consumer",
                        "member_id": invitee,
                        "scene": "invite",
                        "inviter_kind": "consumer",
                        "inviter_id": inviter,
                    },
                )
            )
            events.append(
                (
                    at + 1,
                    {
                        "kind": "referral",
                        "group_id": group_id,
                        "member_kind": "consumer",
                        "member_id": invitee,
                        "inviter_kind": "consumer",
                        "inviter_id": inviter,
                    },
                )
            )
            self.inviters.append((invitee, group_id))
            self.joined.append((group_id, invitee))
            self.weights.append(float(rng.pareto(1.5) * 0.1))
        return events


class _Content:
    """Brand content released weekly into dealer groups and passed down, losing reach a hop."""

    def __init__(self, groups: list[_Group], rng: np.random.Generator, days: int) -> None:
        self.by_matrix: dict[str, list[_Group]] = defaultdict(list)
        for group in groups:
            self.by_matrix[group.matrix].append(group)
        self.schedule: dict[int, list[tuple[float, Event]]] = defaultdict(list)
        for number, release in enumerate(range(2, days, 7), start=1):
            self._plan(f"C{number:03d}", release, rng)

    def _plan(self, content_id: str, release: int, rng: np.random.Generator) -> None:
        moment = release * 86_400 + 10 * 3600.0
        reached = [
            (g, moment + float(rng.exponential(3600)))
            for g in self.by_matrix["dealer"]
            if rng.random() < 0.9
        ]
        delays = {"store": 18 * 3600.0, "consumer": 6 * 3600.0}
        for tier in ("dealer", "store", "consumer"):
            if tier != "dealer":
                share = HOP_REACH[tier] * len(reached) / max(len(self.by_matrix[_above(tier)]), 1)
                start = float(np.median([t for _, t in reached])) if reached else moment
                reached = [
                    (g, start + float(rng.exponential(delays[tier])))
                    for g in self.by_matrix[tier]
                    if rng.random() < share
                ]
            for group, at in reached:
                self._share(group, content_id, at, rng)

    def _share(self, group: _Group, content_id: str, at: float, rng: np.random.Generator) -> None:
        sharers = [m for m, role in group.staff if role in ("admin", "rep")]
        if not sharers:
            return
        sharer = sharers[int(rng.integers(len(sharers)))]
        self._add(at, "content_share", group, "staff", sharer, content_id)
        for kind, member_id in group.customers:
            if rng.random() < 0.35:
                self._add(
                    at + float(rng.exponential(5400)),
                    "content_view",
                    group,
                    kind,
                    member_id,
                    content_id,
                )

    def _add(
        self,
        at: float,
        kind: str,
        group: _Group,
        member_kind: str,
        member_id: str,
        content_id: str,
    ) -> None:
        day, seconds = divmod(at, 86_400)
        self.schedule[int(day)].append(
            (
                seconds,
                {
                    "kind": kind,
                    "group_id": group.group_id,
                    "member_kind": member_kind,
                    "member_id": member_id,
                    "content_id": content_id,
                },
            )
        )

    def day(self, day: int, rng: np.random.Generator) -> list[tuple[float, Event]]:
        return self.schedule.pop(day, [])


def _above(tier: str) -> str:
    return {"store": "dealer", "consumer": "store"}[tier]

"""The demo's generated activity has the shape the seeds describe, deterministically."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from qunyun.demo.activity import ActivityShape, generate_activity

KINDS = {
    "message",
    "join",
    "leave",
    "red_packet_send",
    "red_packet_grab",
    "order",
    "referral",
    "content_view",
    "content_share",
}


def _matrix() -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    staff = [("R1", "rep"), ("S1", "supervisor"), ("M1", "manager"), ("A1", "admin")]
    for number in range(1, 13):
        gid = f"SG{number:05d}"
        rows += [
            (gid, "", "store", "R1", "store", f"ST{number:02d}{m:03d}", "customer")
            for m in range(150)
        ]
        rows += [(gid, "", "store", "R1", "staff", sid, role) for sid, role in staff]
    for number in range(1, 5):
        gid = f"DG{number:05d}"
        rows += [
            (gid, "", "dealer", "", "distributor", f"D{number}{m:02d}", "customer")
            for m in range(20)
        ]
        rows += [
            (gid, "", "dealer", "", "staff", sid, role)
            for sid, role in (("M1", "manager"), ("D0001", "director"), ("A1", "admin"))
        ]
    for number in range(1, 7):
        gid = f"CG{number:05d}"
        rows += [
            (
                gid,
                "",
                "consumer",
                "",
                "consumer",
                f"CU{number}{m:03d}",
                "kol" if m < 3 else "customer",
            )
            for m in range(180)
        ]
        rows += [
            (gid, "", "consumer", "", "staff", sid, role)
            for sid, role in (("M1", "manager"), ("A1", "admin"))
        ]
    return rows


def _events(days: int = 40, seed: int = 3) -> tuple[ActivityShape, list[dict[str, object]]]:
    shape, events = generate_activity(_matrix(), start=date(2026, 9, 1), days=days, seed=seed)
    return shape, list(events)


def test_the_same_seed_gives_the_same_events_and_another_does_not() -> None:
    assert _events(days=10)[1] == _events(days=10)[1]
    assert _events(days=10)[1] != _events(days=10, seed=4)[1]


def test_every_event_is_a_valid_record_with_a_unique_id_within_the_days() -> None:
    _, events = _events()

    ids = [event["event_id"] for event in events]
    assert len(set(ids)) == len(ids)
    assert {event["kind"] for event in events} <= KINDS
    for event in events:
        assert isinstance(event["ts"], int)  # epoch milliseconds
        assert event["member_kind"] in {"store", "distributor", "consumer", "staff"}
        assert event["member_id"]
    stamps = [int(str(event["ts"])) for event in events]
    assert stamps == sorted(stamps)
    first = datetime.fromtimestamp(stamps[0] / 1000, ZoneInfo("Asia/Shanghai"))
    last = datetime.fromtimestamp(stamps[-1] / 1000, ZoneInfo("Asia/Shanghai"))
    assert (first.date(), last.date()) == (date(2026, 9, 1), date(2026, 10, 10))


def test_bosses_never_speak_dormant_groups_fall_silent_and_dead_ones_never_talk() -> None:
    shape, events = _events()

    speakers = {e["member_id"] for e in events if e["kind"] == "message"}
    assert {"M1", "D0001"} & speakers == set()
    assert {"A1", "R1"} <= speakers
    dormant = {gid for gid, state in shape.health.items() if state == "dormant"}
    dead = {gid for gid, state in shape.health.items() if state == "dead"}
    last_message: dict[str, int] = {}
    for event in events:
        if event["kind"] == "message":
            last_message[str(event["group_id"])] = int(str(event["ts"]))
    cutoff = datetime(2026, 9, 22, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000
    assert dormant
    assert dead
    assert all(0 < last_message[gid] < cutoff for gid in dormant)
    customers_talking = {
        e["group_id"] for e in events if e["kind"] == "message" and e["member_kind"] != "staff"
    }
    assert dead & customers_talking == set()
    assert dead <= {e["group_id"] for e in events if e["kind"] == "message"}  # staff still post


def test_red_packets_add_up_and_lurkers_come_out_for_them() -> None:
    _, events = _events()

    sent = {e["red_packet_id"]: e["amount_fen"] for e in events if e["kind"] == "red_packet_send"}
    grabbed: dict[object, list[int]] = defaultdict(list)
    for event in events:
        if event["kind"] == "red_packet_grab":
            grabbed[event["red_packet_id"]].append(int(str(event["amount_fen"])))
    assert sent
    assert {packet: sum(shares) for packet, shares in grabbed.items()} == sent
    assert all(min(shares) >= 1 for shares in grabbed.values())
    talkers = {e["member_id"] for e in events if e["kind"] == "message"}
    grabbers = {e["member_id"] for e in events if e["kind"] == "red_packet_grab"}
    assert grabbers - talkers


def test_content_loses_reach_at_every_hop_and_referrals_have_a_top_referrer() -> None:
    shape, events = _events(days=90)

    reached: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event["kind"] == "content_share":
            reached[str(event["group_id"])[:2]].add(str(event["group_id"]))
    shares = Counter(str(e["group_id"])[:2] for e in events if e["kind"] == "content_share")
    pieces = len({e["content_id"] for e in events if e["kind"] == "content_share"})
    dealer, store, consumer = (
        shares[prefix] / total / pieces for prefix, total in (("DG", 4), ("SG", 12), ("CG", 6))
    )
    assert dealer > store > consumer > 0
    invites = Counter(e["inviter_id"] for e in events if e["kind"] == "referral")
    top, most = invites.most_common(1)[0]
    assert top == shape.top_referrer
    assert most > 3 * sorted(invites.values())[-2]
    joined = {e["member_id"] for e in events if e["kind"] == "join"}
    invitees = {e["member_id"] for e in events if e["kind"] == "referral"}
    assert invitees <= joined
    # invitees take part like everybody else: some of them speak
    assert invitees & {e["member_id"] for e in events if e["kind"] == "message"}

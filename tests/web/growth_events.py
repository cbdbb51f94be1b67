"""A small known week of events on the demo brand (300 stores) for the growth pages.

Rep R0001's store group SG000001, rep R0002's SG000002 (Guangdong, manager M01's region),
rep R0004's SG000004 (Zhejiang), consumer groups CG000005 (Guangdong) and CG000001
(Zhejiang), dealer group DG000001 (Guangdong). Mondays: 11-02, 11-09, 11-16, 11-23 (the
last day). Stores: ``OWN`` (R0001, in no VIP group), ``OTHER`` (R0002, in VIP group
VG000003), ``FAR`` (R0004).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import Cli

OWN, OTHER, FAR = "ST0000017", "ST0000148", "ST0000010"
OWN_GROUP, OTHER_GROUP, FAR_GROUP = "SG000001", "SG000002", "SG000004"
CONSUMERS, FAR_CONSUMERS, DEALERS = "CG000005", "CG000001", "DG000001"
ORDER_FEN = 12345


def _event(number: int, ts: str, kind: str, group: str, kind_id: str, **extra: object) -> dict:  # type: ignore[type-arg]
    member_kind, member_id = kind_id.split(":")
    return {
        "event_id": f"g{number:03d}",
        "ts": f"2026-11-{ts}+08:00",
        "kind": kind,
        "group_id": group,
        "member_kind": member_kind,
        "member_id": member_id,
        **extra,
    }


def _referral(number: int, ts: str, group: str, invitee: str, inviter: str) -> dict:  # type: ignore[type-arg]
    inviter_kind, inviter_id = inviter.split(":")
    return _event(
        number, ts, "referral", group, invitee, inviter_kind=inviter_kind, inviter_id=inviter_id
    )


def _talk(start: int, store: str, group: str) -> list[dict]:  # type: ignore[type-arg]
    """Six messages of a store on the last day (a score of 6: an active member)."""
    return [
        _event(start + hour, f"23T{9 + hour:02d}:00:00", "message", group, f"store:{store}")
        for hour in range(6)
    ]


def growth_events() -> list[dict]:  # type: ignore[type-arg]
    """Return the events (see the module's docstring for who is who)."""
    own, other, far = f"store:{OWN}", f"store:{OTHER}", f"store:{FAR}"
    return [
        _event(1, "02T10:00:00", "join", OWN_GROUP, own),
        _event(2, "03T10:00:00", "message", OWN_GROUP, own),
        *_talk(3, OWN, OWN_GROUP),
        _event(9, "23T15:00:00", "order", OWN_GROUP, own, order_id="O1", amount_fen=ORDER_FEN),
        _event(10, "10T10:00:00", "join", OWN_GROUP, "consumer:N1"),
        _referral(11, "10T10:00:01", OWN_GROUP, "consumer:N1", "store:" + OWN),
        _event(12, "17T10:00:00", "join", OTHER_GROUP, other),
        *_talk(13, OTHER, OTHER_GROUP),
        _event(19, "09T10:00:00", "join", FAR_GROUP, far),
        *_talk(20, FAR, FAR_GROUP),
        _event(26, "05T10:00:00", "join", CONSUMERS, "consumer:CU0000006"),
        _event(27, "06T10:00:00", "message", CONSUMERS, "consumer:CU0000006"),
        _event(28, "12T10:00:00", "join", CONSUMERS, "consumer:N2"),
        _referral(29, "12T10:00:01", CONSUMERS, "consumer:N2", "consumer:CU0000006"),
        _event(30, "14T10:00:00", "join", CONSUMERS, "consumer:N3"),
        _referral(31, "14T10:00:01", CONSUMERS, "consumer:N3", "consumer:N2"),
        _event(32, "15T10:00:00", "join", FAR_CONSUMERS, "consumer:N4"),
        _referral(33, "15T10:00:01", FAR_CONSUMERS, "consumer:N4", "consumer:CU0000012"),
        _event(34, "04T10:00:00", "content_share", DEALERS, "staff:A01", content_id="C1"),
        _event(35, "05T04:00:00", "content_view", OWN_GROUP, "store:ST0000074", content_id="C1"),
        _event(36, "05T10:00:00", "content_share", OTHER_GROUP, "staff:R0002", content_id="C1"),
        _event(37, "06T10:00:00", "content_view", CONSUMERS, "consumer:CU0000042", content_id="C1"),
    ]


def import_growth_events(cli: Cli, folder: Path) -> None:
    """Import the events through ``qunyun events import`` (the public import action)."""
    path = folder / "growth-events.jsonl"
    path.write_text(
        "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in growth_events()),
        encoding="utf-8",
    )
    result = cli("events", "import", path, "--tenant", "demo")
    assert "新增 37 · 重复 0 · 拒绝 0" in result.output, result.output

"""The event record: field names (the interface), kinds and the columns of the lake."""

from __future__ import annotations

import pyarrow as pa

EVENT_KINDS = (
    "message",
    "join",
    "leave",
    "red_packet_send",
    "red_packet_grab",
    "order",
    "referral",
    "content_view",
    "content_share",
)
MEMBER_KINDS = ("store", "distributor", "consumer", "staff")
MESSAGE_TYPES = ("text", "image", "video", "voice", "link", "file", "miniprogram", "red_packet")
JOIN_SCENES = ("qr", "invite", "direct")

TEXT_FIELDS = (
    "event_id",
    "kind",
    "group_id",
    "member_kind",
    "member_id",
    "msg_type",
    "reply_to",
    "scene",
    "inviter_kind",
    "inviter_id",
    "red_packet_id",
    "order_id",
    "content_id",
)
CODED_FIELDS = ("kind", "group_id", "member_kind", "msg_type", "scene", "inviter_kind")
"""Text fields whose values repeat from event to event: read, checked and kept as Arrow
dictionaries (codes into the distinct values), so that each distinct value is trimmed,
checked and hashed once rather than once per event."""
CODED = pa.dictionary(pa.int32(), pa.string())

INTEGER_FIELDS = ("length", "amount_fen")
FIELDS = ("event_id", "ts", *TEXT_FIELDS[1:], *INTEGER_FIELDS)
"""Every field an event record may carry; other fields are ignored."""

REQUIRED_FIELDS = ("event_id", "ts", "kind", "member_kind", "member_id")
"""Fields every event must have; a file without one of these columns is refused whole."""

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "red_packet_send": ("red_packet_id",),
    "red_packet_grab": ("red_packet_id",),
    "order": ("order_id",),
    "referral": ("inviter_kind", "inviter_id"),
    "content_view": ("content_id",),
    "content_share": ("content_id",),
}
"""Fields an event of a kind must have besides the required ones."""

MAX_ID_LENGTH = 128
"""Longest id (event, member, group, order …) an event may carry."""

EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
"""Times outside [2000, 2100) are refused: usually epoch seconds sent as milliseconds."""

TIMESTAMP = pa.timestamp("ms", tz="UTC")

INCOMING_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("event_id", pa.string()),
        ("ts", TIMESTAMP),
        ("day", pa.date32()),
        *((name, CODED if name in CODED_FIELDS else pa.string()) for name in TEXT_FIELDS[1:]),
        ("length", pa.int64()),
        ("amount_fen", pa.int64()),
    ]
)
"""Validated events before deduplication: ``seq`` is their order of arrival in the batch."""

LAKE_COLUMNS = (
    "event_id",
    "ts",
    "day",
    "kind",
    "group_key",
    "group_id",
    "member_key",
    "member_kind",
    "member_id",
    "msg_type",
    "length",
    "reply_to",
    "scene",
    "inviter_key",
    "inviter_kind",
    "inviter_id",
    "red_packet_id",
    "amount_fen",
    "order_id",
    "content_id",
)
"""Columns of the lake's event files: the record plus dense keys of group, member, inviter."""

KIND_COUNTS = {
    "message": "messages",
    "join": "joins",
    "leave": "leaves",
    "red_packet_send": "red_packet_sends",
    "red_packet_grab": "red_packet_grabs",
    "order": "orders",
    "referral": "referrals",
    "content_view": "content_views",
    "content_share": "content_shares",
}
"""The member-daily rollup's count column of each event kind."""

MEMBER_DAILY_COLUMNS = ("day", "group_key", "member_key", "is_staff", *KIND_COUNTS.values())
"""Columns of the member-daily rollup: one row per local day, group (or none) and member."""

"""Lucky draws (抽奖) that members can verify: the seed is committed first and revealed after.

When an operator opens a draw, a secret seed is drawn and only its SHA-256 hash is shown;
members enter (current members of the group, once each) and each entry gets a random public
ticket. After entries close the seed is revealed and the winners follow from the seed and the
entry list alone, so that anyone can recompute them (``qunyun draw verify``, or the few lines
of Python in the README):

1. ``seed_hash == sha256(seed)`` — the seed's 64 ASCII hex characters, hashed, as hex;
2. every ticket scores ``sha256(f"{seed}:{ticket}")`` (hex); the tickets sorted by
   (score, ticket) are the draw order;
3. the first ``min(winners, entries)`` tickets of that order win, rank 1, 2, …; rank ``r``
   receives the ``r``-th prize.

The result is a pure function of the seed and the set of tickets (their order does not
matter), and the operator cannot re-roll it after seeing the entries: a different seed does
not match the committed hash. What the commitment cannot rule out is an operator who knows
the seed adding entries of their own; the verification data therefore lists every ticket
and a digest of the sorted list, and each member sees their own ticket on the H5 page.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qunyun.activation.common import require_member, upsert
from qunyun.activation.errors import ActivationConflict, Ended, NotStarted
from qunyun.activation.models import DrawStatus, LuckyDraw, LuckyDrawEntry, LuckyDrawPrize
from qunyun.channel.models import ContactKind
from qunyun.core.clock import format_local, utcnow
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.models import Group
from qunyun.groups.queries import groups_of_member
from qunyun.org.models import Tenant

MAX_WINNERS = 1_000
SEED = re.compile(r"^[0-9a-f]{64}$")
TICKET_BYTES = 6
"""A ticket is 12 hex characters: a collision in one draw is retried, never shared."""
TICKET_ATTEMPTS = 8

ALGORITHM = (
    "seed_hash = sha256(seed); score(t) = sha256(seed + ':' + t); "
    "order = tickets sorted by (score, ticket); winners = order[:min(winners, len(tickets))]"
)
"""The draw algorithm in one line, as the verification data states it."""


class AlreadyEntered(ActivationConflict):
    """The member has entered this draw already."""

    code = "already_entered"


class AlreadyDrawn(ActivationConflict):
    """The draw's winners are drawn already."""

    code = "already_drawn"


class EntriesOpen(ActivationConflict):
    """The draw still takes entries: its seed may not be revealed yet."""

    code = "not_closed"


# --- the algorithm (pure) ------------------------------------------------------------------


def seed_commitment(seed: str) -> str:
    """Return the hex SHA-256 of the seed's characters: what members see before the reveal."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def ticket_score(seed: str, ticket: str) -> str:
    """Return a ticket's hex score under a seed (lower draws first)."""
    return hashlib.sha256(f"{seed}:{ticket}".encode()).hexdigest()


def draw_order(seed: str, tickets: Iterable[str]) -> list[str]:
    """Return every ticket in draw order: by score, ties (never seen) by the ticket itself."""
    return sorted(set(tickets), key=lambda ticket: (ticket_score(seed, ticket), ticket))


def draw_winners(seed: str, tickets: Iterable[str], winners: int) -> list[str]:
    """Return the winning tickets, rank 1 first: the first ``winners`` of the draw order."""
    return draw_order(seed, tickets)[:winners]


def entries_digest(tickets: Iterable[str]) -> str:
    """Return the hex SHA-256 of the sorted tickets, one per line: a fingerprint of the list."""
    return hashlib.sha256("\n".join(sorted(set(tickets))).encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    """What anyone may see of a draw, and all that recomputing its winners needs."""

    draw_id: int
    title: str
    status: str
    """``open`` (taking entries), ``closed`` (waiting for the reveal) or ``drawn``."""
    winners: int
    prizes: list[str]
    entries_close_at: datetime
    seed_hash: str
    seed: str | None
    tickets: list[str]
    entries_digest: str
    results: list[tuple[int, str, str]]
    """(rank, ticket, prize) of every winner, once drawn."""


def check_verification(data: Verification) -> list[str]:
    """Return what does not hold in a draw's published data (empty when it verifies).

    Checks that the seed matches the committed hash, that the tickets match their digest and
    that the published winners are exactly the ones the algorithm gives.
    """
    if data.seed is None:
        return ["尚未开奖：种子还未公布，无法验证"]
    problems = []
    if seed_commitment(data.seed) != data.seed_hash:
        problems.append("种子的 SHA-256 与开奖前公布的承诺哈希不一致")
    if entries_digest(data.tickets) != data.entries_digest:
        problems.append("报名票号列表与其摘要不一致")
    expected = draw_winners(data.seed, data.tickets, data.winners)
    published = [ticket for _, ticket, _ in sorted(data.results)]
    if published != expected:
        problems.append(f"公布的中奖票号 {published} 与按种子重新计算的 {expected} 不一致")
    return problems


# --- actions ---------------------------------------------------------------------------------


def check_open_draw(
    title: str,
    prizes: Sequence[str],
    winners: int | None,
    entries_close_at: datetime,
    entries_open_at: datetime | None,
    when: datetime,
    seed: str | None,
) -> int:
    """Validate a new draw and return its number of winners; raise InvalidInput naming the field."""
    if not title.strip() or len(title) > 200:
        raise InvalidInput("title：抽奖标题不能为空，最长 200 字")
    if any(not prize.strip() or len(prize) > 200 for prize in prizes):
        raise InvalidInput("prizes：奖品名称不能为空，最长 200 字")
    if prizes and winners is not None and winners != len(prizes):
        raise InvalidInput(f"winners：中奖人数 {winners} 与奖品数 {len(prizes)} 不一致")
    count = len(prizes) if prizes else winners
    if count is None:
        raise InvalidInput("prizes / winners：请给出奖品列表或中奖人数")
    if not 1 <= count <= MAX_WINNERS:
        raise InvalidInput(f"winners：中奖人数应在 1–{MAX_WINNERS} 之间（收到 {count}）")
    opens = entries_open_at or when
    if entries_close_at <= max(opens, when):
        raise InvalidInput("entries_close_at：报名截止时间应晚于现在和报名开始时间")
    if seed is not None and SEED.match(seed) is None:
        raise InvalidInput("seed：种子应为 64 位小写十六进制")
    return count


def do_open_draw(
    session: Session,
    tenant: Tenant,
    group_id: str,
    title: str,
    entries_close_at: datetime,
    *,
    prizes: Sequence[str] = (),
    winners: int | None = None,
    entries_open_at: datetime | None = None,
    when: datetime | None = None,
    seed: str | None = None,
) -> LuckyDraw:
    """Open a draw in a group with a fresh secret seed; its hash is the public commitment.

    ``seed`` is for tests and replays only (an operator who picks it could rig the draw).
    Raise NotFound for an unknown or archived group and InvalidInput for a bad field.
    """
    when = when or utcnow()
    group = session.get(Group, (tenant.id, group_id))
    if group is None or group.archived_at is not None:
        raise NotFound(f"没有社群 {group_id}")
    count = check_open_draw(title, prizes, winners, entries_close_at, entries_open_at, when, seed)
    secret = seed or secrets.token_hex(32)
    draw = LuckyDraw(
        tenant_id=tenant.id,
        group_id=group_id,
        title=title.strip(),
        winners=count,
        seed_hash=seed_commitment(secret),
        seed=secret,
        status=DrawStatus.OPEN,
        entries_open_at=entries_open_at,
        entries_close_at=entries_close_at,
        created_at=when,
    )
    session.add(draw)
    session.flush()
    session.add_all(
        LuckyDrawPrize(draw_id=draw.id, rank=rank, tenant_id=tenant.id, name=name.strip())
        for rank, name in enumerate(prizes, start=1)
    )
    session.flush()
    return draw


def _draw(
    session: Session, tenant: Tenant, draw_id: int, *, shared_lock: bool = False
) -> LuckyDraw:
    query = select(LuckyDraw).where(LuckyDraw.id == draw_id, LuckyDraw.tenant_id == tenant.id)
    if shared_lock:
        query = query.with_for_update(read=True)
    draw = session.scalar(query)
    if draw is None:
        raise NotFound(f"没有抽奖 {draw_id}")
    return draw


def do_enter_draw(
    session: Session,
    tenant: Tenant,
    draw_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
) -> str:
    """Enter a member in a draw and return the entry's public ticket.

    Holds a shared lock on the draw row (PostgreSQL), so that a close or reveal waits for
    entries in flight and no entry lands after the winners are drawn. Raise NotFound when the
    draw is not the tenant's or the member is not in its group now, NotStarted before the
    entry window, Ended after it, and AlreadyEntered for a second entry.
    """
    when = when or utcnow()
    draw = _draw(session, tenant, draw_id, shared_lock=True)
    require_member(session, tenant, draw.group_id, member_kind, member_id, f"抽奖 {draw_id}")
    if draw.entries_open_at is not None and when < draw.entries_open_at:
        raise NotStarted(f"抽奖 {draw_id} 尚未开始报名")
    if draw.status is DrawStatus.DRAWN or when >= draw.entries_close_at:
        raise Ended(f"抽奖 {draw_id} 已截止报名")
    for _attempt in range(TICKET_ATTEMPTS):
        ticket = secrets.token_hex(TICKET_BYTES)
        inserted = session.execute(
            upsert(session, LuckyDrawEntry)
            .values(
                draw_id=draw_id,
                member_kind=member_kind,
                member_id=member_id,
                tenant_id=tenant.id,
                entered_at=when,
                ticket=ticket,
            )
            .on_conflict_do_nothing()
            .returning(LuckyDrawEntry.ticket)
        ).scalar()
        if inserted is not None:
            return str(inserted)
        if _ticket_of(session, draw_id, member_kind, member_id) is not None:
            raise AlreadyEntered(f"{member_id} 已参加抽奖 {draw_id}")
        # else the random ticket was someone else's: draw another one
    raise Conflict(f"抽奖 {draw_id} 暂时无法分配票号，请重试")


def _ticket_of(
    session: Session, draw_id: int, member_kind: ContactKind, member_id: str
) -> str | None:
    return session.scalar(
        select(LuckyDrawEntry.ticket).where(
            LuckyDrawEntry.draw_id == draw_id,
            LuckyDrawEntry.member_kind == member_kind,
            LuckyDrawEntry.member_id == member_id,
        )
    )


def do_close_draw(
    session: Session, tenant: Tenant, draw_id: int, *, when: datetime | None = None
) -> LuckyDraw:
    """Close a draw's entries now (a draw already closed stays as it is).

    Raise NotFound when the draw is not the tenant's and AlreadyDrawn once it is drawn.
    """
    when = when or utcnow()
    session.execute(
        update(LuckyDraw)
        .where(
            LuckyDraw.id == draw_id,
            LuckyDraw.tenant_id == tenant.id,
            LuckyDraw.status == DrawStatus.OPEN,
            LuckyDraw.entries_close_at > when,
        )
        .values(entries_close_at=when)
    )
    draw = _draw(session, tenant, draw_id)
    session.refresh(draw)
    if draw.status is DrawStatus.DRAWN:
        raise AlreadyDrawn(f"抽奖 {draw_id} 已开奖")
    return draw


def do_reveal_draw(
    session: Session, tenant: Tenant, draw_id: int, *, when: datetime | None = None
) -> list[tuple[int, ContactKind, str, str]]:
    """Reveal the seed of a closed draw and rank its winners; return (rank, kind, id, ticket).

    Raise NotFound when the draw is not the tenant's, EntriesOpen before entries close and
    AlreadyDrawn when it was revealed before.
    """
    when = when or utcnow()
    revealed = session.execute(
        update(LuckyDraw)
        .where(
            LuckyDraw.id == draw_id,
            LuckyDraw.tenant_id == tenant.id,
            LuckyDraw.status == DrawStatus.OPEN,
            LuckyDraw.entries_close_at <= when,
        )
        .values(status=DrawStatus.DRAWN, drawn_at=when)
        .returning(LuckyDraw.seed, LuckyDraw.winners)
    ).first()
    if revealed is None:
        draw = _draw(session, tenant, draw_id)
        session.refresh(draw)
        if draw.status is DrawStatus.DRAWN:
            raise AlreadyDrawn(f"抽奖 {draw_id} 已开奖")
        closes = format_local(draw.entries_close_at, tenant.timezone)
        raise EntriesOpen(f"抽奖 {draw_id} 报名尚未截止（{closes} 截止），不能开奖")
    seed, winners = revealed
    entries = {
        ticket: (kind, member)
        for ticket, kind, member in session.execute(
            select(
                LuckyDrawEntry.ticket, LuckyDrawEntry.member_kind, LuckyDrawEntry.member_id
            ).where(LuckyDrawEntry.draw_id == draw_id)
        )
        if ticket is not None
    }
    ranked = []
    for rank, ticket in enumerate(draw_winners(seed, entries, winners), start=1):
        kind, member = entries[ticket]
        session.execute(
            update(LuckyDrawEntry)
            .where(
                LuckyDrawEntry.draw_id == draw_id,
                LuckyDrawEntry.member_kind == kind,
                LuckyDrawEntry.member_id == member,
            )
            .values(rank=rank)
        )
        ranked.append((rank, kind, member, ticket))
    return ranked


def do_draw_now(
    session: Session, tenant: Tenant, draw_id: int, *, when: datetime | None = None
) -> list[tuple[int, ContactKind, str, str]]:
    """Close a draw's entries now (if still open) and reveal it; return what ``do_reveal_draw`` does.

    Raise NotFound when the draw is not the tenant's and AlreadyDrawn once it is drawn.
    """
    when = when or utcnow()
    do_close_draw(session, tenant, draw_id, when=when)
    return do_reveal_draw(session, tenant, draw_id, when=when)


def do_reveal_due_draws(
    session: Session, tenant: Tenant, *, when: datetime | None = None
) -> list[int]:
    """Reveal every draw of the tenant whose entries have closed; return their ids.

    A draw revealed already is left alone, so that running this twice does nothing the second
    time.
    """
    when = when or utcnow()
    due = session.scalars(
        select(LuckyDraw.id)
        .where(
            LuckyDraw.tenant_id == tenant.id,
            LuckyDraw.status == DrawStatus.OPEN,
            LuckyDraw.entries_close_at <= when,
        )
        .order_by(LuckyDraw.id)
    ).all()
    revealed = []
    for draw_id in due:
        try:
            with session.begin_nested():
                do_reveal_draw(session, tenant, draw_id, when=when)
        except AlreadyDrawn:  # revealed by someone else meanwhile
            continue
        revealed.append(draw_id)
    return revealed


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    """An entry: who, their ticket, and their rank once drawn."""

    member_kind: ContactKind
    member_id: str
    ticket: str
    entered_at: datetime
    rank: int | None


@dataclass(frozen=True)
class DrawView:
    """A draw as staff see it: the public data plus who entered and who won."""

    id: int
    group_id: str
    verification: Verification
    entries_open_at: datetime | None
    entries: list[EntryView]


def _status(draw: LuckyDraw, when: datetime) -> str:
    if draw.status is DrawStatus.DRAWN:
        return "drawn"
    return "open" if when < draw.entries_close_at else "closed"


def _verification(session: Session, draw: LuckyDraw, when: datetime) -> Verification:
    prizes = list(
        session.scalars(
            select(LuckyDrawPrize.name)
            .where(LuckyDrawPrize.draw_id == draw.id)
            .order_by(LuckyDrawPrize.rank)
        )
    )
    rows = session.execute(
        select(LuckyDrawEntry.ticket, LuckyDrawEntry.rank).where(LuckyDrawEntry.draw_id == draw.id)
    ).all()
    tickets = sorted(ticket for ticket, _ in rows if ticket is not None)
    drawn = draw.status is DrawStatus.DRAWN
    results = sorted(
        (rank, ticket, prizes[rank - 1] if rank <= len(prizes) else f"第 {rank} 名")
        for ticket, rank in rows
        if rank is not None and ticket is not None
    )
    return Verification(
        draw_id=draw.id,
        title=draw.title,
        status=_status(draw, when),
        winners=draw.winners,
        prizes=prizes,
        entries_close_at=draw.entries_close_at,
        seed_hash=draw.seed_hash,
        seed=draw.seed if drawn else None,
        tickets=tickets,
        entries_digest=entries_digest(tickets),
        results=results,
    )


@dataclass(frozen=True)
class DrawRow:
    """A draw in a group's listing: where it stands, its entries and its commitment."""

    id: int
    title: str
    status: str
    """``open``, ``closed`` or ``drawn``, as in the verification data."""
    winners: int
    entries: int
    seed_hash: str
    entries_close_at: datetime


def group_draws(
    session: Session,
    tenant: Tenant,
    group_id: str,
    *,
    when: datetime | None = None,
    limit: int = 200,
) -> list[DrawRow]:
    """Return a group's latest draws, newest first, with the number of entries of each."""
    when = when or utcnow()
    entries = (
        select(func.count())
        .select_from(LuckyDrawEntry)
        .where(LuckyDrawEntry.draw_id == LuckyDraw.id)
        .scalar_subquery()
    )
    found = session.execute(
        select(LuckyDraw, entries)
        .where(LuckyDraw.tenant_id == tenant.id, LuckyDraw.group_id == group_id)
        .order_by(LuckyDraw.id.desc())
        .limit(limit)
    )
    return [
        DrawRow(
            id=draw.id,
            title=draw.title,
            status=_status(draw, when),
            winners=draw.winners,
            entries=int(count),
            seed_hash=draw.seed_hash,
            entries_close_at=draw.entries_close_at,
        )
        for draw, count in found
    ]


def public_draw_verification(
    session: Session, draw_id: int, *, when: datetime | None = None
) -> Verification:
    """Return what anyone may see of a draw (no member ids; the seed only once drawn).

    Raise NotFound for an unknown draw.
    """
    draw = session.get(LuckyDraw, draw_id)
    if draw is None:
        raise NotFound(f"没有抽奖 {draw_id}")
    return _verification(session, draw, when or utcnow())


def draw_detail(
    session: Session, tenant: Tenant, draw_id: int, *, when: datetime | None = None
) -> DrawView:
    """Return a draw with its entries, earliest first; raise NotFound when not the tenant's."""
    draw = _draw(session, tenant, draw_id)
    entries = session.scalars(
        select(LuckyDrawEntry)
        .where(LuckyDrawEntry.draw_id == draw_id)
        .order_by(LuckyDrawEntry.entered_at, LuckyDrawEntry.member_kind, LuckyDrawEntry.member_id)
    ).all()
    return DrawView(
        id=draw.id,
        group_id=draw.group_id,
        verification=_verification(session, draw, when or utcnow()),
        entries_open_at=draw.entries_open_at,
        entries=[
            EntryView(e.member_kind, e.member_id, e.ticket or "", e.entered_at, e.rank)
            for e in entries
        ],
    )


@dataclass(frozen=True)
class MemberDrawView:
    """A draw as one member sees it on the H5 page: the public data and their own entry."""

    verification: Verification
    entries_open_at: datetime | None
    ticket: str | None
    rank: int | None


def member_draw_view(
    session: Session,
    tenant: Tenant,
    draw_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
) -> MemberDrawView:
    """Return a draw for a member of its group; raise NotFound for anyone else."""
    draw = _draw(session, tenant, draw_id)
    require_member(session, tenant, draw.group_id, member_kind, member_id, f"抽奖 {draw_id}")
    entry = session.get(LuckyDrawEntry, (draw_id, member_kind, member_id))
    return MemberDrawView(
        verification=_verification(session, draw, when or utcnow()),
        entries_open_at=draw.entries_open_at,
        ticket=entry.ticket if entry is not None else None,
        rank=entry.rank if entry is not None else None,
    )


def member_open_draws(
    session: Session,
    tenant: Tenant,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
) -> list[tuple[int, str, datetime]]:
    """Return (id, title, entries close) of the draws taking entries in the member's groups now.

    The member's groups are those they are in now; soonest to close first.
    """
    when = when or utcnow()
    in_group = groups_of_member(tenant, member_kind, member_id)
    found = session.execute(
        select(LuckyDraw.id, LuckyDraw.title, LuckyDraw.entries_close_at)
        .where(
            LuckyDraw.tenant_id == tenant.id,
            LuckyDraw.group_id.in_(in_group),
            LuckyDraw.status == DrawStatus.OPEN,
            LuckyDraw.entries_close_at > when,
            (LuckyDraw.entries_open_at.is_(None)) | (LuckyDraw.entries_open_at <= when),
        )
        .order_by(LuckyDraw.entries_close_at, LuckyDraw.id)
    )
    return [(draw_id, title, closes) for draw_id, title, closes in found]


def verification_record(data: Verification) -> dict[str, object]:
    """Return the verification data as JSON-ready values (the API's and the file's format)."""
    return {
        "draw_id": data.draw_id,
        "title": data.title,
        "status": data.status,
        "winners": data.winners,
        "prizes": data.prizes,
        "entries_close_at": data.entries_close_at.isoformat(),
        "seed_hash": data.seed_hash,
        "seed": data.seed,
        "tickets": data.tickets,
        "entries_digest": data.entries_digest,
        "results": [
            {"rank": rank, "ticket": ticket, "prize": prize} for rank, ticket, prize in data.results
        ],
        "algorithm": ALGORITHM,
    }


def _listed(record: dict[str, object], name: str) -> list[Any]:
    value = record.get(name, [])
    if not isinstance(value, list):
        raise InvalidInput(f"验证数据的 {name} 应为列表")
    return value


def verification_from_record(record: dict[str, object]) -> Verification:
    """Return the verification data read back from JSON; raise InvalidInput naming a bad field."""
    try:
        seed = record["seed"]
        return Verification(
            draw_id=int(str(record["draw_id"])),
            title=str(record["title"]),
            status=str(record["status"]),
            winners=int(str(record["winners"])),
            prizes=[str(prize) for prize in _listed(record, "prizes")],
            entries_close_at=datetime.fromisoformat(str(record["entries_close_at"])),
            seed_hash=str(record["seed_hash"]),
            seed=None if seed is None else str(seed),
            tickets=[str(ticket) for ticket in _listed(record, "tickets")],
            entries_digest=str(record["entries_digest"]),
            results=[
                (int(item["rank"]), str(item["ticket"]), str(item.get("prize", "")))
                for item in _listed(record, "results")
            ],
        )
    except KeyError as error:
        raise InvalidInput(f"验证数据缺少字段 {error.args[0]!r}") from error
    except (AttributeError, TypeError, ValueError) as error:
        raise InvalidInput(f"验证数据格式有误：{error}") from error

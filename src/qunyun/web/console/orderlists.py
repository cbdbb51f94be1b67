"""Console pages of 接龙 order collection: a group's lists, opening today's, cutoffs, pick lists.

A list belongs to a group and is seen as the other activation pages are (``org.access``; a
list outside the scope answers as missing). A cutoff is the tenant's — one moment locks the
lines of every group, as ``qunyun jielong cutoff`` and the every-minute job do — so its pages
show the lines and orders of the groups the actor sees: HQ the whole pick list (the same rows
and CSV bytes as ``qunyun jielong picklist``), a rep his territory's part. Running the cutoff
from here makes the latest one that has fallen due, which the job would make too; since it
locks every group's lines, only HQ may (``org.access.require_cutoff_maker``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, StringConstraints
from sqlalchemy.orm import Session

from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import OrderList
from qunyun.activation.orderlists import (
    DELIVERY_HEADER,
    PICK_LIST_HEADER,
    ListItem,
    ListView,
    cutoff_times,
    delivery_batch,
    do_cutoff,
    do_open_order_list,
    group_order_lists,
    latest_cutoff,
    order_cutoff,
    order_list_detail,
    partner_commissions,
    pick_list,
    recent_cutoffs,
)
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict, InvalidInput
from qunyun.core.money import parse_yuan
from qunyun.core.tabular import csv_bytes
from qunyun.groups.queries import is_current_member
from qunyun.org.access import (
    Actor,
    access_group,
    actor_tenant,
    groups_in_scope,
    may_cut_off,
    require_activator,
    require_cutoff_maker,
    require_reader,
)
from qunyun.org.models import Tenant
from qunyun.web.console.activation import (
    FormText,
    Message,
    ObjectPage,
    Section,
    create_in_group,
    object_page,
    section_context,
    section_page,
)
from qunyun.web.console.pages import ConsoleActor, CsrfChecked, ObjectId, _actor
from qunyun.web.console.render import render
from qunyun.web.deps import NumericId, work

router = APIRouter()

ItemLines = Annotated[str, StringConstraints(max_length=20_000)]
"""The items as typed: one a line, ``code,name,price in yuan,supplier``."""
PARTNER_KINDS = ("store", "consumer", "distributor", "staff")
CUTOFFS_SHOWN = 20


class OrderListForm(BaseModel):
    """The form that opens today's list, as typed (see ``activation.Field``)."""

    partner_kind: FormText = "store"
    partner: FormText = ""
    commission: FormText = "5"
    items: ItemLines = ""

    def partner_contact(self) -> ContactKind:
        """Return the partner's kind; raise InvalidInput for another."""
        if self.partner_kind not in PARTNER_KINDS:
            raise InvalidInput(f"团长类别：未知的类别 {self.partner_kind!r}")
        return ContactKind(self.partner_kind)

    def commission_bp(self) -> int:
        """Return the commission typed in percent (two decimals at most) in basis points."""
        try:
            return parse_yuan(self.commission)
        except ValueError as error:
            raise InvalidInput(f"团长佣金（%）：{error}") from error

    def item_list(self) -> list[ListItem]:
        """Return the items, one a line (blank lines left out); raise InvalidInput naming a bad line."""
        items = []
        for number, line in enumerate(self.items.splitlines(), start=1):
            if not line.strip():
                continue
            fields = [field.strip() for field in line.replace("，", ",").split(",")]
            if len(fields) != 4 or not all(fields):
                raise InvalidInput(
                    f"商品第 {number} 行：应为 编号,名称,价格（元）,供货方（收到 {line.strip()!r}）"
                )
            code, name, price, supplier = fields
            try:
                price_fen = parse_yuan(price)
            except ValueError as error:
                raise InvalidInput(f"商品第 {number} 行的价格：{error}") from error
            items.append(ListItem(code, name, price_fen, supplier))
        return items


def _order_lists_context(
    session: Session, actor: Actor, tenant: Tenant, group_id: str
) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    return {
        **section_context(actor, tenant, group_id, "order_lists"),
        "group": group,
        "lists": group_order_lists(session, tenant, group_id),
        "cutoff_times": cutoff_times(session, tenant),
        "partner_kinds": PARTNER_KINDS,
        "form": OrderListForm().model_dump(),
    }


def _list_detail(
    session: Session, tenant: Tenant, list_id: int, _hot: RedisHotState | None
) -> ListView:
    return order_list_detail(session, tenant, list_id)


def _list_figures(view: ListView) -> dict[str, Any]:
    """Return what a list's page adds: quantities and amounts per item, the total, locked lines.

    The partner's commission is the cutoff's to compute (per order): the delivery page shows it.
    """
    quantity: dict[str, int] = defaultdict(int)
    amount: dict[str, int] = defaultdict(int)
    for line in view.lines:
        quantity[line.item_code] += line.qty
        amount[line.item_code] += line.amount_fen
    return {
        "quantity": quantity,
        "amount": amount,
        "total_fen": sum(amount.values()),
        "locked": sum(1 for line in view.lines if line.is_locked),
    }


ORDER_LISTS = Section("order_lists", _order_lists_context, "order-lists")
ORDER_LIST = ObjectPage(
    "activation_order_list.html", "order_lists", "接龙", _list_detail, _list_figures
)


@router.get("/groups/{group_id}/order-lists", response_class=HTMLResponse)
def order_lists_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's 接龙 lists (lines, amount, locked) and the form to open today's."""
    return section_page(request, _actor(request), group_id, ORDER_LISTS)


@router.post("/groups/{group_id}/order-lists", response_class=HTMLResponse)
def open_order_list(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    form: Annotated[OrderListForm, Form()],
) -> Response:
    """Open today's list in the group, run by a partner of the group; then show it."""
    require_activator(actor)

    def open_list(session: Session, tenant: Tenant) -> OrderList:
        partner = form.partner.strip()
        kind = form.partner_contact()
        # the group is in the actor's scope (checked first): whether the partner is in it is
        # the form's mistake to show, not a missing page
        if not is_current_member(session, tenant, group_id, kind, partner):
            raise InvalidInput(f"团长 {partner or '（空）'} 不是本群成员")
        return do_open_order_list(
            session, tenant, group_id, kind, partner, form.item_list(), form.commission_bp()
        )

    return create_in_group(request, actor, group_id, ORDER_LISTS, open_list, form.model_dump())


@router.get("/order-lists/{list_id}", response_class=HTMLResponse)
def order_list_page(request: Request, list_id: NumericId) -> Response:
    """Show a list: its items with the quantities ordered, and every line, locked or not."""
    return object_page(request, _actor(request), list_id, ORDER_LIST)


# --- cutoffs: the tenant's, shown as far as the actor's groups go -----------------------------


def _cutoffs_page(
    request: Request, actor: Actor, *, refusal: str | None = None, message: Message | None = None
) -> Response:
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        context = {
            "zone": tenant.timezone,
            "cutoff_times": cutoff_times(session, tenant),
            "cutoffs": recent_cutoffs(session, tenant, CUTOFFS_SHOWN),
            "can_cut_off": may_cut_off(actor),
            "error": refusal,
            "message": message,
        }
    return render(request, "order_cutoffs.html", actor, context)


@router.get("/order-cutoffs", response_class=HTMLResponse)
def cutoffs_page(request: Request) -> Response:
    """Show the tenant's cutoff times and latest cutoffs, and the button to make the due one."""
    return _cutoffs_page(request, _actor(request))


@router.post("/order-cutoffs", response_class=HTMLResponse)
def make_cutoff(request: Request, actor: ConsoleActor, _csrf: CsrfChecked) -> Response:
    """Make the latest cutoff that has fallen due: its lines lock into orders (HQ only)."""
    require_cutoff_maker(actor)
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            summary = do_cutoff(session, tenant, latest_cutoff(session, tenant, utcnow()))
    except (InvalidInput, Conflict) as refusal:  # made already: nothing is written
        return _cutoffs_page(request, actor, refusal=refusal.message)
    return _cutoffs_page(request, actor, message=("cutoff_made", summary.cutoff_id))


def _cutoff_context(session: Session, tenant: Tenant, cutoff_id: int) -> dict[str, Any]:
    cutoff = order_cutoff(session, tenant, cutoff_id)
    return {"zone": tenant.timezone, "cutoff": cutoff, "message": None, "error": None}


def _by_supplier(rows: list[list[str | int]]) -> list[tuple[str, list[list[str | int]]]]:
    """Return rows whose first cell is the supplier, grouped by it in order."""
    grouped: dict[str, list[list[str | int]]] = {}
    for row in rows:
        grouped.setdefault(str(row[0]), []).append(row)
    return list(grouped.items())


@router.get("/order-cutoffs/{cutoff_id}/pick-list", response_class=HTMLResponse)
def pick_list_page(request: Request, cutoff_id: NumericId) -> Response:
    """Show a cutoff's pick list per supplying store or warehouse, ready to print."""
    actor = _actor(request)
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        context = _cutoff_context(session, tenant, cutoff_id)
        rows = pick_list(
            session, tenant, cutoff_id, in_scope=groups_in_scope(session, actor, tenant)
        )
    context["suppliers"] = _by_supplier(rows)
    return render(request, "order_pick_list.html", actor, context)


@router.get("/order-cutoffs/{cutoff_id}/pick-list.csv")
def pick_list_csv(request: Request, cutoff_id: NumericId) -> Response:
    """Download a cutoff's pick list as the CSV ``qunyun jielong picklist`` writes."""
    actor = _actor(request)
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        rows = pick_list(
            session, tenant, cutoff_id, in_scope=groups_in_scope(session, actor, tenant)
        )
    return _csv(csv_bytes(PICK_LIST_HEADER, rows), f"pick-list-{cutoff_id}.csv")


@router.get("/order-cutoffs/{cutoff_id}/delivery", response_class=HTMLResponse)
def delivery_page(request: Request, cutoff_id: NumericId) -> Response:
    """Show a cutoff's delivery batch: orders per supplier, group and partner; commissions."""
    actor = _actor(request)
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        context = _cutoff_context(session, tenant, cutoff_id)
        in_scope = groups_in_scope(session, actor, tenant)
        rows = delivery_batch(session, tenant, cutoff_id, in_scope=in_scope)
        commissions = partner_commissions(session, tenant, cutoff_id, in_scope=in_scope)
    context |= {
        "suppliers": _by_supplier(rows),
        "orders": len(rows),
        "total_fen": sum(int(row[6]) for row in rows),
        "commissions": sorted(commissions.items()),
    }
    return render(request, "order_delivery.html", actor, context)


@router.get("/order-cutoffs/{cutoff_id}/delivery.csv")
def delivery_csv(request: Request, cutoff_id: NumericId) -> Response:
    """Download a cutoff's delivery batch as the CSV ``qunyun jielong delivery --out`` writes."""
    actor = _actor(request)
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        in_scope = groups_in_scope(session, actor, tenant)
        rows = delivery_batch(session, tenant, cutoff_id, in_scope=in_scope)
    return _csv(csv_bytes(DELIVERY_HEADER, rows), f"delivery-{cutoff_id}.csv")


def _csv(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

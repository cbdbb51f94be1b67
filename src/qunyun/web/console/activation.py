"""Console pages of activation for operators: red-packet rules and budget, relays, offers.

Every page belongs to a group that ``org.access`` lets the actor see (a rep his territory's
groups, a group admin the groups he administers); sales and deals answer as missing when their
group is outside the scope. Forms take yuan (``8.88``), parsed exactly to fen; a refusal is
shown on the page with the values entered, nothing written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, StringConstraints
from sqlalchemy.orm import Session

from qunyun.activation.flashsales import do_create_flash_sale, flash_sale_detail
from qunyun.activation.groupbuys import do_create_group_buy, group_buy_detail
from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import ALL_GROUPS
from qunyun.activation.operations import (
    OfferRow,
    budget_ledger,
    budget_use,
    current_month,
    flash_sales,
    group_buys,
    is_own_rule,
    offer_status,
    red_packets,
    relay_detail,
    relays,
    rules,
)
from qunyun.activation.redpackets import (
    Rule,
    do_create_red_packet,
    do_send_relay_round,
    do_set_rule,
    do_start_relay,
    do_stop_relay,
    effective_rule,
)
from qunyun.core.clock import format_local, utcnow
from qunyun.core.errors import Conflict, InvalidInput
from qunyun.core.money import format_yuan, parse_yuan
from qunyun.groups.models import Group
from qunyun.org.access import (
    Actor,
    access_group,
    access_in_group,
    actor_tenant,
    may_activate,
    may_set_rules,
    require_activator,
    require_rule_setter,
)
from qunyun.org.models import Tenant
from qunyun.web.console.pages import ConsoleActor, CsrfChecked, ObjectId, _actor
from qunyun.web.console.render import render, templates
from qunyun.web.deps import NumericId, hot, work

router = APIRouter()

templates.env.filters["yuan"] = format_yuan
templates.env.filters["local"] = format_local

Field = Annotated[str, Form(max_length=200)]
"""A form field as typed: parsed and checked by the handler, so that a mistake is shown on
the page (and an out-of-scope group answers 404 before any field is looked at)."""
FormText = Annotated[str, StringConstraints(max_length=200)]
"""The same, as a field of a form model."""
LARGEST_WHOLE = 2**31 - 1
"""The largest whole number a form takes: counts, stock and minutes are 32-bit columns."""
PACKETS_SHOWN = 20
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
"""The value of an ``<input type="datetime-local">``."""


def _fen(text: str, label: str) -> int:
    try:
        return parse_yuan(text)
    except ValueError as error:
        raise InvalidInput(f"{label}：{error}") from error


def parse_whole(text: str, label: str) -> int:
    """Return a whole number as typed; whether it is allowed is the action's to say."""
    try:
        value = int(text.strip())
    except ValueError as error:
        raise InvalidInput(f"{label}：应为整数（收到 {text!r}）") from error
    if abs(value) > LARGEST_WHOLE:
        raise InvalidInput(f"{label}：数字太大（最多 {LARGEST_WHOLE}，收到 {value}）")
    return value


def parse_moment(text: str, label: str, zone: str) -> datetime:
    """Return a local time typed in a form (``YYYY-MM-DDTHH:MM`` in ``zone``) as aware."""
    try:
        return datetime.strptime(text.strip(), LOCAL_INPUT).replace(tzinfo=ZoneInfo(zone))
    except ValueError as error:
        raise InvalidInput(f"{label}：时间应为 YYYY-MM-DDTHH:MM（收到 {text!r}）") from error


def input_time(moment: datetime, zone: str) -> str:
    """Return ``moment`` as a form's local-time field shows it in ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).strftime(LOCAL_INPUT)


def _see(request: Request, url: str) -> Response:
    """Send the browser to ``url`` after a create: HTMX navigates, a plain form follows a 303."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def section_context(actor: Actor, tenant: Tenant, group_id: str, section: str) -> dict[str, Any]:
    """Return what every activation page of a group shows: its tabs, zone and permissions."""
    return {
        "group_id": group_id,
        "section": section,
        "zone": tenant.timezone,
        "can_activate": may_activate(actor),
        "message": None,
        "error": None,
    }


Message = tuple[str, int | None]
"""A text key of the page's confirmation and the number of what it names (``packet_sent``, 12)."""


@dataclass(frozen=True)
class Section:
    """A group's page of one lever: its template ``activation_{name}.html`` and its reads.

    ``context`` reads what the page shows of a group of the actor's scope (NotFound outside
    it), with the new-thing form as it opens under ``form``; ``path`` is where the pages of
    what it makes live (``/{path}/{id}``).
    """

    name: str
    context: Callable[[Session, Actor, Tenant, str], dict[str, Any]]
    path: str = ""


def section_page(
    request: Request,
    actor: Actor,
    group_id: str,
    section: Section,
    *,
    refusal: str | None = None,
    entered: dict[str, str] | None = None,
    message: Message | None = None,
) -> Response:
    """Render a group's page of a lever, with a refusal and what was entered, or a message."""
    with work(request) as session:
        context = section.context(session, actor, actor_tenant(session, actor), group_id)
    if refusal is not None:
        context |= {"error": refusal, "form": context["form"] | (entered or {})}
    if message is not None:
        context["message"] = message
    return render(request, f"activation_{section.name}.html", actor, context)


def act_in_group(
    request: Request, actor: Actor, group_id: str, act: Callable[[Session, Tenant], Any]
) -> tuple[int | None, str | None]:
    """Run ``act`` in one unit of work on a group of the actor's scope.

    Return the id of what it made and None, or None and why it was refused (a field, the
    rule or the budget); nothing is written then. Raise NotFound for a group outside the scope.
    """
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            access_group(session, actor, tenant, group_id)
            return act(session, tenant).id, None
    except (InvalidInput, Conflict) as refusal:
        return None, refusal.message


def create_in_group(
    request: Request,
    actor: Actor,
    group_id: str,
    section: Section,
    create: Callable[[Session, Tenant], Any],
    entered: dict[str, str],
) -> Response:
    """Make something in a group and show its page, or show the refusal with what was entered."""
    made, refusal = act_in_group(request, actor, group_id, create)
    if refusal is not None:
        return section_page(request, actor, group_id, section, refusal=refusal, entered=entered)
    return _see(request, f"/{section.path}/{made}")


@dataclass(frozen=True)
class ObjectPage:
    """The page of one thing made in a group (a sale, a draw, a relay) and its template.

    ``detail`` reads it (NotFound when it is not the tenant's; the view names its
    ``group_id``), ``name`` is what a "not found" calls it (``抽奖``), ``context`` adds what
    the page shows beyond the view (under ``view``) and the group.
    """

    template: str
    section: str
    name: str
    detail: Callable[[Session, Tenant, int, RedisHotState | None], Any]
    context: Callable[[Any], dict[str, Any]] = lambda view: {}


def object_page(
    request: Request,
    actor: Actor,
    object_id: int,
    page: ObjectPage,
    *,
    refusal: str | None = None,
    message: Message | None = None,
) -> Response:
    """Render the page of a thing of a group in the actor's scope (as missing outside it)."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = page.detail(session, tenant, object_id, hot(request))
        access_in_group(session, actor, tenant, view.group_id, f"没有{page.name} {object_id}")
        context = {
            **section_context(actor, tenant, view.group_id, page.section),
            "group": session.get_one(Group, (tenant.id, view.group_id)),
            "view": view,
            **page.context(view),
            "error": refusal,
            "message": message,
        }
    return render(request, page.template, actor, context)


def act_on_object(
    request: Request,
    actor: Actor,
    object_id: int,
    page: ObjectPage,
    act: Callable[[Session, Tenant, int], object],
    done: str,
) -> Response:
    """Run ``act`` on a thing of a group in the actor's scope; show its page after, or why not."""
    require_activator(actor)
    refusal = None
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            view = page.detail(session, tenant, object_id, None)
            access_in_group(session, actor, tenant, view.group_id, f"没有{page.name} {object_id}")
            act(session, tenant, object_id)
    except (InvalidInput, Conflict) as error:  # the state refuses it: nothing is written
        refusal = error.message
    message = None if refusal is not None else (done, object_id)
    return object_page(request, actor, object_id, page, refusal=refusal, message=message)


# --- red packets: rules, budget, sending ----------------------------------------------------


class RuleForm(BaseModel):
    """A red-packet rule as typed in its form: yuan, whole numbers and HH:MM (see ``Field``)."""

    budget: FormText = ""
    min_total: FormText = ""
    max_total: FormText = ""
    min_count: FormText = ""
    max_count: FormText = ""
    window_start: FormText = ""
    window_end: FormText = ""
    expiry_minutes: FormText = ""

    @classmethod
    def of(cls, rule: Rule) -> RuleForm:
        """Return the form filled in with ``rule``."""
        return cls(
            budget=format_yuan(rule.monthly_budget_fen).replace(",", ""),
            min_total=format_yuan(rule.min_total_fen).replace(",", ""),
            max_total=format_yuan(rule.max_total_fen).replace(",", ""),
            min_count=str(rule.min_count),
            max_count=str(rule.max_count),
            window_start=rule.window_start,
            window_end=rule.window_end,
            expiry_minutes=str(rule.expiry_minutes),
        )

    def rule(self, scope: str) -> Rule:
        """Return the rule typed for ``scope``; raise InvalidInput naming a field not a number."""
        return Rule(
            monthly_budget_fen=_fen(self.budget, "每月预算（元）"),
            min_total_fen=_fen(self.min_total, "每个红包最小金额（元）"),
            max_total_fen=_fen(self.max_total, "每个红包最大金额（元）"),
            min_count=parse_whole(self.min_count, "最少个数"),
            max_count=parse_whole(self.max_count, "最多个数"),
            window_start=self.window_start,
            window_end=self.window_end,
            expiry_minutes=parse_whole(self.expiry_minutes, "过期时间（分钟）"),
            scope=scope,
        )


def _red_packet_context(
    session: Session, actor: Actor, tenant: Tenant, group_id: str
) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    rule = effective_rule(session, tenant, group_id)
    ledger = budget_ledger(session, tenant, group_id, current_month(tenant))
    return {
        **section_context(actor, tenant, group_id, "red_packets"),
        "group": group,
        "rule": rule,
        "own_rule": is_own_rule(session, tenant, group_id),
        "use": ledger.use,
        "entries": ledger.entries,
        "packets": red_packets(session, tenant, group_id, PACKETS_SHOWN),
        "can_set_rule": may_set_rules(actor),
        "rule_form": RuleForm.of(rule),
        "rule_refused": False,
        "form": {"total": "", "count": ""},
    }


RED_PACKETS = Section("red_packets", _red_packet_context)


@router.get("/groups/{group_id}/red-packets", response_class=HTMLResponse)
def red_packets_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's red-packet rule, its budget use this month, the packets; send one."""
    return section_page(request, _actor(request), group_id, RED_PACKETS)


@router.post("/groups/{group_id}/red-packets", response_class=HTMLResponse)
def send_red_packet(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    total: Field = "",
    count: Field = "",
) -> Response:
    """Send a red packet to the group as the logged-in staff member, from its month budget."""
    require_activator(actor)
    sent, refusal = act_in_group(
        request, actor, group_id,
        lambda session, tenant: do_create_red_packet(
            session, tenant, group_id, _fen(total, "总金额（元）"), parse_whole(count, "红包个数"),
            sender_id=actor.name,
        ),
    )  # fmt: skip
    if refusal is not None:  # out of bounds, window or budget
        entered = {"total": total, "count": count}
        return section_page(request, actor, group_id, RED_PACKETS, refusal=refusal, entered=entered)
    return section_page(request, actor, group_id, RED_PACKETS, message=("packet_sent", sent))


def _refusal_of_rule(request: Request, actor: Actor, form: RuleForm, scope: str) -> str | None:
    """Set the rule typed in ``form`` for ``scope``; return the refusal, None once saved."""
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            if scope != ALL_GROUPS:
                access_group(session, actor, tenant, scope)
            do_set_rule(session, tenant, form.rule(scope))
    except InvalidInput as refusal:
        return refusal.message
    return None


def _after_rule(context: dict[str, Any], form: RuleForm, refusal: str | None) -> dict[str, Any]:
    if refusal is None:
        return context | {"message": ("rule_saved", None)}
    return context | {"error": refusal, "rule_form": form, "rule_refused": True}


@router.post("/groups/{group_id}/red-packet-rule", response_class=HTMLResponse)
def set_red_packet_rule(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    form: Annotated[RuleForm, Form()],
) -> Response:
    """Set the group's own red-packet rule (HQ): budget, bounds, window and expiry."""
    require_rule_setter(actor)
    refusal = _refusal_of_rule(request, actor, form, group_id)
    with work(request) as session:
        context = _red_packet_context(session, actor, actor_tenant(session, actor), group_id)
    return render(
        request, "activation_red_packets.html", actor, _after_rule(context, form, refusal)
    )


def _rules_context(session: Session, tenant: Tenant) -> dict[str, Any]:
    found = rules(session, tenant)
    rule = effective_rule(session, tenant, ALL_GROUPS)
    return {
        "zone": tenant.timezone,
        "rule": rule,
        "has_default": any(own.scope == ALL_GROUPS for own in found),
        "group_rules": [own for own in found if own.scope != ALL_GROUPS],
        "rule_form": RuleForm.of(rule),
        "rule_refused": False,
        "message": None,
        "error": None,
    }


@router.get("/red-packet-rules", response_class=HTMLResponse)
def red_packet_rules_page(request: Request) -> Response:
    """Show the tenant's default red-packet rule (HQ) and the groups with a rule of their own."""
    actor = _actor(request)
    require_rule_setter(actor)
    with work(request) as session:
        context = _rules_context(session, actor_tenant(session, actor))
    return render(request, "activation_rules.html", actor, context)


@router.post("/red-packet-rules", response_class=HTMLResponse)
def set_default_rule(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    form: Annotated[RuleForm, Form()],
) -> Response:
    """Set the tenant's default red-packet rule (HQ), in force where a group has none."""
    require_rule_setter(actor)
    refusal = _refusal_of_rule(request, actor, form, ALL_GROUPS)
    with work(request) as session:
        context = _rules_context(session, actor_tenant(session, actor))
    return render(request, "activation_rules.html", actor, _after_rule(context, form, refusal))


# --- 红包接龙 relays -------------------------------------------------------------------------


def _relays_context(
    session: Session, actor: Actor, tenant: Tenant, group_id: str
) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    return {
        **section_context(actor, tenant, group_id, "relays"),
        "group": group,
        "rule": effective_rule(session, tenant, group_id),
        "use": budget_use(session, tenant, group_id, current_month(tenant)),
        "relays": relays(session, tenant, group_id, PACKETS_SHOWN),
        "form": {"total": "", "count": "", "rounds": "3"},
    }


RELAYS = Section("relays", _relays_context, "relays")
RELAY = ObjectPage("activation_relay.html", "relays", "红包接龙", relay_detail)


@router.get("/groups/{group_id}/relays", response_class=HTMLResponse)
def relays_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's 红包接龙 relays, its budget left and the form to start one."""
    return section_page(request, _actor(request), group_id, RELAYS)


@router.post("/groups/{group_id}/relays", response_class=HTMLResponse)
def start_relay(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    total: Field = "",
    count: Field = "",
    rounds: Field = "",
) -> Response:
    """Start a relay in the group, every round paid from its month budget now; then show it."""
    require_activator(actor)
    return create_in_group(
        request, actor, group_id, RELAYS,
        lambda session, tenant: do_start_relay(
            session, tenant, group_id, _fen(total, "每轮金额（元）"), parse_whole(count, "每轮个数"),
            parse_whole(rounds, "轮数"), sender_id=actor.name,
        ),
        {"total": total, "count": count, "rounds": rounds},
    )  # fmt: skip


@router.get("/relays/{relay_id}", response_class=HTMLResponse)
def relay_page(request: Request, relay_id: NumericId) -> Response:
    """Show a relay: its rounds, each round's best-luck grabber, who is asked to send next."""
    return object_page(request, _actor(request), relay_id, RELAY)


@router.post("/relays/{relay_id}/next", response_class=HTMLResponse)
def send_next_round(
    request: Request, actor: ConsoleActor, _csrf: CsrfChecked, relay_id: NumericId
) -> Response:
    """Send the relay's next round on behalf of the member its last round asked."""
    return act_on_object(request, actor, relay_id, RELAY, do_send_relay_round, "round_sent")


@router.post("/relays/{relay_id}/stop", response_class=HTMLResponse)
def stop_relay(
    request: Request, actor: ConsoleActor, _csrf: CsrfChecked, relay_id: NumericId
) -> Response:
    """Stop a relay between rounds: the unsent rounds return to the month budget."""
    return act_on_object(request, actor, relay_id, RELAY, do_stop_relay, "relay_was_stopped")


# --- flash sales and group-buys: offers -------------------------------------------------------


class OfferForm(BaseModel):
    """The fields of every form that opens an offer, as typed (see ``Field``)."""

    sku: FormText = ""
    title: FormText = ""
    price: FormText = ""
    stock: FormText = ""
    starts: FormText = ""
    ends: FormText = ""


class SaleForm(OfferForm):
    """The form that opens a flash sale."""

    limit: FormText = ""


class DealForm(OfferForm):
    """The form that opens a 拼团 deal."""

    team_size: FormText = ""
    team_minutes: FormText = ""


@dataclass(frozen=True)
class _OfferPages:
    """What the pages of one kind of offer state beyond what every offer's pages do."""

    section: str
    """The activation section (``flash_sales``); it names the listing's template
    (``activation_flash_sales.html``) and, without its ``s``, one offer's."""
    path: str
    """The detail page's path: ``/{path}/{id}``."""
    name: str
    """The kind, as a "not found" message names it (``秒杀``)."""
    listing: Callable[[Session, Tenant, str], Sequence[OfferRow[Any]]]
    detail: Callable[[Session, Tenant, int, RedisHotState | None], Any]
    """The detail action; with Redis, what it decided and SQL has not applied yet is applied first."""
    form: OfferForm
    """The new-offer form as it opens: the kind's defaults (the window is set from now)."""
    length: timedelta
    """How long the new-offer form's window lasts by default."""

    @property
    def listing_page(self) -> Section:
        """Return the group's page of this kind: its offers and the form to open one."""
        return Section(self.section, partial(_offers_context, pages=self), self.path)

    @property
    def offer_page(self) -> ObjectPage:
        """Return the page of one offer of this kind, with its status now."""
        return ObjectPage(
            f"activation_{self.section.removesuffix('s')}.html", self.section, self.name,
            self.detail, _offer_terms,
        )  # fmt: skip


def _offer_terms(view: Any) -> dict[str, Any]:
    return {"offer": view, "status": offer_status(view.starts_at, view.ends_at, utcnow()).value}


def _window(form: OfferForm, zone: str) -> tuple[datetime, datetime]:
    return parse_moment(form.starts, "开始时间", zone), parse_moment(form.ends, "结束时间", zone)


def _offers_context(
    session: Session, actor: Actor, tenant: Tenant, group_id: str, *, pages: _OfferPages
) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    now = utcnow().replace(second=0, microsecond=0)
    form = pages.form.model_dump() | {
        "starts": input_time(now, tenant.timezone),
        "ends": input_time(now + pages.length, tenant.timezone),
    }
    return {
        **section_context(actor, tenant, group_id, pages.section),
        "group": group,
        "offers": pages.listing(session, tenant, group_id),
        "form": form,
    }


SALES = _OfferPages(
    "flash_sales", "flash-sales", "秒杀", flash_sales, flash_sale_detail,
    SaleForm(limit="1"), timedelta(hours=1),
)  # fmt: skip
DEALS = _OfferPages(
    "group_buys", "group-buys", "拼团", group_buys, group_buy_detail,
    DealForm(team_size="3", team_minutes=str(24 * 60)), timedelta(days=7),
)  # fmt: skip


@router.get("/groups/{group_id}/flash-sales", response_class=HTMLResponse)
def flash_sales_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's flash sales (stock, sold, orders) and the form to open one."""
    return section_page(request, _actor(request), group_id, SALES.listing_page)


@router.post("/groups/{group_id}/flash-sales", response_class=HTMLResponse)
def create_flash_sale(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    form: Annotated[SaleForm, Form()],
) -> Response:
    """Open a flash sale in the group; then show it."""
    require_activator(actor)
    return create_in_group(
        request, actor, group_id, SALES.listing_page,
        lambda session, tenant: do_create_flash_sale(
            session, tenant, group_id, form.sku, form.title, _fen(form.price, "价格（元）"),
            parse_whole(form.stock, "库存"), parse_whole(form.limit, "每人限购"),
            *_window(form, tenant.timezone),
        ),
        form.model_dump(),
    )  # fmt: skip


@router.get("/flash-sales/{sale_id}", response_class=HTMLResponse)
def flash_sale_page(request: Request, sale_id: NumericId) -> Response:
    """Show a flash sale: stock, sold, what is left and every order."""
    return object_page(request, _actor(request), sale_id, SALES.offer_page)


@router.get("/groups/{group_id}/group-buys", response_class=HTMLResponse)
def group_buys_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's 拼团 deals (stock, teams) and the form to open one."""
    return section_page(request, _actor(request), group_id, DEALS.listing_page)


@router.post("/groups/{group_id}/group-buys", response_class=HTMLResponse)
def create_group_buy(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    form: Annotated[DealForm, Form()],
) -> Response:
    """Open a 拼团 deal in the group; then show it."""
    require_activator(actor)
    return create_in_group(
        request, actor, group_id, DEALS.listing_page,
        lambda session, tenant: do_create_group_buy(
            session, tenant, group_id, form.sku, form.title, _fen(form.price, "价格（元）"),
            parse_whole(form.team_size, "成团人数"), parse_whole(form.stock, "库存"),
            parse_whole(form.team_minutes, "成团时限（分钟）"), *_window(form, tenant.timezone),
        ),
        form.model_dump(),
    )  # fmt: skip


@router.get("/group-buys/{deal_id}", response_class=HTMLResponse)
def group_buy_page(request: Request, deal_id: NumericId) -> Response:
    """Show a 拼团 deal: stock sold and reserved, and every team with its members."""
    return object_page(request, _actor(request), deal_id, DEALS.offer_page)

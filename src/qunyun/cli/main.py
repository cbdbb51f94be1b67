"""The ``qunyun`` command: thin commands that parse, resolve the tenant, call one action, render."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table

from qunyun import __version__
from qunyun.core.clock import DEFAULT_ZONE, format_local
from qunyun.core.errors import QunyunError
from qunyun.core.settings import get_settings

app = typer.Typer(
    name="qunyun",
    help="Qunyun 群运 — 渠道社群化：经销商、终端店、消费者社群的规划、激活与度量。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(help="租户（品牌）：create / list / delete。", no_args_is_help=True)
_Read = TypeVar("_Read")

import_app = typer.Typer(
    help="导入主数据（CSV / XLSX）：staff、distributors、stores、consumers。", no_args_is_help=True
)
staff_app = typer.Typer(help="员工：离职登记。", no_args_is_help=True)
db_app = typer.Typer(help="数据库：迁移到最新结构。", no_args_is_help=True)
plan_app = typer.Typer(
    help="社群矩阵计划：计算（qunyun plan）、应用（plan apply）、导出（plan export）。",
    invoke_without_command=True,
)
app.add_typer(tenant_app, name="tenant")
app.add_typer(import_app, name="import")
app.add_typer(staff_app, name="staff")
app.add_typer(db_app, name="db")
app.add_typer(plan_app, name="plan")
user_app = typer.Typer(
    help="控制台与 API 账号：create / list / password / disable / enable。", no_args_is_help=True
)
token_app = typer.Typer(
    help="集成令牌（供其他系统调用 API）：create / revoke。", no_args_is_help=True
)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
redpacket_app = typer.Typer(
    help="红包：规则、预算、发红包、列表，模拟拆分（预览规则）。", no_args_is_help=True
)
app.add_typer(redpacket_app, name="redpacket")
jielong_app = typer.Typer(
    help="接龙订单：开龙、加行、截单、拣货单、配送批次。", no_args_is_help=True
)
app.add_typer(jielong_app, name="jielong")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

TenantOption = Annotated[
    str | None, typer.Option("--tenant", "-t", help="租户标识 SLUG；只有一个租户时可省略。")
]


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn Qunyun errors into a red message and an exit code, never a traceback."""
    try:
        yield
    except QunyunError as error:
        err_console.print(f"[bold red]错误[/]：{error.message}")
        raise typer.Exit(error.exit_code) from None


def _unit_of_work() -> Any:
    from qunyun.core.db import unit_of_work

    return unit_of_work()


def _tenant(session: Any, slug: str | None) -> Any:
    from qunyun.org.access import Actor, access_tenant

    return access_tenant(session, Actor.operator(), slug)


def _version(value: bool) -> None:
    if value:
        console.print(f"qunyun {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="显示版本。")
    ] = False,
) -> None:
    """Qunyun 群运：渠道社群化平台."""


# --- tenants -----------------------------------------------------------------------------


@tenant_app.command("create", help="创建租户（一个品牌）。Create a tenant (a brand).")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="租户标识，如 acme-drinks。")],
    name: Annotated[str, typer.Option("--name", help="品牌名称。")],
    timezone: Annotated[str, typer.Option(help="展示与按天统计所用时区。")] = DEFAULT_ZONE,
    company_account: Annotated[
        str | None,
        typer.Option(
            "--company-account", help="拥有全部社群的公司账号（群主，不是个人）；默认为租户标识。"
        ),
    ] = None,
) -> None:
    """Create a tenant (a brand)."""
    from qunyun.org.actions import do_create_tenant

    with reported_errors(), _unit_of_work() as session:
        tenant = do_create_tenant(session, slug, name, timezone, company_account)
    console.print(f"已创建租户 [bold]{tenant.slug}[/]（{tenant.name}）")


@tenant_app.command("list", help="列出租户。List tenants.")
def tenant_list() -> None:
    """List tenants."""
    from qunyun.org.queries import list_tenants

    with reported_errors(), _unit_of_work() as session:
        tenants = list_tenants(session)
    table = Table("slug", "名称", "时区", "创建时间")
    for tenant in tenants:
        table.add_row(
            tenant.slug,
            tenant.name,
            tenant.timezone,
            format_local(tenant.created_at, tenant.timezone),
        )
    console.print(table if tenants else "还没有租户：qunyun tenant create SLUG --name 名称")


@tenant_app.command("delete", help="删除租户及其全部数据。Delete a tenant and all its data.")
def tenant_delete(
    slug: Annotated[str, typer.Argument(help="要删除的租户标识。")],
    yes: Annotated[bool, typer.Option("--yes", help="确认删除该租户的全部数据。")] = False,
) -> None:
    """Delete a tenant and all its data."""
    from qunyun.org.actions import do_delete_tenant

    if not yes:
        err_console.print(f"[bold red]错误[/]：删除租户 {slug} 会删除其全部数据；确认请加 --yes")
        raise typer.Exit(2)
    with reported_errors(), _unit_of_work() as session:
        do_delete_tenant(session, _tenant(session, slug))
    console.print(f"已删除租户 {slug}")


# --- imports -----------------------------------------------------------------------------


class _ImportProgress:
    """A Rich progress bar for the read and write phases of an import."""

    def __init__(self, label: str) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        )
        self.label = label
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            description = f"读取并校验{self.label}" if phase == "read" else f"写入{self.label}"
            self.tasks[phase] = self.progress.add_task(description, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def _print_report(report: Any, label: str) -> None:
    console.print(
        f"{label} {report.file.name}（{report.encoding}）：读取 {report.rows:,} 行 · "
        f"新增 {report.inserted:,} · 更新 {report.updated:,} · 未变 {report.unchanged:,} · "
        f"拒绝 {report.rejected_rows:,}"
    )


def _print_errors(report: Any) -> None:
    from qunyun.channel.imports import SCREEN_ERRORS

    table = Table(
        "行",
        "列",
        "值",
        "原因",
        title=f"错误（前 {SCREEN_ERRORS} 条）" if len(report.errors) > SCREEN_ERRORS else "错误",
    )
    for error in report.errors[:SCREEN_ERRORS]:
        shown = error.value if len(error.value) <= 30 else error.value[:30] + "…"
        table.add_row(str(error.row), error.column, shown, error.reason)
    err_console.print(table)
    if report.rejects_path is not None:
        err_console.print(
            f"全部 {len(report.errors):,} 条错误（{report.rejected_rows:,} 行）已写入 {report.rejects_path}"
        )


def _run_import(
    entity: str, file: Path, tenant: str | None, skip_invalid: bool, rejects: Path | None
) -> None:
    from qunyun.channel.imports import ENTITIES, ImportRejected, do_import

    label = ENTITIES[entity].label
    if rejects is None:
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
        rejects = get_settings().home / "rejects" / f"{entity}-{stamp}.csv"
    progress = _ImportProgress(label)
    with reported_errors():
        try:
            with progress.progress, _unit_of_work() as session:
                report = do_import(
                    session,
                    _tenant(session, tenant),
                    entity,
                    file,
                    skip_invalid=skip_invalid,
                    rejects_path=rejects,
                    progress=progress,
                )
        except ImportRejected as rejected:
            _print_errors(rejected.report)
            _print_report(rejected.report, label)
            raise
    if report.ignored_headers:
        console.print(f"[yellow]注意[/]：忽略了未知列 {'、'.join(report.ignored_headers)}")
    _print_report(report, label)
    if report.errors:
        _print_errors(report)
    if report.awaiting_handover:
        _print_awaiting_handover(report.awaiting_handover)


AWAITING_SHOWN = 10
"""How many people awaiting a handover an import names."""


def _print_awaiting_handover(people: list[Any]) -> None:
    stores = sum(person.stores for person in people)
    reports = sum(person.reports for person in people)
    console.print(
        f"[yellow]待交接[/]：{len(people):,} 名离职人员名下仍有门店 {stores:,} 家、"
        f"在职下属 {reports:,} 人；请用 qunyun handover --from 离职人 --to 接手人 交接"
    )
    for person in people[:AWAITING_SHOWN]:
        held = "、".join(
            part
            for part in (
                f"门店 {person.stores:,} 家" if person.stores else "",
                f"下属 {person.reports:,} 人" if person.reports else "",
            )
            if part
        )
        console.print(
            f"  {person.staff_id} {person.name}（{person.left_on:%Y-%m-%d} 离职）：{held}"
        )
    if len(people) > AWAITING_SHOWN:
        console.print(f"  … 另 {len(people) - AWAITING_SHOWN:,} 人")


FileArgument = Annotated[Path, typer.Argument(help="CSV（UTF-8 / GBK）或 .xlsx 文件。")]
SkipOption = Annotated[
    bool, typer.Option("--skip-invalid", help="导入正确的行，错误行写入拒绝文件。")
]
RejectsOption = Annotated[
    Path | None,
    typer.Option("--rejects", help="拒绝行 CSV 的路径（默认在 $QUNYUN_HOME/rejects/）。"),
]


def _import_command(entity: str, summary: str) -> Callable[..., None]:
    def command(
        file: FileArgument,
        tenant: TenantOption = None,
        skip_invalid: SkipOption = False,
        rejects: RejectsOption = None,
    ) -> None:
        _run_import(entity, file, tenant, skip_invalid, rejects)

    command.__doc__ = summary
    return command


IMPORT_HELP = {
    "staff": "导入员工：staff_id*, name*, role*, manager_id, region, phone。",
    "distributors": "导入经销商：distributor_id*, name*, tier*, parent_id, province, city, district, boss_name, phone。",
    "stores": "导入终端门店：store_id*, name*, province*, city*, district*, store_type*, rep_id* …",
    "consumers": "导入消费者：consumer_id*, name*, city*, district, role*, kol_kind, source, phone。",
}
for _entity, _help in IMPORT_HELP.items():
    import_app.command(_entity, help=_help)(_import_command(_entity, _help))


# --- status ------------------------------------------------------------------------------


@app.command("status", help="各类主数据数量与各省门店。Counts per entity and stores per region.")
def status(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象。")] = False,
) -> None:
    """Show counts per entity and stores per region."""
    from qunyun.channel.queries import tenant_status

    with reported_errors(), _unit_of_work() as session:
        figures = tenant_status(session, _tenant(session, tenant))
    if as_json:
        sys.stdout.write(json.dumps(figures.as_dict(), ensure_ascii=False) + "\n")
        return
    counts = Table("对象", "数量", title=f"{figures.name}（{figures.tenant}）")
    for label, value in (
        ("员工 staff", figures.staff),
        ("经销商 distributors", figures.distributors),
        ("门店 stores", figures.stores),
        ("  其中营业中", figures.stores_active),
        ("消费者 consumers", figures.consumers),
        ("社群 groups", figures.groups),
    ):
        counts.add_row(label, f"{value:,}")
    console.print(counts)
    if figures.stores_by_region:
        regions = Table("省份", "门店数", title="各省门店")
        for name, value in figures.stores_by_region.items():
            regions.add_row(name, f"{value:,}")
        console.print(regions)


# --- staff -------------------------------------------------------------------------------


@staff_app.command("leave", help="登记员工离职，历史保留。Record that a staff member left.")
def staff_leave(
    staff_id: Annotated[str, typer.Argument(help="离职员工编号。")],
    tenant: TenantOption = None,
) -> None:
    """Record that a staff member left (their history stays)."""
    from qunyun.org.actions import do_staff_leave

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        staff = do_staff_leave(session, tenant_row, staff_id)
        when = format_local(staff.left_at, tenant_row.timezone)
    console.print(f"已登记 {staff.name}（{staff.staff_id}）于 {when} 离职")


# --- plans -------------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    ("groups_created", "新建群"),
    ("groups_archived", "归档群"),
    ("groups_merged", "其中合并"),
    ("members_added", "加入成员"),
    ("members_removed", "移出成员"),
    ("members_moved", "其中换群"),
    ("staff_seats_added", "员工席位+"),
    ("staff_seats_removed", "员工席位-"),
)


DEAD_GROUPS_SHOWN = 20


@plan_app.callback()
def plan(
    context: typer.Context,
    tenant: TenantOption = None,
    rebalance: Annotated[
        bool, typer.Option("--rebalance", help="按属性重新均衡（门店属性变化也会换群）。")
    ] = False,
) -> None:
    """Compute the four matrices against the current groups and keep it as the pending plan."""
    if context.invoked_subcommand is not None:
        return
    from qunyun.groups.models import MATRIX_LABELS, Matrix
    from qunyun.groups.plans import do_compute_plan

    with reported_errors(), _unit_of_work() as session:
        summary = do_compute_plan(session, _tenant(session, tenant), "cli", rebalance=rebalance)
    table = Table(
        "矩阵",
        "省份",
        *(label for _, label in SUMMARY_COLUMNS),
        title=f"计划 #{summary.revision_id}（待应用）",
    )
    for (matrix, region), counts in sorted(summary.rows.items()):
        table.add_row(
            MATRIX_LABELS[Matrix(matrix)],
            region,
            *(f"{counts[key]:,}" for key, _ in SUMMARY_COLUMNS),
        )
    totals = summary.totals()
    table.add_row("合计", "", *(f"{totals[key]:,}" for key, _ in SUMMARY_COLUMNS))
    console.print(table)
    if any(totals.values()):
        console.print("确认无误后运行：qunyun plan apply")
    else:
        console.print("社群矩阵已符合规则，无需变更。")
    if summary.vip_from_lake:
        console.print("VIP 群按事件库的 VIP 候选门店（活跃度 + 采购额）规划。")
    if summary.dead_groups:
        dead = Table(
            "群",
            "矩阵",
            "省份",
            title=f"僵尸群 {len(summary.dead_groups):,} 个：近 90 天无客户发言，建议合并或归档"
            "（计划不会自动处理）",
        )
        for group_id, matrix, region in summary.dead_groups[:DEAD_GROUPS_SHOWN]:
            dead.add_row(group_id, MATRIX_LABELS[Matrix(matrix)], region)
        console.print(dead)
        if len(summary.dead_groups) > DEAD_GROUPS_SHOWN:
            console.print(
                f"……另有 {len(summary.dead_groups) - DEAD_GROUPS_SHOWN:,} 个，"
                "见 qunyun analytics export group-health"
            )


@plan_app.command("apply", help="应用待应用的计划（一个事务）。Apply the pending plan.")
def plan_apply(tenant: TenantOption = None) -> None:
    """Apply the pending plan in one transaction."""
    from qunyun.groups.plans import do_apply_plan

    with reported_errors(), _unit_of_work() as session:
        revision = do_apply_plan(session, _tenant(session, tenant), "cli")
    console.print(f"已应用计划 #{revision.id}")


@plan_app.command("export", help="导出当前社群成员（每行一个 群×成员）。Export memberships.")
def plan_export(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
) -> None:
    """Write the current memberships as CSV."""
    from qunyun.core.tabular import write_csv
    from qunyun.groups.plans import EXPORT_HEADER, membership_rows

    with reported_errors(), _unit_of_work() as session:
        count = write_csv(out, EXPORT_HEADER, membership_rows(session, _tenant(session, tenant)))
    console.print(f"已导出 {count:,} 行到 {out}")


HISTORY_COLUMNS = (
    "groups_created",
    "groups_archived",
    "groups_merged",
    "members_added",
    "members_removed",
)
"""The summary counts ``plan history`` shows per revision."""
REVISION_STATUS_LABELS = {"pending": "待应用", "applied": "已应用", "superseded": "已被取代"}


def _shown_time(moment: datetime | None) -> str:
    """Return ``moment`` as the settings' local time to the minute (— when there is none)."""
    from zoneinfo import ZoneInfo

    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")


@plan_app.command("history", help="计划历史：状态、计算与应用的时间和人、变更数。Plan history.")
def plan_history(
    tenant: TenantOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="最多列出多少个计划。")] = 20,
) -> None:
    """List the plan revisions, newest first: who computed and applied each, and when."""
    from qunyun.groups.queries import plan_revisions

    with reported_errors(), _unit_of_work() as session:
        revisions = plan_revisions(session, _tenant(session, tenant), None, limit)
        rows = []
        for revision in revisions:
            totals: Counter[str] = Counter()
            for row in json.loads(revision.summary) if revision.summary else []:
                totals.update({key: row.get(key, 0) for key in HISTORY_COLUMNS})
            applied = (
                f"{_shown_time(revision.applied_at)} · {revision.applied_by}"
                if revision.applied_at
                else "—"
            )
            rows.append(
                (
                    f"#{revision.id}",
                    REVISION_STATUS_LABELS[revision.status.value],
                    f"{_shown_time(revision.computed_at)} · {revision.computed_by}",
                    applied,
                    *(f"{totals[key]:,}" for key in HISTORY_COLUMNS),
                )
            )
    if not rows:
        console.print("还没有计划：运行 qunyun plan 计算第一个")
        return
    labels = dict(SUMMARY_COLUMNS)
    table = Table(
        "计划",
        "状态",
        "计算（时间 · 人）",
        "应用（时间 · 人）",
        *(labels[key] for key in HISTORY_COLUMNS),
        title=f"计划历史（最近 {len(rows)} 个，时间为 {get_settings().timezone}）",
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


@plan_app.command("show", help="一个计划的变更明细（可导出 CSV）。Show a plan's diff.")
def plan_show(
    revision_id: Annotated[int, typer.Argument(help="计划编号（qunyun plan history）。", min=1)],
    out: Annotated[Path | None, typer.Option("--out", help="把变更逐个成员写入 CSV 文件。")] = None,
    tenant: TenantOption = None,
) -> None:
    """Show what a plan revision changes (or changed, once applied); ``--out`` writes its diff."""
    from qunyun.core.tabular import write_csv
    from qunyun.groups.plans import PLAN_CHANGES_HEADER, change_rows
    from qunyun.groups.queries import plan_revision

    with reported_errors(), _unit_of_work() as session:
        revision = plan_revision(session, _tenant(session, tenant), revision_id)
        status = REVISION_STATUS_LABELS[revision.status.value]
        console.print(
            f"计划 #{revision.id}（{status}）：{_shown_time(revision.computed_at)} 由 "
            f"{revision.computed_by} 计算"
            + (
                f"，{_shown_time(revision.applied_at)} 由 {revision.applied_by} 应用"
                if revision.applied_at
                else ""
            )
        )
        rows = list(change_rows(session, revision.id))
    counts = Counter(row[0] for row in rows)
    labels = {"create_group": "新建群", "archive_group": "归档群", "join": "加入", "leave": "移出"}
    shown = "，".join(f"{labels[kind]} {counts[kind]:,}" for kind in labels if counts[kind])
    console.print(shown or "没有变更")
    if out is not None:
        written = write_csv(out, PLAN_CHANGES_HEADER, rows)
        console.print(f"已导出 {written:,} 行变更到 {out}")


@app.command("coverage", help="终端店入群覆盖率（按省、按业务员）及未覆盖门店。Store coverage.")
def coverage(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象。")] = False,
) -> None:
    """Show how many active stores sit in a store group, and why the others do not."""
    from qunyun.groups.governance import store_coverage

    with reported_errors(), _unit_of_work() as session:
        figures = store_coverage(session, _tenant(session, tenant))
    if as_json:
        sys.stdout.write(json.dumps(figures.as_dict(), ensure_ascii=False) + "\n")
        return
    share = figures.covered / figures.active if figures.active else 1.0
    console.print(f"营业门店 {figures.active:,} 家，已入群 {figures.covered:,} 家（{share:.1%}）")
    regions = Table("省份", "营业门店", "已入群", "覆盖率")
    for name, counts in sorted(figures.by_region.items()):
        regions.add_row(
            name,
            f"{counts['active']:,}",
            f"{counts['covered']:,}",
            f"{counts['covered'] / counts['active']:.1%}",
        )
    console.print(regions)
    if figures.uncovered:
        missing = Table(
            "门店", "业务员", "原因", title=f"未覆盖（前 50 家，共 {len(figures.uncovered):,} 家）"
        )
        for row in figures.uncovered[:50]:
            missing.add_row(row["store_id"], row["rep_id"], row["reason"])
        console.print(missing)


@app.command("audit", help="检查各矩阵的社群是否违反规则；有问题时退出码为 1。Audit groups.")
def audit(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON。")] = False,
) -> None:
    """List groups that break a rule; exit 1 when any does."""
    from qunyun.groups.governance import audit_groups

    with reported_errors(), _unit_of_work() as session:
        breaches = audit_groups(session, _tenant(session, tenant))
    if as_json:
        rows = [{"group_id": b.group_id, "rule": b.rule, "detail": b.detail} for b in breaches]
        sys.stdout.write(json.dumps({"breaches": rows}, ensure_ascii=False) + "\n")
    elif breaches:
        table = Table("群", "规则", "详情", title=f"违规 {len(breaches):,} 项")
        for breach in breaches:
            table.add_row(breach.group_id, breach.rule, breach.detail)
        console.print(table)
    else:
        console.print("所有社群均符合规则。")
    if breaches:
        raise typer.Exit(1)


@app.command(
    "handover", help="交接：把一人的门店、社群和下属交给另一人，并修正群内员工席位。Hand over."
)
def handover(
    from_id: Annotated[str, typer.Option("--from", help="交出人员工编号。")],
    to_id: Annotated[str, typer.Option("--to", help="接手人员工编号（同一角色）。")],
    tenant: TenantOption = None,
) -> None:
    """Move a person's stores, groups and reports to another, in one transaction."""
    from qunyun.groups.handover import do_handover

    with reported_errors(), _unit_of_work() as session:
        report = do_handover(session, _tenant(session, tenant), from_id, to_id)
    console.print(
        f"已交接 {from_id} → {to_id}：门店 {report.stores:,}、社群 {report.groups:,}、"
        f"下属 {report.reports:,}；员工席位 关闭 {report.seats_closed:,} / 新增 {report.seats_opened:,}"
    )


# --- accounts, tokens, web ---------------------------------------------------------------


@user_app.command("create", help="创建控制台 / API 账号。Create a console and API login.")
def user_create(
    username: Annotated[str, typer.Option("--username", help="登录名。")],
    password: Annotated[str, typer.Option("--password", help="密码（至少 8 个字符）。")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="hq_admin / manager / supervisor / rep / group_admin / distributor / analyst",
        ),
    ],
    tenant: TenantOption = None,
    staff_id: Annotated[
        str | None,
        typer.Option("--staff-id", help="对应员工编号（经理、主管、业务员、群管理员必填）。"),
    ] = None,
    distributor_id: Annotated[
        str | None, typer.Option("--distributor-id", help="对应经销商编号（经销商账号必填）。")
    ] = None,
) -> None:
    """Create a login; only the argon2 hash of the password is stored."""
    from qunyun.org.accounts import do_create_account

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        account = do_create_account(
            session,
            tenant_row,
            username,
            password,
            role,
            staff_id=staff_id,
            distributor_id=distributor_id,
        )
        slug = tenant_row.slug
    console.print(f"已创建账号 [bold]{account.username}[/]（{account.role.value}，租户 {slug}）")


@token_app.command("create", help="创建集成令牌（只显示一次）。Create an integration token.")
def token_create(
    name: Annotated[str, typer.Option("--name", help="令牌名称，如 erp-sync。")],
    scope: Annotated[list[str], typer.Option("--scope", help="权限范围，如 events:write。")],
    tenant: TenantOption = None,
) -> None:
    """Create an integration token; print it once (only its digest is stored)."""
    from qunyun.org.accounts import do_create_token

    with reported_errors(), _unit_of_work() as session:
        issued = do_create_token(session, _tenant(session, tenant), name, scope)
    err_console.print(
        f"已创建令牌 {name}（{issued.record.scopes}）；令牌只显示这一次，请妥善保存："
    )
    sys.stdout.write(issued.token + "\n")


@user_app.command("list", help="列出账号。List logins.")
def user_list(tenant: TenantOption = None) -> None:
    """List the tenant's logins."""
    from qunyun.org.models import ACCOUNT_ROLE_LABELS
    from qunyun.org.queries import list_accounts

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        rows = [
            (
                a.username,
                ACCOUNT_ROLE_LABELS[a.role],
                a.staff_id or a.distributor_id or "",
                "启用" if a.is_active else "停用",
                format_local(a.last_login_at, tenant_row.timezone),
            )
            for a in list_accounts(session, tenant_row)
        ]
    table = Table("用户名", "角色", "员工 / 经销商", "状态", "最近登录")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@user_app.command("password", help="重设密码（旧令牌随之失效）。Set a new password.")
def user_password(
    username: Annotated[str, typer.Option("--username", help="登录名。")],
    password: Annotated[str, typer.Option("--password", help="新密码（至少 8 个字符）。")],
    tenant: TenantOption = None,
) -> None:
    """Set a new password; earlier tokens and sessions end, a lock is lifted."""
    from qunyun.org.accounts import do_set_password

    with reported_errors(), _unit_of_work() as session:
        do_set_password(session, _tenant(session, tenant), username, password)
    console.print(f"已重设 {username} 的密码")


def _set_active(username: str, tenant: str | None, is_active: bool) -> None:
    from qunyun.org.accounts import do_set_account_active

    with reported_errors(), _unit_of_work() as session:
        do_set_account_active(session, _tenant(session, tenant), username, is_active=is_active)
    console.print(f"已{'启用' if is_active else '停用'}账号 {username}")


@user_app.command("disable", help="停用账号（立即无法登录、令牌失效）。Disable a login.")
def user_disable(
    username: Annotated[str, typer.Option("--username", help="登录名。")],
    tenant: TenantOption = None,
) -> None:
    """Disable a login: it can no longer log in, its tokens and sessions stop working."""
    _set_active(username, tenant, False)


@user_app.command("enable", help="重新启用账号。Enable a login again.")
def user_enable(
    username: Annotated[str, typer.Option("--username", help="登录名。")],
    tenant: TenantOption = None,
) -> None:
    """Enable a disabled login again."""
    _set_active(username, tenant, True)


@token_app.command("revoke", help="吊销集成令牌。Revoke an integration token.")
def token_revoke(
    name: Annotated[str, typer.Option("--name", help="令牌名称。")],
    tenant: TenantOption = None,
) -> None:
    """Revoke an integration token (it stops working at once)."""
    from qunyun.org.accounts import do_revoke_token

    with reported_errors(), _unit_of_work() as session:
        do_revoke_token(session, _tenant(session, tenant), name)
    console.print(f"已吊销令牌 {name}")


@app.command("serve", help="启动控制台与 REST API。Serve the web console and the API.")
def serve(
    host: Annotated[str, typer.Option("--host", help="监听地址。")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口。", min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", help="服务进程数（每个核一个）。Server processes.", min=1, max=64
        ),
    ] = 1,
) -> None:
    """Serve the console and the REST API until interrupted."""
    with reported_errors():
        _serve(host, port, workers)


def _serve(host: str, port: int, workers: int = 1) -> None:
    from qunyun.web.serving import serve_app

    console.print(f"控制台：http://{host}:{port}/    API 文档：http://{host}:{port}/api/docs")
    serve_app(host, port, workers)


# --- activation --------------------------------------------------------------------------


@redpacket_app.command(
    "simulate", help="模拟红包拆分并写出 CSV（packet,position,amount_fen）。Simulate splits."
)
def redpacket_simulate(
    total_fen: Annotated[int, typer.Option("--total-fen", help="每个红包总金额（分）。")],
    count: Annotated[int, typer.Option("--count", help="每个红包的个数。")],
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    packets: Annotated[int, typer.Option("--packets", help="模拟的红包数。", min=1)] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="随机种子：同一种子结果相同。")] = 1,
    method: Annotated[
        str,
        typer.Option("--method", help="拆分方法：fair（公平，默认）或 double-mean（二倍均值）。"),
    ] = "fair",
) -> None:
    """Write simulated packets as CSV, one row per share in grab order."""
    import csv

    from qunyun.activation.split import SplitMethod, check_split, simulate
    from qunyun.core.errors import InvalidInput

    labels = {SplitMethod.FAIR: "公平拆分", SplitMethod.DOUBLE_MEAN: "二倍均值"}
    with reported_errors():
        try:
            chosen = SplitMethod(method)
            check_split(total_fen, count)
        except ValueError as error:
            message = (
                str(error)
                if "分" in str(error)
                else f"未知拆分方法 {method!r}：fair 或 double-mean"
            )
            raise InvalidInput(message) from error
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["packet", "position", "amount_fen"])
            for number, shares in enumerate(
                simulate(total_fen, count, packets, seed, chosen), start=1
            ):
                writer.writerows(
                    (number, position, amount) for position, amount in enumerate(shares, start=1)
                )
    console.print(f"已模拟 {packets:,} 个红包（{labels[chosen]}），写入 {out}")


AtOption = Annotated[
    str | None, typer.Option("--at", help="当地时间 YYYY-MM-DD HH:MM（默认现在）。")
]


def _local_time(text: str | None, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    from qunyun.core.clock import utcnow
    from qunyun.core.errors import InvalidInput

    if text is None:
        return utcnow()
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone))
    except ValueError as error:
        raise InvalidInput(f"时间应为 YYYY-MM-DD HH:MM（收到 {text!r}）") from error


@jielong_app.command("open", help="在社群开今天的接龙（商品 CSV）。Open today's list in a group.")
def jielong_open(
    group: Annotated[str, typer.Option("--group", help="社群编号。")],
    partner: Annotated[str, typer.Option("--partner", help="团长（合伙人）编号。")],
    items: Annotated[
        Path, typer.Option("--items", help="商品 CSV：item_code,name,price_fen,supplier_id。")
    ],
    partner_kind: Annotated[
        str, typer.Option("--partner-kind", help="团长类别：store/consumer/staff/distributor。")
    ] = "consumer",
    commission: Annotated[float, typer.Option("--commission", help="团长佣金（%）。")] = 5.0,
    at: AtOption = None,
    tenant: TenantOption = None,
) -> None:
    """Open today's 接龙 list of a group."""
    import csv

    from qunyun.activation.orderlists import ListItem, do_open_order_list
    from qunyun.channel.models import ContactKind
    from qunyun.core.errors import InvalidInput

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        try:
            with items.open(encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
            offered = [
                ListItem(row["item_code"], row["name"], int(row["price_fen"]), row["supplier_id"])
                for row in rows
            ]
            kind = ContactKind(partner_kind)
        except (OSError, KeyError, ValueError) as error:
            raise InvalidInput(f"商品文件或参数有误：{error}") from error
        order_list = do_open_order_list(
            session,
            tenant_row,
            group,
            kind,
            partner,
            offered,
            round(commission * 100),
            when=_local_time(at, tenant_row.timezone),
        )
        list_id, day = order_list.id, order_list.list_date
    console.print(f"已开接龙 #{list_id}（社群 {group}，{day}，{len(offered)} 个商品）")


@jielong_app.command("add", help="成员在接龙里加一行（商品、数量）。Add a line to a list.")
def jielong_add(
    list_id: Annotated[int, typer.Argument(help="接龙编号。")],
    member: Annotated[str, typer.Option("--member", help="成员编号。")],
    item: Annotated[str, typer.Option("--item", help="商品编号。")],
    qty: Annotated[int, typer.Option("--qty", help="数量。")] = 1,
    member_kind: Annotated[
        str, typer.Option("--member-kind", help="成员类别：store/consumer/staff/distributor。")
    ] = "consumer",
    at: AtOption = None,
    tenant: TenantOption = None,
) -> None:
    """Add a member's line to a 接龙 list."""
    from qunyun.activation.orderlists import do_add_line
    from qunyun.channel.models import ContactKind
    from qunyun.core.errors import InvalidInput
    from qunyun.core.money import format_yuan

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        try:
            kind = ContactKind(member_kind)
        except ValueError as error:
            raise InvalidInput(f"未知成员类别 {member_kind!r}") from error
        line = do_add_line(
            session, tenant_row, list_id, kind, member, item, qty,
            when=_local_time(at, tenant_row.timezone),
        )  # fmt: skip
        amount = line.amount_fen
    console.print(f"已加入接龙 #{list_id}：{member} {item} × {qty}（¥{format_yuan(amount)}）")


@jielong_app.command("cutoff", help="截单：把截单前的行锁定为订单。Cut off lines into orders.")
def jielong_cutoff(at: AtOption = None, tenant: TenantOption = None) -> None:
    """Run the latest cutoff at or before ``--at`` (12:00 / 20:00 local by default)."""
    from qunyun.activation.orderlists import do_cutoff, latest_cutoff
    from qunyun.core.money import format_yuan

    slots = {"afternoon": "下午", "morning": "上午"}
    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        moment = latest_cutoff(session, tenant_row, _local_time(at, tenant_row.timezone))
        summary = do_cutoff(session, tenant_row, moment)
        zone = tenant_row.timezone
    console.print(
        f"截单 #{summary.cutoff_id}：{format_local(summary.cutoff_at, zone)} · "
        f"{summary.orders:,} 张订单 · {summary.lines:,} 行 · ¥{format_yuan(summary.amount_fen)} · "
        f"团长佣金 ¥{format_yuan(summary.commission_fen)} · "
        f"{summary.deliver_on} {slots[summary.delivery_slot]}送达"
    )


@jielong_app.command("cutoffs", help="设置或查看本品牌的截单时间。Set or show the cutoff times.")
def jielong_cutoffs(
    times: Annotated[
        list[str] | None, typer.Argument(help="当地截单时间 HH:MM（可多个），不给则只显示。")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="改回 QUNYUN_ORDER_CUTOFFS 的默认时间。")
    ] = False,
    tenant: TenantOption = None,
) -> None:
    """Set the tenant's own 接龙 cutoff times (or show them; ``--reset`` goes back to the default)."""
    from qunyun.activation.cutoffs import (
        do_set_cutoff_times,
        has_own_cutoff_times,
        tenant_cutoff_times,
    )
    from qunyun.core.errors import InvalidInput

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        if reset and times:
            raise InvalidInput("--reset 不能与截单时间同时给出")
        if reset:
            current = do_set_cutoff_times(session, tenant_row, None)
        elif times:
            current = do_set_cutoff_times(session, tenant_row, times)
        else:
            current = tenant_cutoff_times(session, tenant_row)
        own = has_own_cutoff_times(session, tenant_row)
        slug = tenant_row.slug
    source = "本品牌设置" if own else "默认（QUNYUN_ORDER_CUTOFFS）"
    console.print(f"{slug} 的截单时间：{' '.join(f'{at:%H:%M}' for at in current)}（{source}）")


@jielong_app.command("picklist", help="导出截单的拣货单（按供货门店/仓库）。Pick list CSV.")
def jielong_picklist(
    cutoff_id: Annotated[int, typer.Argument(help="截单编号。")],
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
) -> None:
    """Write a cutoff's pick list per supplier and item as CSV."""
    from qunyun.activation.orderlists import PICK_LIST_HEADER, pick_list
    from qunyun.core.tabular import write_csv

    with reported_errors(), _unit_of_work() as session:
        count = write_csv(
            out, PICK_LIST_HEADER, pick_list(session, _tenant(session, tenant), cutoff_id)
        )
    console.print(f"已导出拣货单 {count:,} 行到 {out}")


@jielong_app.command("delivery", help="截单的配送批次（按供货方、社群、团长）。Delivery batch.")
def jielong_delivery(
    cutoff_id: Annotated[int, typer.Argument(help="截单编号。")],
    out: Annotated[Path | None, typer.Option("--out", help="另存为 CSV 文件。")] = None,
    tenant: TenantOption = None,
) -> None:
    """Show (and optionally write) the orders a cutoff delivers."""
    from qunyun.activation.orderlists import DELIVERY_HEADER, delivery_batch
    from qunyun.core.money import format_yuan
    from qunyun.core.tabular import write_csv

    with reported_errors(), _unit_of_work() as session:
        rows = delivery_batch(session, _tenant(session, tenant), cutoff_id)
    if out is not None:
        write_csv(out, DELIVERY_HEADER, rows)
    table = Table(
        "供货方",
        "社群",
        "团长",
        "订单",
        "成员",
        "金额",
        "送达",
        title=f"配送批次（截单 #{cutoff_id}）",
    )
    for supplier, group, partner, order, _, member, amount, day, slot in rows:
        table.add_row(
            str(supplier), str(group), str(partner), str(order), str(member),
            f"¥{format_yuan(int(amount))}", f"{day} {'下午' if slot == 'afternoon' else '上午'}",
        )  # fmt: skip
    console.print(table)


# --- database ----------------------------------------------------------------------------


@db_app.command(
    "upgrade", help="把数据库迁移到最新结构。Migrate the database to the newest schema."
)
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    from qunyun.core.db import get_engine

    with reported_errors():
        engine = get_engine()
    console.print(f"数据库已是最新结构：{engine.url.render_as_string(hide_password=True)}")


# --- events and analytics ----------------------------------------------------------------

events_app = typer.Typer(
    help="事件库：导入（events import）、合并小文件（events compact）。", no_args_is_help=True
)
analytics_app = typer.Typer(help="社群分析：导出（analytics export NAME）。", no_args_is_help=True)
analytics_export_app = typer.Typer(
    help="导出分析结果为 CSV：group-daily、member-levels、staff-silence、group-health、"
    "vip-candidates、funnel、cohorts、reach、referrals。",
    no_args_is_help=True,
)
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="统计截止日 YYYY-MM-DD（默认事件库最后一天）。")
]
app.add_typer(events_app, name="events")
app.add_typer(analytics_app, name="analytics")
analytics_app.add_typer(analytics_export_app, name="export")


class _EventProgress:
    """A Rich progress bar for an event import: bytes read and checked, then the write steps."""

    STEPS = ("去重", "成员与群编号", "写入事件库", "合并与汇总", "发布", "完成")

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase == "read":
            detail = f"{done / 2**20:,.1f}/{total / 2**20:,.1f} MiB"
        else:
            detail = self.STEPS[min(done, len(self.STEPS) - 1)]
        if phase not in self.tasks:
            description = "读取并校验事件" if phase == "read" else "写入事件库"
            self.tasks[phase] = self.progress.add_task(description, total=total, detail=detail)
        self.progress.update(self.tasks[phase], completed=done, total=total, detail=detail)


def _print_event_rejections(rejected: list[tuple[int, str]], rejects_path: Path | None) -> None:
    from qunyun.events.actions import SCREEN_ERRORS

    title = f"错误（前 {SCREEN_ERRORS} 条）" if len(rejected) > SCREEN_ERRORS else "错误"
    table = Table("行", "原因", title=title)
    for row, reason in rejected[:SCREEN_ERRORS]:
        table.add_row(str(row), reason)
    err_console.print(table)
    if rejects_path is not None:
        err_console.print(f"全部 {len(rejected):,} 行错误已写入 {rejects_path}")


@events_app.command(
    "import", help="导入事件文件（JSON Lines / CSV / Parquet）到事件库。Import events."
)
def events_import(
    file: Annotated[Path, typer.Argument(help=".jsonl、.csv 或 .parquet 事件文件。")],
    tenant: TenantOption = None,
    skip_invalid: SkipOption = False,
    rejects: RejectsOption = None,
) -> None:
    """Import an event file into the tenant's lake."""
    from qunyun.events.actions import EventsRejected, do_import_events

    if rejects is None:
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
        rejects = get_settings().home / "rejects" / f"events-{stamp}.csv"
    progress = _EventProgress()
    with reported_errors():
        with _unit_of_work() as session:
            tenant_row = _tenant(session, tenant)
        try:
            with progress.progress:
                report = do_import_events(
                    tenant_row,
                    file,
                    skip_invalid=skip_invalid,
                    rejects_path=rejects,
                    progress=progress,
                )
        except EventsRejected as rejected:
            result = rejected.result
            _print_event_rejections(result.rejected, getattr(result, "rejects_path", None))
            raise
    if report.ignored_columns:
        console.print(f"[yellow]注意[/]：忽略了未知列 {'、'.join(report.ignored_columns)}")
    days = f"{report.days[0]} 至 {report.days[-1]}" if report.days else "无"
    console.print(
        f"事件 {report.file.name}（{report.format}）：读取 {report.rows:,} 行 · "
        f"新增 {report.accepted:,} · 重复 {report.duplicates:,} · 拒绝 {len(report.rejected):,} · "
        f"新成员 {report.new_members:,} · 新群 {report.new_groups:,} · 涉及日期 {days}"
    )
    if report.rejected:
        _print_event_rejections(report.rejected, report.rejects_path)


@events_app.command("compact", help="把事件库每天的小文件合并为一个。Compact the lake.")
def events_compact(tenant: TenantOption = None) -> None:
    """Merge the small files of every day of the tenant's lake."""
    from qunyun.events.actions import do_compact_events

    with reported_errors():
        with _unit_of_work() as session:
            tenant_row = _tenant(session, tenant)
        removed = do_compact_events(tenant_row)
    console.print(f"已合并事件库：减少 {removed:,} 个文件" if removed else "事件库无需合并。")


@analytics_export_app.command(
    "group-daily", help="导出群日报：date,group_id,messages,active_members,… Export group daily."
)
def analytics_export_group_daily(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
) -> None:
    """Write group daily figures (one row per local day and group) as CSV."""
    from qunyun.analytics.group_daily import GROUP_DAILY_HEADER, group_daily_rows

    with reported_errors():
        lake, _, _ = _open_analysis(tenant, None, _nothing)
        _export(out, GROUP_DAILY_HEADER, group_daily_rows(lake))


@analytics_export_app.command(
    "member-levels",
    help="导出成员等级（core/active/casual/lurker，按时间衰减的活跃分）。Export member levels.",
)
def analytics_export_member_levels(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="统计截止日 YYYY-MM-DD（默认事件库最后一天）。")
    ] = None,
) -> None:
    """Write each member's level, score, messages and last active day as CSV."""
    from qunyun.analytics.member_levels import MEMBER_LEVELS_HEADER, member_level_rows

    with reported_errors():
        lake, day, _ = _open_analysis(tenant, as_of, _nothing)
        _export(out, MEMBER_LEVELS_HEADER, member_level_rows(lake, day))


@analytics_export_app.command(
    "staff-silence", help="导出在群里却从不发言的经理、总监（员工沉默）。Export staff silence."
)
def analytics_export_staff_silence(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="统计截止日 YYYY-MM-DD（默认事件库最后一天）。")
    ] = None,
) -> None:
    """Write, per seated director and manager, their messages in groups and whether silent."""
    from qunyun.analytics.staff_silence import STAFF_SILENCE_HEADER, seated_leaders, staff_silence

    with reported_errors():
        lake, day, leaders = _open_analysis(tenant, as_of, seated_leaders)
        voices = staff_silence(lake, leaders, day)
        silent = sum(voice.is_silent for voice in voices)
        _export(
            out,
            STAFF_SILENCE_HEADER,
            (voice.row() for voice in voices),
            f"（沉默 {silent:,} 人）",
            for_excel=True,
        )


@analytics_export_app.command(
    "group-health", help="导出群健康度（活跃/冷清/沉睡/僵尸）及趋势。Export group health."
)
def analytics_export_group_health(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="统计截止日 YYYY-MM-DD（默认事件库最后一天）。")
    ] = None,
) -> None:
    """Write each group's status, recent customer figures and trend as CSV."""
    from qunyun.analytics.group_health import (
        GROUP_HEALTH_HEADER,
        STATUS_LABELS,
        STATUSES,
        group_health,
        open_group_ids,
    )

    with reported_errors():
        lake, day, known = _open_analysis(tenant, as_of, open_group_ids)
        health = group_health(lake, day, known)
        counts = {status: sum(group.status == status for group in health) for status in STATUSES}
        shown = "、".join(
            f"{STATUS_LABELS[status]} {counts[status]:,}" for status in reversed(STATUSES)
        )
        _export(out, GROUP_HEALTH_HEADER, (group.row() for group in health), f"（{shown}）")


@analytics_export_app.command(
    "vip-candidates",
    help="导出各省 VIP 候选门店（活跃度 + 采购额）。Export VIP candidates.",
)
def analytics_export_vip_candidates(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Write per province the ranked VIP candidate stores as CSV."""
    from qunyun.analytics.vip import VIP_CANDIDATES_HEADER, store_values, vip_candidate_rows
    from qunyun.groups.plans import PlanRules

    with reported_errors():
        lake, day, stores = _open_analysis(tenant, as_of, store_values)
        share = PlanRules.from_settings().matrices.vip_share
        _export(out, VIP_CANDIDATES_HEADER, vip_candidate_rows(lake, stores, day, share))


@analytics_export_app.command(
    "funnel", help="导出各矩阵的 AARRR 漏斗（入群、激活、留存、下单、推荐）。Export the funnel."
)
def analytics_export_funnel(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Write the AARRR funnel, one row per matrix, as CSV."""
    from qunyun.analytics.funnel import FUNNEL_HEADER, funnel_rows
    from qunyun.analytics.tiers import known_matrices

    with reported_errors():
        lake, day, known = _open_analysis(tenant, as_of, known_matrices)
        _export(out, FUNNEL_HEADER, funnel_rows(lake, day, known))


@analytics_export_app.command(
    "cohorts", help="导出按入群周划分的周留存（cohort）。Export weekly cohort retention."
)
def analytics_export_cohorts(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Write each join-week cohort's active members per following week as CSV."""
    from qunyun.analytics.funnel import COHORT_HEADER, cohort_rows

    with reported_errors():
        lake, day, _ = _open_analysis(tenant, as_of, _nothing)
        _export(out, COHORT_HEADER, cohort_rows(lake, day))


@analytics_export_app.command(
    "reach",
    help="导出内容逐级触达：经销商群→门店群→消费者群的覆盖率、延迟、衰减。Export reach.",
)
def analytics_export_reach(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: AsOfOption = None,
    content: Annotated[
        str | None, typer.Option("--content", help="只导出这个内容（content_id）。")
    ] = None,
) -> None:
    """Write per content and tier the share of groups reached, delay and decay as CSV."""
    from qunyun.analytics.reach import REACH_HEADER, reach, reach_rows
    from qunyun.analytics.tiers import known_matrices

    with reported_errors():
        lake, day, known = _open_analysis(tenant, as_of, known_matrices)
        tiers = [t for t in reach(lake, day, known) if content is None or t.content_id == content]
        _export(out, REACH_HEADER, reach_rows(tiers))


@analytics_export_app.command(
    "referrals", help="导出推荐排行榜：直接、累计邀请与链深。Export the referral leaderboard."
)
def analytics_export_referrals(
    out: Annotated[Path, typer.Option("--out", help="输出 CSV 文件。")],
    tenant: TenantOption = None,
    as_of: AsOfOption = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="只导出前 N 名（默认全部）。")
    ] = None,
) -> None:
    """Write every inviter's direct and total invites and depth, best first, as CSV."""
    from qunyun.analytics.referrals import (
        REFERRALS_HEADER,
        first_referrals,
        referral_rows,
        referral_trees,
    )

    with reported_errors():
        lake, day, _ = _open_analysis(tenant, as_of, _nothing)
        referrers = referral_trees(first_referrals(lake, day))
        _export(out, REFERRALS_HEADER, referral_rows(referrers[:top]))


@app.command(
    "report",
    help="社群概况：事件、成员等级、群健康度、沉默的领导、VIP 候选、漏斗、留存、触达、推荐。"
    "Community report.",
)
def report(
    tenant: TenantOption = None,
    as_of: AsOfOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象。")] = False,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="另存为带图表的独立 HTML 文件（离线可看）。")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine", help="分析引擎 duckdb 或 pyspark（默认 QUNYUN_ANALYTICS_ENGINE）。"
        ),
    ] = None,
) -> None:
    """Print the headline figures of the tenant's communities."""
    from qunyun.analytics.group_health import STATUS_LABELS, STATUSES, open_group_ids
    from qunyun.analytics.lake import open_lake
    from qunyun.analytics.report import community_report
    from qunyun.analytics.staff_silence import seated_leaders
    from qunyun.analytics.tiers import known_matrices
    from qunyun.analytics.vip import store_values
    from qunyun.events.actions import tenant_lake
    from qunyun.groups.plans import PlanRules
    from qunyun.org.models import STAFF_ROLE_LABELS, StaffRole

    with reported_errors():
        with _unit_of_work() as session:
            tenant_row = _tenant(session, tenant)
            known = open_group_ids(session, tenant_row)
            leaders = seated_leaders(session, tenant_row)
            matrices = known_matrices(session, tenant_row)
            stores = store_values(session, tenant_row)
        lake = open_lake(tenant_lake(tenant_row), engine=engine)
        figures = community_report(
            lake,
            _as_of_day(as_of, lake, tenant_row.timezone),
            known,
            leaders,
            matrices,
            stores,
            PlanRules.from_settings().matrices.vip_share,
        )
    if html_file is not None:
        from qunyun.analytics.html import render_html

        title = f"{tenant_row.name}（{tenant_row.slug}）社群报告 · 截至 {figures.as_of}"
        html_file.parent.mkdir(parents=True, exist_ok=True)
        html_file.write_text(render_html(figures.as_dict(), title), encoding="utf-8")
        err_console.print(f"已写入 HTML 报告 {html_file}")
    if as_json:
        sys.stdout.write(json.dumps(figures.as_dict(), ensure_ascii=False) + "\n")
        return
    span = f"{figures.first_day} 至 {figures.last_day}" if figures.first_day else "无"
    overview = Table(
        "指标",
        "数值",
        title=f"{tenant_row.name}（{tenant_row.slug}）社群概况 · 截至 {figures.as_of}",
    )
    for label, value in (
        ("事件总数", f"{figures.events:,}"),
        ("事件日期", span),
        ("成员（含未登记）", f"{figures.members:,}"),
        ("有事件的群", f"{figures.groups:,}"),
        ("近 7 天消息", f"{figures.week_messages:,}"),
        ("近 7 天发言成员", f"{figures.week_senders:,}"),
        ("近 7 天入群 / 退群", f"{figures.week_joins:,} / {figures.week_leaves:,}"),
    ):
        overview.add_row(label, value)
    console.print(overview)
    level_labels = {"core": "核心", "active": "活跃", "casual": "偶尔", "lurker": "潜水"}
    levels = Table("等级", "成员数", title="成员等级")
    for name, count in figures.levels.items():
        levels.add_row(f"{level_labels[name]} {name}", f"{count:,}")
    console.print(levels)
    health = Table("状态", "群数", title="群健康度（近 28 天客户发言）")
    for status in reversed(STATUSES):
        health.add_row(f"{STATUS_LABELS[status]} {status}", f"{figures.health[status]:,}")
    trend_labels = {"up": "上升", "flat": "持平", "down": "下降"}
    health.add_row(
        "趋势", " · ".join(f"{trend_labels[k]} {v:,}" for k, v in figures.trends.items())
    )
    console.print(health)
    if figures.top_groups:
        top = Table("群", "状态", "客户消息", "发言客户", title="近 28 天最活跃的群")
        for group_id, status, messages, senders in figures.top_groups:
            top.add_row(group_id, STATUS_LABELS[status], f"{messages:,}", f"{senders:,}")
        console.print(top)
    if figures.silent_leaders:
        silent = Table(
            "员工",
            "姓名",
            "角色",
            "所在群",
            title=f"沉默的领导：{len(figures.silent_leaders):,} / {figures.leaders:,} 人在群里 90 天未发言",
        )
        for staff_id, name, role, groups in figures.silent_leaders[:20]:
            silent.add_row(staff_id, name, STAFF_ROLE_LABELS[StaffRole(role)], f"{groups:,}")
        console.print(silent)
    elif figures.leaders:
        console.print(f"在群的经理、总监 {figures.leaders:,} 人，近 90 天都发过言。")
    else:
        console.print("还没有经理、总监在群里（qunyun plan 会为每个群安排他们的席位）。")
    _print_growth(figures)


def _print_growth(figures: Any) -> None:
    """Print the report's VIP, funnel, cohort, reach and referral tables."""
    from qunyun.groups.models import MATRIX_LABELS, Matrix
    from qunyun.org.regions import catalogue

    vip = figures.vip
    if vip["top"]:
        table = Table(
            "省份",
            "门店",
            "价值（元）",
            "活跃分",
            "等级",
            title=f"VIP 候选门店：{vip['stores']:,} 家（前 {len(vip['top'])} 名）",
        )
        for row in vip["top"]:
            table.add_row(
                catalogue().by_code[row["province_code"]].name,
                row["store_id"],
                f"{row['value_fen'] / 100:,.2f}",
                f"{row['score']:.2f}",
                row["level"],
            )
        console.print(table)
    else:
        console.print("VIP 候选门店：无（门店需达到活跃等级，活跃分 ≥ 5）。")
    funnel = Table("矩阵", "入群", "激活", "留存", "下单", "推荐", title="AARRR 漏斗")
    for row in figures.funnel:
        acquired = row["acquired"]
        cells = [f"{acquired:,}"]
        for name in ("activated", "retained", "revenue", "referral"):
            share = f"（{row[name] / acquired:.0%}）" if acquired else ""
            cells.append(f"{row[name]:,}{share}")
        funnel.add_row(MATRIX_LABELS[Matrix(row["matrix"])], *cells)
    console.print(funnel)
    if figures.cohorts:
        weeks = max(len(c["shares"]) for c in figures.cohorts)
        cohorts = Table(
            Column("入群周", no_wrap=True),
            "人数",
            *(f"第{w}周" for w in range(weeks)),
            title="周留存（按首次入群周）",
        )
        for cohort in figures.cohorts:
            cohorts.add_row(
                cohort["cohort_week"],
                f"{cohort['members']:,}",
                *(f"{share:.0%}" for share in cohort["shares"]),
            )
        console.print(cohorts)
    reach = figures.reach
    if reach["contents"]:

        def shown(value: float | None, form: str) -> str:
            return "—" if value is None else format(value, form)

        table = Table(
            "内容",
            "经销商群",
            "门店群",
            "延迟(时)",
            "衰减",
            "消费者群",
            "延迟(时)",
            "衰减",
            title=f"内容逐级触达（经验值：每级衰减 {reach['rule_of_thumb_decay']:.0%}）",
        )
        for row in reach["contents"]:
            table.add_row(
                row["content_id"],
                shown(row["dealer_share"], ".0%"),
                shown(row["store_share"], ".0%"),
                shown(row["store_delay_hours"], ".1f"),
                shown(row["store_decay"], ".0%"),
                shown(row["consumer_share"], ".0%"),
                shown(row["consumer_delay_hours"], ".1f"),
                shown(row["consumer_decay"], ".0%"),
            )
        decays = reach["mean_decay"]
        table.add_row(
            "平均",
            shown(reach["mean_share"]["dealer"], ".0%"),
            shown(reach["mean_share"]["store"], ".0%"),
            "",
            shown(decays["store"], ".0%"),
            shown(reach["mean_share"]["consumer"], ".0%"),
            "",
            shown(decays["consumer"], ".0%"),
        )
        console.print(table)
    referrals = figures.referrals
    if referrals["top"]:
        table = Table(
            "名次",
            "成员",
            "直接邀请",
            "累计邀请",
            "链深",
            title=f"推荐排行榜：被邀请 {referrals['invitees']:,} 人 · "
            f"推荐树 {referrals['trees']:,} 棵 · 最深 {referrals['max_depth']:,} 级",
        )
        for row in referrals["top"]:
            table.add_row(
                f"{row['rank']}",
                f"{row['member_kind']}:{row['member_id']}",
                f"{row['direct']:,}",
                f"{row['total']:,}",
                f"{row['depth']:,}",
            )
        console.print(table)


def _nothing(session: Any, tenant: Any) -> None:
    """Read nothing from the database (analyses of the lake alone)."""


def _open_analysis(
    tenant: str | None, as_of: str | None, read: Callable[[Any, Any], _Read]
) -> tuple[Any, date, _Read]:
    """Return the tenant's lake, the as-of day, and what ``read(session, tenant)`` takes."""
    from qunyun.analytics.lake import open_lake
    from qunyun.events.actions import tenant_lake

    with _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        data = read(session, tenant_row)
    lake = open_lake(tenant_lake(tenant_row))
    return lake, _as_of_day(as_of, lake, tenant_row.timezone), data


def _export(out: Path, header: Any, rows: Any, note: str = "", *, for_excel: bool = False) -> None:
    """Write an analysis as CSV and say how many rows went where."""
    from qunyun.core.tabular import write_csv

    count = write_csv(out, header, rows, for_excel=for_excel)
    console.print(f"已导出 {count:,} 行到 {out}{note}")


def _as_of_day(as_of: str | None, lake: Any, zone: str) -> date:
    """Return the ``--as-of`` day, else the lake's last day, else today in ``zone``.

    Raise InvalidInput for a malformed date.
    """
    from qunyun.analytics.member_levels import latest_day
    from qunyun.core.clock import local_date, utcnow
    from qunyun.core.errors import InvalidInput

    if as_of is None:
        return latest_day(lake) or local_date(utcnow(), zone)
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise InvalidInput(f"--as-of {as_of!r} 不是日期：应为 YYYY-MM-DD") from None


# --- demo --------------------------------------------------------------------------------


@app.command(
    "demo", help="生成并导入演示品牌（租户 demo），创建演示账号并启动控制台。Build the demo brand."
)
def demo(
    stores: Annotated[int, typer.Option(help="门店数量。", min=100)] = 15_000,
    consumers: Annotated[
        int | None, typer.Option(help="消费者数量（默认按门店数的 4/3）。", min=0)
    ] = None,
    seed: Annotated[int, typer.Option(help="随机种子：同一种子生成同一品牌。")] = 20261123,
    days: Annotated[
        int, typer.Option(help="生成多少天的社群活动（事件），到昨天为止；0 为不生成。", min=0)
    ] = 90,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="构建后不启动控制台。")] = False,
    host: Annotated[str, typer.Option("--host", help="控制台监听地址。")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="控制台端口。", min=1, max=65535)] = 8000,
) -> None:
    """Build the demo brand (tenant ``demo``) through the same import path users take."""
    from qunyun.demo.build import DEMO_SLUG, build_demo

    home = get_settings().home
    with reported_errors():
        summary = build_demo(
            home / "demo",
            stores=stores,
            consumers=consumers,
            seed=seed,
            days=days,
            on_step=lambda message: console.print(message),
            progress_factory=_ImportProgress,
        )
    console.print()
    console.print(f"[bold green]演示品牌已就绪[/]：{summary}")
    console.print("接下来可以运行：")
    console.print(f"  qunyun status --tenant {DEMO_SLUG}        # 各类主数据数量与各省门店")
    console.print(
        f"  qunyun plan export --tenant {DEMO_SLUG} --out 社群成员.csv  # 导出终端店社群矩阵"
    )
    console.print(f"  qunyun import stores FILE --tenant {DEMO_SLUG}  # 导入你自己的门店表")
    console.print(f"  演示数据文件在 {home / 'demo'}")
    _print_demo_logins(host, port)
    if no_serve:
        return
    if not _stdin_is_terminal():
        console.print("（非交互运行：不启动控制台；需要时运行 qunyun serve）")
        return
    with reported_errors():
        _serve(host, port)


def _stdin_is_terminal() -> bool:
    """Return whether a person is at the keyboard (CI and scripts have no terminal)."""
    return sys.stdin.isatty()


def _print_demo_logins(host: str, port: int) -> None:
    from qunyun.demo.build import DEMO_PASSWORD, DEMO_SLUG
    from qunyun.org.models import ACCOUNT_ROLE_LABELS
    from qunyun.org.queries import list_accounts

    with reported_errors(), _unit_of_work() as session:
        accounts = list_accounts(session, _tenant(session, DEMO_SLUG))
        rows = [
            (a.username, ACCOUNT_ROLE_LABELS[a.role], a.staff_id or a.distributor_id or "")
            for a in accounts
        ]
    table = Table(
        "用户名",
        "角色",
        "对应员工 / 经销商",
        title=f"控制台 http://{host}:{port}/ · 租户 {DEMO_SLUG} · 密码 {DEMO_PASSWORD}",
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


# the operators' activation commands live in their own module, which uses the helpers above
from qunyun.cli import activation as _activation  # noqa: E402

_activation.register(app, redpacket_app)


def run() -> None:
    """Entry point used by ``python -m qunyun``."""
    app()


# --- commands kept in their own modules (they register themselves on ``app``) --------------

from qunyun.cli import draws as _draws  # noqa: E402, F401
from qunyun.cli import jobs as _jobs  # noqa: E402, F401
from qunyun.cli import relays as _relays  # noqa: E402, F401

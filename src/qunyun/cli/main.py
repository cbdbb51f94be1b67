"""The ``qunyun`` command: thin commands that parse, resolve the tenant, call one action, render."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

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
from rich.table import Table

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
) -> None:
    """Create a tenant (a brand)."""
    from qunyun.org.actions import do_create_tenant

    with reported_errors(), _unit_of_work() as session:
        tenant = do_create_tenant(session, slug, name, timezone)
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
    ("members_added", "加入成员"),
    ("members_removed", "移出成员"),
    ("members_moved", "其中换群"),
    ("staff_seats_added", "员工席位+"),
    ("staff_seats_removed", "员工席位-"),
)


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


@app.command("audit", help="检查终端店群是否违反规则；有问题时退出码为 1。Audit store groups.")
def audit(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON。")] = False,
) -> None:
    """List store groups that break a rule; exit 1 when any does."""
    from qunyun.groups.governance import audit_store_groups

    with reported_errors(), _unit_of_work() as session:
        breaches = audit_store_groups(session, _tenant(session, tenant))
    if as_json:
        rows = [{"group_id": b.group_id, "rule": b.rule, "detail": b.detail} for b in breaches]
        sys.stdout.write(json.dumps({"breaches": rows}, ensure_ascii=False) + "\n")
    elif breaches:
        table = Table("群", "规则", "详情", title=f"违规 {len(breaches):,} 项")
        for breach in breaches:
            table.add_row(breach.group_id, breach.rule, breach.detail)
        console.print(table)
    else:
        console.print("所有终端店群均符合规则。")
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
) -> None:
    """Serve the console and the REST API until interrupted."""
    with reported_errors():
        _serve(host, port)


def _serve(host: str, port: int) -> None:
    import uvicorn

    from qunyun.web.app import create_app

    console.print(f"控制台：http://{host}:{port}/    API 文档：http://{host}:{port}/api/docs")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


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


def run() -> None:
    """Entry point used by ``python -m qunyun``."""
    app()

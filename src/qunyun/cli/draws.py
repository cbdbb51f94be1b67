"""``qunyun draw …``: lucky draws (抽奖) whose seed is committed first and anyone can verify."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from qunyun.cli.main import (
    TenantOption,
    _local_time,
    _tenant,
    _unit_of_work,
    app,
    console,
    reported_errors,
)
from qunyun.core.clock import format_local

draw_app = typer.Typer(
    help="抽奖：开奖前公布种子哈希，开奖后公布种子，人人可验证（open / close / reveal / show / "
    "verify）。",
    no_args_is_help=True,
)
app.add_typer(draw_app, name="draw")

DrawId = Annotated[int, typer.Argument(help="抽奖编号。")]


def _print_results(results: list[tuple[int, str, str]], members: dict[str, str]) -> None:
    if not results:
        console.print("没有人报名，没有中奖者。")
        return
    for rank, ticket, prize in results:
        who = f" {members[ticket]}" if ticket in members else ""
        console.print(f"第 {rank} 名 · {prize} · 票号 {ticket}{who}")


@draw_app.command("open", help="在社群开一个抽奖（种子哈希随即公布）。Open a lucky draw.")
def draw_open(
    group: Annotated[str, typer.Option("--group", help="社群编号。")],
    title: Annotated[str, typer.Option("--title", help="抽奖标题。")],
    prize: Annotated[
        list[str] | None, typer.Option("--prize", help="奖品（按名次，可重复）。")
    ] = None,
    winners: Annotated[
        int | None, typer.Option("--winners", help="中奖人数（不列奖品时）。")
    ] = None,
    minutes: Annotated[int | None, typer.Option("--minutes", help="从现在起报名多少分钟。")] = None,
    closes_at: Annotated[
        str | None, typer.Option("--closes-at", help="报名截止：当地时间 YYYY-MM-DD HH:MM。")
    ] = None,
    opens_at: Annotated[
        str | None, typer.Option("--opens-at", help="报名开始：当地时间（默认现在）。")
    ] = None,
    tenant: TenantOption = None,
) -> None:
    """Open a lucky draw in a group and show its committed seed hash."""
    from qunyun.activation.draws import do_open_draw
    from qunyun.core.clock import utcnow
    from qunyun.core.errors import InvalidInput

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        zone = tenant_row.timezone
        if (minutes is None) == (closes_at is None):
            raise InvalidInput("--minutes / --closes-at：请给出其中一个报名截止方式")
        now = utcnow()
        closes = now + timedelta(minutes=minutes) if minutes is not None else None
        draw = do_open_draw(
            session,
            tenant_row,
            group,
            title,
            closes or _local_time(closes_at, zone),
            prizes=prize or [],
            winners=winners,
            entries_open_at=_local_time(opens_at, zone) if opens_at is not None else None,
            when=now,
        )
        draw_id, count, commitment = draw.id, draw.winners, draw.seed_hash
        closing = format_local(draw.entries_close_at, zone)
    console.print(f"已开抽奖 #{draw_id}（社群 {group}，{count} 名中奖，{closing} 截止报名）")
    console.print(f"承诺哈希 {commitment}（开奖后公布的种子的 SHA-256 必须等于它）")


@draw_app.command("close", help="立即截止报名并开奖（公布种子）。Close entries and reveal.")
def draw_close(
    draw_id: DrawId,
    reveal: Annotated[
        bool, typer.Option("--reveal/--no-reveal", help="截止后立即开奖（默认是）。")
    ] = True,
    tenant: TenantOption = None,
) -> None:
    """Close a draw's entries now and, unless ``--no-reveal``, draw its winners."""
    from qunyun.activation.draws import do_close_draw, do_draw_now, public_draw_verification

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        members: dict[str, str] = {}
        if reveal:
            ranked = do_draw_now(session, tenant_row, draw_id)
            members = {ticket: member for _, _, member, ticket in ranked}
        else:
            do_close_draw(session, tenant_row, draw_id)
        data = public_draw_verification(session, draw_id)
        closing = format_local(data.entries_close_at, tenant_row.timezone)
    console.print(f"抽奖 #{draw_id} 已截止报名（{closing}），{len(data.tickets):,} 人报名")
    if reveal:
        console.print(f"已开奖：种子 {data.seed}")
        _print_results(data.results, members)


@draw_app.command("reveal", help="报名截止后开奖（公布种子、算出中奖者）。Reveal a draw.")
def draw_reveal(draw_id: DrawId, tenant: TenantOption = None) -> None:
    """Reveal the seed of a draw whose entries closed and draw its winners."""
    from qunyun.activation.draws import do_reveal_draw, public_draw_verification

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        ranked = do_reveal_draw(session, tenant_row, draw_id)
        data = public_draw_verification(session, draw_id)
    console.print(f"抽奖 #{draw_id} 已开奖：种子 {data.seed}")
    _print_results(data.results, {ticket: member for _, _, member, ticket in ranked})


@draw_app.command("show", help="显示抽奖、报名者与中奖者。Show a draw and its entries.")
def draw_show(draw_id: DrawId, tenant: TenantOption = None) -> None:
    """Show a draw with its commitment, entries and (once drawn) seed and winners."""
    from qunyun.activation.draws import draw_detail

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        view = draw_detail(session, tenant_row, draw_id)
        zone = tenant_row.timezone
    data = view.verification
    labels = {"open": "报名中", "closed": "报名已截止，待开奖", "drawn": "已开奖"}
    console.print(f"抽奖 #{view.id} {data.title}（社群 {view.group_id}）：{labels[data.status]}")
    console.print(f"承诺哈希 {data.seed_hash}；种子 {data.seed or '（开奖后公布）'}")
    table = Table("成员", "票号", "报名时间", "名次", title=f"{len(view.entries):,} 人报名")
    for entry in view.entries:
        table.add_row(
            f"{entry.member_kind.value}:{entry.member_id}",
            entry.ticket,
            format_local(entry.entered_at, zone),
            "" if entry.rank is None else str(entry.rank),
        )
    console.print(table)


@draw_app.command("verify", help="按公开数据重新计算中奖者并核对。Verify a draw.")
def draw_verify(
    draw_id: Annotated[
        int | None, typer.Argument(help="抽奖编号（从数据库读取公开数据）。")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="改为核对这个 JSON 文件（API 的验证数据）。")
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save", help="把公开的验证数据另存为 JSON。")
    ] = None,
) -> None:
    """Recompute a draw's winners from its public data; exit 1 when anything does not match."""
    from qunyun.activation.draws import (
        check_verification,
        draw_winners,
        public_draw_verification,
        verification_from_record,
        verification_record,
    )
    from qunyun.core.errors import InvalidInput

    with reported_errors():
        if (draw_id is None) == (file is None):
            raise InvalidInput("请给出抽奖编号或 --file 其中之一")
        if file is not None:
            try:
                record: Any = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise InvalidInput(f"无法读取验证数据 {file}：{error}") from error
            if not isinstance(record, dict):
                raise InvalidInput(f"{file} 不是抽奖的验证数据（应为 JSON 对象）")
            data = verification_from_record(record)
        else:
            assert draw_id is not None
            with _unit_of_work() as session:
                data = public_draw_verification(session, draw_id)
        if save is not None:
            save.write_text(
                json.dumps(verification_record(data), ensure_ascii=False, indent=2),
                encoding="utf-8",
            )
    console.print(f"抽奖 #{data.draw_id} {data.title}：{len(data.tickets):,} 张报名票")
    console.print(f"承诺哈希 {data.seed_hash}")
    problems = check_verification(data)
    if problems:
        for problem in problems:
            console.print(f"[bold red]✗[/] {problem}")
        raise typer.Exit(1)
    console.print(f"种子 {data.seed}：SHA-256 与承诺哈希一致")
    assert data.seed is not None
    recomputed = draw_winners(data.seed, data.tickets, data.winners)
    console.print(f"重新计算的中奖票号：{', '.join(recomputed) or '（无人报名）'}")
    console.print("[bold green]✓ 验证通过[/]：公布的中奖者就是种子与报名列表算出的结果")

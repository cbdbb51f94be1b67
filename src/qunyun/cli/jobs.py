"""``qunyun jobs …``: the scheduled work (Huey) — run it once, or run a worker."""

from __future__ import annotations

from typing import Annotated

import typer

from qunyun.cli.main import AtOption, _local_time, app, console, reported_errors
from qunyun.core.money import format_yuan

jobs_app = typer.Typer(
    help="定时任务（Huey）：到期红包退回预算、拼团超时取消、接龙截单、抽奖开奖、红包与订单事件写入事件湖。",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("run", help="立即执行一遍到期的工作（可重复执行）。Run the due work once.")
def jobs_run(at: AtOption = None) -> None:
    """Run what has fallen due once, as the every-minute job does; safe to repeat."""
    from qunyun.core.settings import get_settings
    from qunyun.jobs import run_due_work

    with reported_errors():
        report = run_due_work(_local_time(at, get_settings().timezone))
    for slug, packets in report.expired_packets.items():
        refunded = sum(fen for _, fen in packets)
        console.print(f"{slug}：{len(packets):,} 个红包到期，¥{format_yuan(refunded)} 退回预算")
    for slug, teams in report.cancelled_teams.items():
        console.print(f"{slug}：{len(teams):,} 个拼团超时取消，库存已释放")
    for slug, cutoff in report.cutoffs.items():
        console.print(f"{slug}：接龙截单 #{cutoff['cutoff_id']}，{cutoff['orders']:,} 张订单")
    for slug, draws in report.revealed_draws.items():
        console.print(f"{slug}：{len(draws):,} 个抽奖已开奖（{', '.join(map(str, draws))}）")
    for slug, exported in report.exported_events.items():
        console.print(f"{slug}：{exported:,} 条活动事件已写入事件湖")
    for slug in report.busy_lakes:
        console.print(f"{slug}：事件湖正在导入，活动事件下次再写入")
    if not any(
        (
            report.expired_packets,
            report.cancelled_teams,
            report.cutoffs,
            report.revealed_draws,
            report.exported_events,
            report.busy_lakes,
        )
    ):
        console.print("没有到期的工作。")


@jobs_app.command("worker", help="运行定时任务进程（每分钟执行，Ctrl-C 停止）。Run a worker.")
def jobs_worker(
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="工作线程数。")] = 1,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule/--no-schedule",
            help="每分钟自动执行（默认是）；--no-schedule 只执行入队的任务（另有进程负责定时）。",
        ),
    ] = True,
) -> None:
    """Run a Huey consumer: the every-minute job and any job enqueued, until stopped."""
    from qunyun.core.settings import get_settings
    from qunyun.jobs import create_jobs

    with reported_errors():
        settings = get_settings()
        jobs = create_jobs(settings)
    where = "Redis" if settings.redis_url is not None else str(settings.home / "jobs.db")
    console.print(f"定时任务已启动（队列：{where}，{workers} 个线程），Ctrl-C 停止")
    jobs.huey.create_consumer(workers=workers, periodic=schedule, worker_type="thread").run()

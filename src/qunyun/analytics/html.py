"""``qunyun report --html``: one self-contained HTML file with the report's figures and charts.

The charts use the ECharts file vendored with the console's static assets, inlined into the
page: the file opens offline and never asks a CDN for anything.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from typing import Any

from qunyun.analytics.report import COHORT_WEEKS

ECHARTS = files("qunyun") / "web" / "static" / "vendor" / "echarts-5.6.0.min.js"
SECTIONS = {
    "overview": "概况",
    "levels": "成员等级",
    "health": "群健康度",
    "silence": "沉默的领导",
    "vip": "VIP 候选门店",
    "funnel": "AARRR 漏斗",
    "cohorts": "周留存（按入群周）",
    "reach": "内容逐级触达",
    "referrals": "推荐排行榜",
}
"""Section ids of the page and their headings, in page order."""

_STYLE = """
body { font-family: -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem;
       color: #222; max-width: 1100px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
td, th { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
.chart { width: 100%; height: 320px; } .note { color: #666; font-size: .85rem; }
"""

_SCRIPT = r"""
const R = JSON.parse(document.getElementById('report-data').textContent);
const chart = (id, option) => echarts.init(document.getElementById(id)).setOption(option);
const LEVELS = {core: '核心', active: '活跃', casual: '偶尔', lurker: '潜水'};
const HEALTH = {active: '活跃', quiet: '冷清', dormant: '沉睡', dead: '僵尸'};
const MATRIX = {dealer: '经销商群', store: '终端店群', consumer: '消费者群', vip: 'VIP群'};
chart('chart-levels', {tooltip: {}, series: [{type: 'pie', radius: '65%',
  data: Object.entries(R.member_levels).map(([k, v]) => ({name: LEVELS[k], value: v}))}]});
chart('chart-health', {tooltip: {}, xAxis: {type: 'category',
  data: Object.keys(R.group_health).map(k => HEALTH[k])}, yAxis: {type: 'value'},
  series: [{type: 'bar', data: Object.values(R.group_health)}]});
const provinces = Object.keys(R.vip_candidates.per_province || {});
chart('chart-vip', {tooltip: {}, xAxis: {type: 'category', data: provinces},
  yAxis: {type: 'value'}, series: [{type: 'bar',
  data: provinces.map(p => R.vip_candidates.per_province[p])}]});
const STEPS = ['acquired', 'activated', 'retained', 'revenue', 'referral'];
chart('chart-funnel', {tooltip: {}, legend: {}, xAxis: {type: 'category',
  data: ['入群 acquired', '激活 activated', '留存 retained', '下单 revenue', '推荐 referral']},
  yAxis: {type: 'value'}, series: R.funnel.map(row => ({type: 'bar', name: MATRIX[row.matrix],
  data: STEPS.map(s => row[s])}))});
const cells = [];
R.cohorts.forEach((c, y) => c.shares.forEach((s, x) => cells.push([x, y, s])));
chart('chart-cohorts', {tooltip: {}, xAxis: {type: 'category',
  data: Array.from({length: Math.max(0, ...R.cohorts.map(c => c.shares.length))},
    (_, i) => '第' + i + '周')},
  yAxis: {type: 'category', data: R.cohorts.map(c => c.cohort_week)},
  visualMap: {min: 0, max: 1, calculable: true, orient: 'horizontal', left: 'center', bottom: 0},
  series: [{type: 'heatmap', data: cells, label: {show: true,
  formatter: p => (p.value[2] * 100).toFixed(0) + '%'}}], grid: {bottom: 80}});
const TIERS = ['dealer', 'store', 'consumer'];
const rule = 1 - R.reach.rule_of_thumb_decay;
const first = R.reach.mean_share.dealer || 0;
chart('chart-reach', {tooltip: {}, legend: {}, xAxis: {type: 'category',
  data: ['经销商群', '终端店群', '消费者群']}, yAxis: {type: 'value', max: 1},
  series: [{type: 'bar', name: '平均覆盖率', data: TIERS.map(t => R.reach.mean_share[t])},
  {type: 'line', name: '经验值：每级衰减 30%', data: TIERS.map((t, i) => first * rule ** i)}]});
chart('chart-referrals', {tooltip: {}, legend: {}, yAxis: {type: 'category', inverse: true,
  data: R.referrals.top.map(r => r.member_id)}, xAxis: {type: 'value'},
  series: [{type: 'bar', name: '累计邀请', data: R.referrals.top.map(r => r.total)},
  {type: 'bar', name: '直接邀请', data: R.referrals.top.map(r => r.direct)}]});
"""


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _section(key: str, body: str, *, chart: bool = True) -> str:
    canvas = f'<div class="chart" id="chart-{key}"></div>' if chart else ""
    return f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{canvas}{body}</section>'


def render_html(report: dict[str, Any], title: str) -> str:
    """Return the whole page for a report (``CommunityReport.as_dict()``)."""
    week = report["last_7_days"]
    overview = _table(
        ["指标", "数值"],
        [
            ["事件总数", report["events"]],
            ["事件日期", f"{report['first_day'] or '—'} 至 {report['last_day'] or '—'}"],
            ["成员（含未登记）", report["members"]],
            ["有事件的群", report["groups"]],
            ["近 7 天消息", week["messages"]],
            ["近 7 天发言成员", week["senders"]],
            ["近 7 天入群 / 退群", f"{week['joins']:,} / {week['leaves']:,}"],
        ],
    )
    top_groups = _table(
        ["群", "状态", "客户消息", "发言客户"],
        [list(row.values()) for row in report["top_groups"]],
    )
    silence = _table(
        ["员工", "姓名", "角色", "所在群"], [list(row.values()) for row in report["silent_leaders"]]
    )
    vip = report["vip_candidates"]
    vip_table = _table(
        ["省份代码", "门店", "价值（分）", "近 90 天订单（分）", "活跃分", "等级"],
        [list(row.values()) for row in vip["top"]],
    )
    funnel = _table(
        ["矩阵", "入群", "激活", "留存", "下单", "推荐"],
        [list(row.values()) for row in report["funnel"]],
    )
    cohorts = _table(
        ["入群周", "人数", *(f"第{week}周" for week in range(COHORT_WEEKS))],
        [[c["cohort_week"], c["members"], *c["shares"]] for c in report["cohorts"]],
    )
    reach = report["reach"]
    reach_table = _table(
        [
            "内容",
            "经销商群覆盖",
            "门店群覆盖",
            "门店延迟（小时）",
            "门店衰减",
            "消费者群覆盖",
            "消费者延迟（小时）",
            "消费者衰减",
        ],
        [
            [
                row["content_id"],
                row["dealer_share"],
                row["store_share"],
                row["store_delay_hours"],
                row["store_decay"],
                row["consumer_share"],
                row["consumer_delay_hours"],
                row["consumer_decay"],
            ]
            for row in reach["contents"]
        ],
    )
    referrals = report["referrals"]
    referral_table = _table(
        ["名次", "成员类型", "成员", "直接邀请", "累计邀请", "链深"],
        [list(row.values()) for row in referrals["top"]],
    )
    decays = " · ".join(f"{tier} {_cell(value)}" for tier, value in reach["mean_decay"].items())
    body = "".join(
        [
            _section("overview", overview + top_groups, chart=False),
            _section("levels", ""),
            _section("health", ""),
            _section("silence", silence, chart=False),
            _section("vip", f"<p>候选门店 {vip['stores']:,} 家</p>" + vip_table),
            _section("funnel", funnel),
            _section("cohorts", cohorts),
            _section(
                "reach",
                f'<p class="note">平均每级衰减：{html.escape(decays)}；'
                f"经验值（种子文章）：每经过一级信息衰减 "
                f"{reach['rule_of_thumb_decay']:.0%}</p>" + reach_table,
            ),
            _section(
                "referrals",
                f"<p>被邀请 {referrals['invitees']:,} 人 · 邀请人 {referrals['inviters']:,} · "
                f"推荐树 {referrals['trees']:,} 棵 · 最深 {referrals['max_depth']:,} 级</p>"
                + referral_table,
            ),
        ]
    )
    data = json.dumps(report, ensure_ascii=False).replace("</", "<\\/")
    echarts = ECHARTS.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}"
        f'<script type="application/json" id="report-data">{data}</script>'
        f"<script>{echarts}</script><script>{_SCRIPT}</script></body></html>"
    )

"""ECharts options of the console's analytics (plain data; console.js draws them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from qunyun.analytics.figures import CommunityFigures
from qunyun.analytics.group_health import STATUSES
from qunyun.web.console.i18n import translate

HEALTH_COLOURS = {"active": "#15803d", "quiet": "#ca8a04", "dormant": "#9ca3af", "dead": "#b91c1c"}
LEVELS = ("core", "active", "casual", "lurker")


@dataclass(frozen=True)
class Activity:
    """Figures of some groups: health counts and the daily series, as ECharts options."""

    as_of: date
    health: dict[str, int]
    health_chart: str
    trend_chart: str


def _dump(option: dict[str, Any]) -> str:
    return json.dumps(option, ensure_ascii=False)


def activity(figures: CommunityFigures, group_ids: list[str], lang: str) -> Activity:
    """Return the health counts and active-member trend of ``group_ids``."""
    counts = figures.health_counts(group_ids)
    order = list(reversed(STATUSES))
    health_chart = {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "pie",
                "radius": ["40%", "70%"],
                "data": [
                    {
                        "name": translate(lang, f"health_{status}"),
                        "value": counts[status],
                        "itemStyle": {"color": HEALTH_COLOURS[status]},
                    }
                    for status in order
                ],
            }
        ],
    }
    active, _ = figures.daily(group_ids)
    return Activity(
        figures.as_of,
        {status: counts[status] for status in order},
        _dump(health_chart),
        _dump(_daily_chart(figures, active, translate(lang, "active_members"))),
    )


def group_activity(figures: CommunityFigures, group_id: str, lang: str) -> str:
    """Return the chart of one group's messages (and speakers) per day."""
    active, messages = figures.daily([group_id])
    option = _daily_chart(figures, messages, translate(lang, "messages"), bar=True)
    option["series"].append(
        {"type": "line", "name": translate(lang, "active_members"), "data": active}
    )
    option["legend"] = {"top": 0}
    return _dump(option)


def _daily_chart(
    figures: CommunityFigures, values: list[int], name: str, *, bar: bool = False
) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [day.strftime("%m-%d") for day in figures.days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar" if bar else "line", "name": name, "data": values}],
        "grid": {"left": 40, "right": 10, "top": 30, "bottom": 30},
    }

"""Joins and leaves per day as the bars of a server-rendered SVG chart: no script needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# The SVG's own units; CSS scales the chart to the page's width.
DAY_WIDTH = 10
BAR_WIDTH = 4
HEIGHT = 100


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float


@dataclass(frozen=True)
class Day:
    day: date
    joins: int
    leaves: int
    join_bar: Bar
    leave_bar: Bar


@dataclass(frozen=True)
class DailyChart:
    days: list[Day]
    peak: int  # the tallest bar's value: the chart's scale

    @property
    def width(self) -> int:
        return len(self.days) * DAY_WIDTH

    @property
    def height(self) -> int:
        return HEIGHT

    @property
    def bar_width(self) -> int:
        return BAR_WIDTH

    @property
    def axis_days(self) -> list[date]:
        """The dates written under the chart: its first, middle and last day."""
        if not self.days:
            return []
        picks = {0, len(self.days) // 2, len(self.days) - 1}
        return [self.days[index].day for index in sorted(picks)]

    @property
    def total_joins(self) -> int:
        return sum(day.joins for day in self.days)

    @property
    def total_leaves(self) -> int:
        return sum(day.leaves for day in self.days)


def daily_chart(
    *, first_day: date, last_day: date, joins: dict[date, int], leaves: dict[date, int]
) -> DailyChart:
    """Every day from first_day to last_day, with a bar for its joins and one for its leaves,
    scaled so that the busiest day's bar fills the chart."""
    count = (last_day - first_day).days + 1
    days = [first_day + timedelta(days=offset) for offset in range(count)]
    peak = max([1, *joins.values(), *leaves.values()])

    def bar(index: int, value: int, shift: int) -> Bar:
        height = HEIGHT * value / peak
        return Bar(x=index * DAY_WIDTH + shift, y=HEIGHT - height, height=height)

    return DailyChart(
        days=[
            Day(
                day=day,
                joins=joins.get(day, 0),
                leaves=leaves.get(day, 0),
                join_bar=bar(index, joins.get(day, 0), 1),
                leave_bar=bar(index, leaves.get(day, 0), 1 + BAR_WIDTH),
            )
            for index, day in enumerate(days)
        ],
        peak=peak,
    )

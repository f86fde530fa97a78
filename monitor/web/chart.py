"""A small server-rendered SVG line chart: articles per day per topic, no JavaScript."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
WIDTH, HEIGHT, PAD = 760, 240, 36


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    points: str
    total: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    days: list[str]
    peak: int
    x_labels: list[tuple[float, str]]
    y_labels: list[tuple[float, str]]


def line_chart(rows: list[tuple[str, str, int]]) -> Chart | None:
    """``rows`` are (day, topic, count); missing days count as zero."""
    if not rows:
        return None
    first = date.fromisoformat(min(r[0] for r in rows))
    last = date.fromisoformat(max(r[0] for r in rows))
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    counts: dict[str, dict[str, int]] = {}
    for day, topic, count in rows:
        counts.setdefault(topic, {})[day] = count
    peak = max(max(c.values()) for c in counts.values())
    span_x = WIDTH - 2 * PAD
    span_y = HEIGHT - 2 * PAD

    def x(i: int) -> float:
        return PAD + (span_x * i / max(1, len(days) - 1))

    def y(n: int) -> float:
        return HEIGHT - PAD - span_y * n / max(1, peak)

    series = []
    for index, topic in enumerate(sorted(counts)):
        points = " ".join(
            f"{x(i):.1f},{y(counts[topic].get(d, 0)):.1f}" for i, d in enumerate(days)
        )
        series.append(
            Series(topic, PALETTE[index % len(PALETTE)], points, sum(counts[topic].values()))
        )
    step = max(1, len(days) // 6)
    x_labels = [(x(i), days[i][5:]) for i in range(0, len(days), step)]
    y_labels = [(y(v), str(v)) for v in sorted({0, peak // 2, peak})]
    return Chart(WIDTH, HEIGHT, series, days, peak, x_labels, y_labels)

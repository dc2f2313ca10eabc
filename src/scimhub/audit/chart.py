"""The activity chart: requests per hour or day, stacked by outcome, drawn as SVG on the server."""

from __future__ import annotations

import datetime as dt
from html import escape

from scimhub.audit.queries import HourlyCount
from scimhub.audit.vocabulary import OUTCOMES, Outcome

ORDER = OUTCOMES  # bottom to top of each bar, and the legend
COLOURS: dict[str, str] = {  # one per outcome (tests/unit/test_activity_filter.py checks)
    Outcome.SUCCESS: "#2da44e",
    Outcome.NOT_FOUND: "#8c959f",
    Outcome.CONFLICT: "#d4a72c",
    Outcome.FAILURE: "#cf222e",
}


def bucket_for(since: dt.datetime, until: dt.datetime) -> str:
    return "hour" if until - since <= dt.timedelta(hours=72) else "day"


def series(
    rows: list[HourlyCount], since: dt.datetime, until: dt.datetime, bucket: str
) -> list[tuple[dt.datetime, dict[str, int]]]:
    step = dt.timedelta(hours=1) if bucket == "hour" else dt.timedelta(days=1)
    start = since.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    slots: dict[dt.datetime, dict[str, int]] = {}
    t = start
    while t < until and len(slots) < 400:
        slots[t] = {}
        t += step
    for r in rows:
        key = r.hour if bucket == "hour" else r.hour.replace(hour=0)
        if key in slots:
            slots[key][r.outcome] = slots[key].get(r.outcome, 0) + r.n
    return list(slots.items())


def render_svg(
    points: list[tuple[dt.datetime, dict[str, int]]], bucket: str, *, width: int = 900, height: int = 220
) -> str:
    pad_l, pad_b, pad_t = 48, 28, 12
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    peak = max((sum(v.values()) for _, v in points), default=0) or 1
    n = max(1, len(points))
    bar = plot_w / n
    total = sum(sum(v.values()) for _, v in points)
    label = f"Requests per {bucket} by outcome: {total} in all"
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}" class="chart"><title>{escape(label)}</title>'
        )
    ]
    for frac in (0, 0.5, 1) if peak >= 4 else (0, 1):
        y = pad_t + plot_h * (1 - frac)
        parts.append(f'<line x1="{pad_l}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        parts.append(
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{int(peak * frac)}</text>'
        )
    every = max(1, n // 8)
    for i, (t, counts) in enumerate(points):
        x = pad_l + i * bar
        y = pad_t + plot_h
        for outcome in ORDER:
            v = counts.get(outcome, 0)
            if not v:
                continue
            h = plot_h * v / peak
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, bar - 2):.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[outcome]}"><title>{t:%Y-%m-%d %H:00} {outcome}: {v}</title></rect>'
            )
        if i % every == 0:
            text = f"{t:%H:00}" if bucket == "hour" else f"{t:%m-%d}"
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="11">{text}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)

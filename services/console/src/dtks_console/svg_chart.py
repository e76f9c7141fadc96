"""A horizontal bar chart drawn on the server as SVG: no chart library, no script, a few hundred
bytes per bar, readable without colour (every bar carries its number and its label as text)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

ROW = 28  # pixels per bar
LABEL_WIDTH = 260
BAR_WIDTH = 380
NUMBER_WIDTH = 160


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    note: str = ""  # beside the number, e.g. the oldest item's age
    alarm: bool = False  # drawn in the alarm colour (and marked with "!" for those who see no colour)


def bar_chart(bars: list[Bar], *, title: str) -> str:
    """The chart as an ``<svg>`` element with a ``<title>`` for screen readers."""
    width = LABEL_WIDTH + BAR_WIDTH + NUMBER_WIDTH
    height = max(1, len(bars)) * ROW + 8
    largest = max((b.value for b in bars), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = 4 + i * ROW
        length = max(2, round(BAR_WIDTH * bar.value / largest)) if bar.value else 0
        colour = "#a40000" if bar.alarm else "#0b5394"
        number = f"{bar.value:,}" + (f" · {bar.note}" if bar.note else "") + (" !" if bar.alarm else "")
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end" fill="#1b1b1b">{escape(bar.label)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length}" height="{ROW - 10}" fill="{colour}"/>',
            f'<text x="{LABEL_WIDTH + length + 6}" y="{y + 17}" fill="#1b1b1b">{escape(number)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)

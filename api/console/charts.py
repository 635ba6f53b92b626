"""Bar charts drawn on the server as SVG: no chart library, nothing loaded from elsewhere,
the same picture in every browser and in a screenshot.

Each chart is an `<svg role="img">` named by its title and described by a sentence, and every
page shows the same figures as a table beside it, so nothing is told by the picture alone
(WCAG 1.1.1, 1.4.1). Bar colours keep at least 3:1 contrast with the white background
(WCAG 1.4.11); text is near-black.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

COLOURS = ("#0066cc", "#00734f")  # Bootstrap Italia primary; a green of 5.6:1 on white
TEXT = "#1a1a1a"
WIDTH, LABEL_WIDTH, VALUE_WIDTH = 720, 230, 130
BAR_HEIGHT, GAP, LEGEND = 18, 14, 28


@dataclass(frozen=True)
class Row:
    label: str
    values: tuple[float, ...]
    texts: tuple[str, ...]


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(ident: str, title: str, description: str, rows: list[Row],
              series: tuple[str, ...] = ()) -> Markup:
    """Horizontal bars, one group per row and one bar per series; `series` names the bars
    (a legend is drawn when there are two or more)."""
    count = max((len(r.values) for r in rows), default=1)
    top = LEGEND if len(series) > 1 else 0
    group = count * BAR_HEIGHT + GAP
    height = top + max(len(rows), 1) * group + GAP
    largest = max((v for r in rows for v in r.values), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [f'<svg class="chart" role="img" aria-labelledby="{ident}-title {ident}-desc" '
             f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{ident}-title">{escape(title)}</title>',
             f'<desc id="{ident}-desc">{escape(description)}</desc>']
    if len(series) > 1:
        x = LABEL_WIDTH
        for index, name in enumerate(series):
            parts.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{COLOURS[index]}"/>'
                         f'<text x="{x + 20}" y="18" fill="{TEXT}">{escape(name)}</text>')
            x += 30 + 9 * len(name)
    for position, row in enumerate(rows):
        y = top + GAP + position * group
        middle = y + count * BAR_HEIGHT / 2 + 5
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{middle:.0f}" text-anchor="end" '
                     f'fill="{TEXT}">{escape(_short(row.label))}</text>')
        for index, (value, text) in enumerate(zip(row.values, row.texts, strict=True)):
            length = max(span * value / largest, 1 if value else 0)
            bar_y = y + index * BAR_HEIGHT
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{bar_y}" width="{length:.1f}" '
                         f'height="{BAR_HEIGHT - 3}" fill="{COLOURS[index % len(COLOURS)]}"/>'
                         f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{bar_y + 13}" '
                         f'fill="{TEXT}">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped

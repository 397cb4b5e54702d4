"""Overview charts as SVG, drawn server-side by pygal (no script runs in the browser for them).

pygal's own tooltip script and its inline configuration script are left out (the console's CSP admits no
inline script); its `<style>` element carries the page's CSP nonce. Every point keeps pygal's
``<desc class="value">`` so a reader (or a test) can read the plotted numbers back from the SVG.
"""

from __future__ import annotations

import re
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_STYLE_ATTRIBUTE = re.compile(r' style="[^"]*"')
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#9aa5b1",
    colors=("#2563eb",),
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
)


def _hour_label(hour: str) -> str:
    return hour[11:16] if len(hour) >= 16 else hour


def line_chart(
    chart_id: str, title: str, series: list[dict[str, Any]], field: str, nonce: str | None, unit: str = ""
) -> Markup:
    """One hourly series (``field`` of each timeseries point) as an inline SVG line chart."""
    chart = pygal.Line(
        js=[],
        style=STYLE,
        width=720,
        height=260,
        show_legend=False,
        disable_xml_declaration=True,
        x_label_rotation=0,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, len(series) // 6),
        truncate_label=-1,
        allow_interruptions=True,
        dots_size=2,
        title=title,
        value_formatter=lambda value: f"{value:g}{unit}" if value is not None else "—",
    )
    chart.x_labels = [_hour_label(point["hour"]) for point in series]
    chart.add(title, [point.get(field) for point in series])
    svg = chart.render(is_unicode=True)
    svg = _STYLE_ATTRIBUTE.sub("", _SCRIPT.sub("", svg))
    if nonce:
        svg = svg.replace("<style", f'<style nonce="{nonce}"', 1)
    svg = svg.replace(
        'class="pygal-chart"', f'class="pygal-chart chart" data-chart="{chart_id}" role="img" aria-label="{title}"', 1
    )
    return Markup(svg)

"""Calls per day as an inline SVG: no script, no network, prints the same in a PDF.

Bars are calls (connected dark, unanswered light); a triangle under a bar marks
night calls, a red dot with a number counts the findings in that day's recordings
(every finding, not every sentence), and a red outline marks a day over the daily cap.
"""

from __future__ import annotations

from html import escape

from .data import Day

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 34, 10, 24, 56


def _width(text: str) -> int:
    """Rough width in px of ``text`` at the chart's 10 px font (a Chinese character is square)."""
    return sum(10 if ord(c) > 0x2e80 else 6 for c in text)


def _count(labels: dict, forms: str, word: str, n: int) -> str:
    """ "1 call" / "3 calls": the label pair when the labels have one, else number and word."""
    pair = labels.get(forms)
    if pair:
        return (pair[0] if n == 1 else pair[1]).format(n=n)
    return f"{n} {labels[word]}"


def calls_per_day(days: list[Day], labels: dict[str, str]) -> str:
    """An SVG (text) for ``days``; an empty string when there is nothing to draw."""
    if not days:
        return ""
    top = max(1, max(d.calls for d in days))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(days)
    bar = max(1.0, min(24.0, step * 0.7))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(labels["chart_title"])}">',
           '<style>text{font-size:10px;fill:#333}</style>']
    for v in sorted({0, top // 2, top}):  # gridlines
        y = TOP + plot_h - plot_h * v / top
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{v}</text>')
    every = max(1, round(len(days) / 12))
    for i, d in enumerate(days):
        x = LEFT + i * step + (step - bar) / 2
        h_all = plot_h * d.calls / top
        h_conn = plot_h * d.connected / top
        base = TOP + plot_h
        tip = (f"{d.day}: {_count(labels, 'calls_n', 'chart_calls', d.calls)}, "
               f"{d.connected} {labels['connected']}, {d.night} {labels['night']}, "
               f"{_count(labels, 'findings_n', 'chart_findings', d.findings)}")
        out.append(f'<g><title>{escape(tip)}</title>')
        if d.calls:
            out.append(f'<rect x="{x:.1f}" y="{base - h_all:.1f}" width="{bar:.1f}" '
                       f'height="{h_all:.1f}" fill="#9ecae1"/>')
        if d.connected:
            out.append(f'<rect x="{x:.1f}" y="{base - h_conn:.1f}" width="{bar:.1f}" '
                       f'height="{h_conn:.1f}" fill="#3182bd"/>')
        if d.over_cap:
            out.append(f'<rect x="{x - 1:.1f}" y="{base - h_all - 1:.1f}" width="{bar + 2:.1f}" '
                       f'height="{h_all + 2:.1f}" fill="none" stroke="#d62728" stroke-width="2"/>')
        cx = x + bar / 2
        if d.night:
            out.append(f'<path d="M{cx - 4:.1f},{base + 12} L{cx + 4:.1f},{base + 12} '
                       f'L{cx:.1f},{base + 5} Z" fill="#222"/>')
        if d.findings:
            y = base - h_all - 9
            out.append(f'<circle cx="{cx:.1f}" cy="{y:.1f}" r="7" fill="#d62728"/>'
                       f'<text x="{cx:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" '
                       f'style="fill:#fff;font-size:9px">{d.findings}</text>')
        out.append('</g>')
        if i % every == 0:
            out.append(f'<text x="{cx:.1f}" y="{base + 24}" text-anchor="middle">{d.day[5:]}</text>')
    legend_y = HEIGHT - 10
    items = [("#3182bd", labels["connected"]), ("#9ecae1", labels["unanswered"])]
    x = LEFT
    for color, name in items:
        out.append(f'<rect x="{x}" y="{legend_y - 8}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{legend_y + 1}">{escape(name)}</text>')
        x += 24 + _width(name)
    out.append(f'<path d="M{x},{legend_y + 2} L{x + 8},{legend_y + 2} L{x + 4},{legend_y - 6} Z" '
               f'fill="#222"/><text x="{x + 12}" y="{legend_y + 1}">{escape(labels["night"])}</text>')
    x += 30 + _width(labels["night"])
    out.append(f'<circle cx="{x + 5}" cy="{legend_y - 2}" r="5" fill="#d62728"/>'
               f'<text x="{x + 14}" y="{legend_y + 1}">{escape(labels["chart_findings_legend"])}</text>')
    x += 30 + _width(labels["chart_findings_legend"])
    out.append(f'<rect x="{x}" y="{legend_y - 8}" width="10" height="10" fill="none" '
               f'stroke="#d62728" stroke-width="2"/>'
               f'<text x="{x + 14}" y="{legend_y + 1}">{escape(labels["over_cap"])}</text>')
    out.append('</svg>')
    return "".join(out)

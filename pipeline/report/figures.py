"""The report's charts as inline SVG (no script, no CDN: the page works from a file and offline)."""
from __future__ import annotations

from typing import Sequence

WIDTH, HEIGHT, MARGIN = 720, 200, 44
STATUS_COLOURS = {"converted": "#2f855a", "skipped": "#a0aec0", "failed": "#c53030"}
MAX_BINS = 60


def _axes(x_label: str, y_label: str, y_max: str, duration: float) -> list[str]:
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    return [
        f'<line x1="{MARGIN}" y1="{MARGIN + plot_h}" x2="{MARGIN + plot_w}" y2="{MARGIN + plot_h}" stroke="#444"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{MARGIN + plot_h}" stroke="#444"/>',
        f'<text x="{MARGIN - 6}" y="{MARGIN + 4}" text-anchor="end">{y_max}</text>',
        f'<text x="{MARGIN - 6}" y="{MARGIN + plot_h}" text-anchor="end">0</text>',
        f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 16}">0 s</text>',
        f'<text x="{MARGIN + plot_w}" y="{HEIGHT - MARGIN + 16}" text-anchor="end">{duration:.0f} s</text>',
        f'<text x="{MARGIN + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">{x_label}</text>',
        f'<text x="12" y="{MARGIN + plot_h / 2}" transform="rotate(-90 12 {MARGIN + plot_h / 2})" '
        f'text-anchor="middle">{y_label}</text>',
    ]


def _svg(parts: list[str], height: int = HEIGHT, label: str = "") -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label="{label}" font-size="11" font-family="sans-serif">'
            + "".join(parts) + "</svg>")


def throughput_chart(finished: Sequence[float], duration: float, unit: str) -> str:
    """Converted inputs per second over the run, from each input's finish time (seconds since the
    run started), in up to MAX_BINS equal bins: where the run slowed down shows as a dip."""
    if not finished or duration <= 0:
        return ""
    bins = max(1, min(MAX_BINS, int(duration)))
    width = duration / bins
    counts = [0] * bins
    for t in finished:
        counts[min(bins - 1, max(0, int(t / width)))] += 1
    rates = [count / width for count in counts]
    peak = max(rates) or 1.0
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    bar = plot_w / bins
    bars = [f'<rect x="{MARGIN + k * bar:.1f}" y="{MARGIN + plot_h * (1 - r / peak):.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{plot_h * r / peak:.1f}" fill="#3182ce"><title>{k * width:.0f}-{(k + 1) * width:.0f} s: '
            f'{r:.2f} {unit}/s</title></rect>' for k, r in enumerate(rates)]
    return _svg(_axes("time since the run started", f"{unit}/s", f"{peak:.2f}", duration) + bars,
                label=f"{unit} per second over the run")


def segment_timeline(spans: Sequence[tuple[str, float, float, str]], duration: float) -> str:
    """One bar a segment from when it started to when it finished (seconds since the run started),
    coloured by status; the label is its frame range."""
    if not spans or duration <= 0:
        return ""
    row = max(2.0, min(14.0, 400 / len(spans)))
    plot_w = WIDTH - 2 * MARGIN
    height = int(2 * MARGIN + row * len(spans))
    bars = []
    for k, (label, start, end, status) in enumerate(spans):
        x0, x1 = MARGIN + plot_w * start / duration, MARGIN + plot_w * end / duration
        bars.append(f'<rect x="{x0:.1f}" y="{MARGIN + k * row:.1f}" width="{max(x1 - x0, 1):.1f}" '
                    f'height="{max(row - 1, 1):.1f}" fill="{STATUS_COLOURS.get(status, "#718096")}">'
                    f'<title>{label}: {status}, {end - start:.1f} s</title></rect>')
    axis = [f'<line x1="{MARGIN}" y1="{height - MARGIN}" x2="{MARGIN + plot_w}" y2="{height - MARGIN}" stroke="#444"/>',
            f'<text x="{MARGIN}" y="{height - MARGIN + 16}">0 s</text>',
            f'<text x="{MARGIN + plot_w}" y="{height - MARGIN + 16}" text-anchor="end">{duration:.0f} s</text>',
            f'<text x="{MARGIN}" y="{MARGIN - 8}">segments (top: first), from start to finish</text>']
    return _svg(axis + bars, height, label="segment timeline")

"""The one plotting helper: matplotlib figures drawn straight to PNG bytes.

Figures are made with :class:`matplotlib.figure.Figure` and rendered by the Agg canvas, so the
process-wide backend (a notebook's, a user's GUI) is never touched and pyplot's global state is
never used.
"""

from __future__ import annotations

import io
from typing import Dict, List, Optional, Sequence, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D


def new_figure(width: float, height: float, dpi: int = 110) -> Figure:
    """A figure of ``width`` x ``height`` inches with its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def line_plot(xs: Sequence[str], series: dict, ylabel: str, title: str = "",
              references: Optional[dict] = None, xlabel: str = "") -> bytes:
    """A small line plot (categorical x) as PNG bytes. ``series``: name -> one y per x (``None``
    leaves a gap); ``references``: name -> a y drawn as a dashed horizontal line."""
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    for name, ys in series.items():
        ax.plot(range(len(xs)), [float("nan") if y is None else y for y in ys], marker="o", label=name)
    styles = [("--", "0.35"), (":", "0.55"), ("-.", "0.45"), ((0, (1, 3)), "0.6")]
    for k, (name, y) in enumerate((references or {}).items()):  # each reference line drawn its own way
        style, color = styles[k % len(styles)]
        ax.axhline(y, linestyle=style, color=color, linewidth=1.2, label=name)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    # below the axes: a legend inside would cover the curves or the reference lines
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if not xlabel else -0.2), ncol=2, frameon=False, fontsize=8)
    fig.tight_layout()
    return to_png(fig)


def curve(xs: Sequence[float], series: dict, xlabel: str, ylabel: str, title: str = "",
          xticklabels: Optional[Sequence[str]] = None, ylim: Optional[Tuple[float, float]] = None) -> bytes:
    """Lines over a numeric x (spaced by value, each point marked and labeled ``xticklabels``)."""
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    for name, ys in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=name)
    ax.set_xticks(list(xs))
    if xticklabels is not None:
        ax.set_xticklabels(list(xticklabels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", frameon=False, fontsize=9)
    fig.tight_layout()
    return to_png(fig)


def matrix_plot(m: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], xlabel: str, ylabel: str,
                title: str) -> bytes:
    """A matrix in [0, 1] as a colored table with its values written in."""
    fig = new_figure(1.6 + 1.3 * len(cols), 1.2 + 1.1 * len(rows))
    ax = fig.subplots()
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(cols)), cols, rotation=20)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.6 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return to_png(fig)


def scatter_panels(panels: Dict[str, Dict[str, List[Tuple[float, float]]]], star: Dict[str, Tuple[float, float]],
                   xlabel: str, ylabel: str, xmin: float, vline: float, markers: Dict[str, str],
                   star_label: str) -> bytes:
    """One panel per key of ``panels`` (title -> series name -> points joined by a line) with a star
    at ``star[title]``, a log x axis from ``xmin`` and a dotted vertical line at ``vline``; one
    legend below all panels."""
    titles = list(panels)
    cols = min(len(titles), 3)
    nrows = -(-len(titles) // cols)
    fig = new_figure(3.4 * cols, 3.0 * nrows + 0.5)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, title in zip(axes.flat, titles):
        for name, pts in panels[title].items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers.get(name, "o"), label=name)
        ax.plot([star[title][0]], [star[title][1]], "k*", markersize=10)
        ax.axvline(vline, color="0.6", linestyle=":", linewidth=1)
        ax.set_title(title, fontsize=12)
        ax.set_xscale("log")
        ax.set_xlim(xmin / 1.3, 1.3)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.set_xlabel(xlabel, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=10)
        ax.tick_params(labelsize=10)
    for ax in list(axes.flat)[len(titles):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="k", marker="*", linestyle="", markersize=10))
    labels.append(star_label)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return to_png(fig)

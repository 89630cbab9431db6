"""The report's plots as SVG text, drawn with matplotlib (the optional ``[viz]`` extra).

matplotlib is imported inside the functions that draw, so the rest of the report (and
``import treenn.report``) works without it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np

from treenn.report.analysis import Group


def _figure(width: float, height: float):
    """A matplotlib figure (inches) on the Agg canvas, outside pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_svg(fig) -> str:
    """The figure as SVG text (text kept as text, reproducible ids, no date)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "treenn"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight")
    return buf.getvalue()


def plot_buckets(title: str, xlabel: str, labels: Sequence[str], series: dict[str, list[float]],
                 counts: Sequence[int]) -> str:
    """Root accuracy per bucket (``labels``, ``counts`` sentences each), one line per model
    of ``series`` (model name -> accuracy per bucket, as fractions)."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    for name, accs in series.items():
        ax.plot(x, 100 * np.asarray(accs), marker="o", label=name)
    ax.set_xticks(x, [f"{lab}\n(n={c})" for lab, c in zip(labels, counts, strict=True)],
                  fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("root accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_svg(fig)


def plot_confusions(title: str, groups: Sequence[Group], class_names: Sequence[str]) -> str:
    """Root confusion matrices, one panel per model; ``class_names`` label the axes."""
    k = len(groups)
    cols = min(k, 3)
    rows = math.ceil(k / cols)
    size = 2.6 if len(class_names) <= 5 else 3.6
    fig = _figure(cols * size + 0.6, rows * size + 0.6)
    for i, g in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        m = np.sum([np.asarray(r.test["root"]["confusion"]) for r in g.runs], axis=0)
        norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for (a, b), v in np.ndenumerate(m):
            ax.text(b, a, str(v), ha="center", va="center", fontsize=6 if len(m) > 5 else 7,
                    color="white" if norm[a, b] > 0.6 else "black")
        ticks = np.arange(len(class_names))
        ax.set_xticks(ticks, class_names, fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("gold", fontsize=8)
        ax.set_title(g.label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return figure_svg(fig)


def plot_curves(title: str, groups: Sequence[Group]) -> str:
    """Training loss and dev root accuracy per epoch, one line per model (mean over seeds,
    with a min-max band when there are several)."""
    fig = _figure(9, 3.4)
    axes = fig.subplots(1, 2)
    for g in groups:
        by_epoch: dict[int, list[dict]] = {}
        for r in g.runs:
            for m in r.metrics:
                by_epoch.setdefault(m["epoch"], []).append(m)
        epochs = sorted(by_epoch)
        for ax, key, scale in ((axes[0], "train_loss", 1), (axes[1], "dev_root_acc", 100)):
            vals = [[scale * m[key] for m in by_epoch[e]] for e in epochs]
            mean = [float(np.mean(v)) for v in vals]
            (line,) = ax.plot(epochs, mean, marker=".", label=g.label)
            if len(g.runs) > 1:
                ax.fill_between(epochs, [min(v) for v in vals], [max(v) for v in vals],
                                alpha=0.15, color=line.get_color())
    axes[0].set_title("training loss per tree")
    axes[1].set_title("dev root accuracy (%)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return figure_svg(fig)

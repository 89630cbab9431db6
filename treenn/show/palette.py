"""Colours of the pictures: one per class, the node decorations, the legend's swatches.

Every format (terminal, SVG, HTML, PNG) takes its colours from here, so a class has the same
colour everywhere and the legend's swatches are the ones the nodes use.
"""

from __future__ import annotations

from treenn.data.tasks import TASKS

#: The Stanford Sentiment Treebank palette, very negative to very positive (the tasks own it).
SENTIMENT5_COLORS = TASKS["sst5"].colors
SENTIMENT2_COLORS = TASKS["sst2"].colors
#: Ten distinguishable colours for ListOps values 0-9 (and any other task).
CATEGORICAL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: Colours of the node decorations (outline of a right / wrong node, nodes without a value).
OK_STROKE, WRONG_STROKE = "#555555", "#000000"
NONE_FILL, NONE_STROKE = "#f2f2f2", "#bbbbbb"
#: The legend's "predicted class (no gold labels)" swatch: white in a grey frame, a colour no
#: class has (it once borrowed the last class colour, which read as "++ very positive").
NO_GOLD_FILL, NO_GOLD_STROKE = "#ffffff", "#777777"
CROSS = "\u2717"


def task_colors(task) -> tuple[str, ...]:
    """One colour per class: the task's own palette (SST's diverging one), else categorical
    colours."""
    if task.colors:
        return task.colors
    return tuple(CATEGORICAL_COLORS[i % len(CATEGORICAL_COLORS)] for i in range(task.n_classes))


def task_short_names(task) -> tuple[str, ...]:
    """Labels short enough to print inside a node box."""
    return task.short_names or tuple(name[:3] for name in task.class_names)


def ink(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (``#rrggbb``).

    >>> ink("#2166AC"), ink("#F4A582")
    ('#ffffff', '#000000')
    """
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "#000000"


def ansi(text: str, color: str) -> str:
    """``text`` in bold ``color`` (``#rrggbb``) for a true-colour terminal."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"\x1b[1;38;2;{r};{g};{b}m{text}\x1b[0m"

"""``train.py show``: trees coloured by a run's predictions, in the terminal, SVG, HTML or PNG.

Every node of the input tree gets the model's predicted class; where the input carries gold
labels the node shows gold and prediction side by side (left half gold, right half
predicted) and wrong predictions get a thick black outline. For ListOps each complete
sub-expression shows its predicted and its true value (computed from the tokens).

The layout is computed once as a list of plain shapes (:class:`Drawing`) and written out by
two small back ends: SVG text and matplotlib's Agg canvas for PNG.

>>> from treenn.data.tasks import get_task
>>> from treenn.data.trees import parse_tree
>>> shown = build_shown_tree(get_task("sst2"), parse_tree("(4 (3 good) (2 fun))"),
...                          [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
>>> [(n.word, n.gold, n.pred) for n in shown.nodes]
[('good', 1, 1), ('fun', -1, 0), (None, 1, 1)]
>>> shown.root_error, shown.node_errors
(False, 0)
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nltk import Tree

#: The Stanford Sentiment Treebank palette, very negative to very positive.
SENTIMENT5_COLORS = ("#B2182B", "#F4A582", "#999999", "#92C5DE", "#2166AC")
SENTIMENT2_COLORS = ("#F4A582", "#92C5DE")
#: Ten distinguishable colours for ListOps values 0-9 (and any other task).
CATEGORICAL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
SENTIMENT5_SHORT = ("\u2212\u2212", "\u2212", "0", "+", "++")
SENTIMENT2_SHORT = ("\u2212", "+")
#: Colours of the node decorations (outline of a right / wrong node, nodes without a value).
OK_STROKE, WRONG_STROKE = "#555555", "#000000"
NONE_FILL, NONE_STROKE = "#f2f2f2", "#bbbbbb"
CROSS = "\u2717"

# Layout sizes in pixels (SVG user units; 1 px = 1 pt in the PNG).
WORD_FONT = 13
NODE_FONT = 10
LEGEND_FONT = 12
TITLE_FONT = 14
BOX_W, BOX_H = 36, 16
LEVEL_H = 34
GAP = 12
MARGIN = 16
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"


# ----------------------------------------------------------------------------- model side


@dataclass
class ShownNode:
    """One node as drawn. ``gold``/``pred`` are class ids, ``-1`` when there is none to show."""

    children: list[int]
    word: str | None
    gold: int
    pred: int
    probs: list[float]
    depth: int = 0

    @property
    def wrong(self) -> bool:
        return self.gold >= 0 and self.pred >= 0 and self.gold != self.pred


@dataclass
class ShownTree:
    """A tree with its predictions; ``nodes`` in graph order (leaves first, root last)."""

    nodes: list[ShownNode]
    class_names: tuple[str, ...]
    short_names: tuple[str, ...]
    colors: tuple[str, ...]
    listops: bool = False

    @property
    def root(self) -> ShownNode:
        return self.nodes[-1]

    @property
    def words(self) -> list[str]:
        return [n.word for n in self.nodes if n.word is not None]

    @property
    def root_error(self) -> bool | None:
        """Whether the root prediction is wrong; ``None`` without a gold root label."""
        return None if self.root.gold < 0 or self.root.pred < 0 else self.root.wrong

    @property
    def node_errors(self) -> int:
        return sum(n.wrong for n in self.nodes)

    @property
    def n_scored(self) -> int:
        """Nodes with both a gold label and a prediction."""
        return sum(n.gold >= 0 and n.pred >= 0 for n in self.nodes)

    @property
    def has_gold(self) -> bool:
        return any(n.gold >= 0 for n in self.nodes)


def task_colors(task) -> tuple[str, ...]:
    """One colour per class: the sentiment palette for SST, categorical colours otherwise."""
    if task.name.startswith("sst") and task.n_classes == 5:
        return SENTIMENT5_COLORS
    if task.name.startswith("sst") and task.n_classes == 2:
        return SENTIMENT2_COLORS
    return tuple(CATEGORICAL_COLORS[i % len(CATEGORICAL_COLORS)] for i in range(task.n_classes))


def task_short_names(task) -> tuple[str, ...]:
    """Labels short enough to print inside a node box."""
    if task.name.startswith("sst") and task.n_classes == 5:
        return SENTIMENT5_SHORT
    if task.name.startswith("sst") and task.n_classes == 2:
        return SENTIMENT2_SHORT
    return tuple(name[:3] for name in task.class_names)


def build_shown_tree(task, tree: Tree, probs) -> ShownTree:
    """Pair the nodes of ``tree`` with their predicted distributions.

    Args:
        task: the run's :class:`data.tasks.Task`.
        tree: an input tree; node labels are gold labels where ``task`` can read them.
        probs: ``[n_nodes, n_classes]`` class probabilities in graph node order (as
            :func:`treenn.training.predict_trees` returns them); a tensor or nested lists.

    Returns:
        The tree as drawn; for ListOps only complete sub-expressions with an operator (and a
        lone digit at the root) carry a prediction, and their gold label is the true value.
    """
    from treenn.data import listops
    from treenn.data.graphs import n_graph_nodes, relabel
    from treenn.data.trees import leaves

    rows = probs.tolist() if hasattr(probs, "tolist") else [list(r) for r in probs]
    n = n_graph_nodes(tree)
    if len(rows) != n:
        raise ValueError(f"{len(rows)} rows of probabilities for a tree of {n} nodes")
    is_listops = task.name == "listops"
    numbered = relabel(tree, [str(i) for i in range(n)])
    nodes: list[ShownNode | None] = [None] * n
    # Walk the input tree and its numbered copy together (iteratively: deep trees are fine).
    stack: list[tuple[Tree | str, Tree, int]] = [(tree, numbered, 0)]
    while stack:
        orig, num, depth = stack.pop()
        i = int(num.label())
        row = rows[i]
        pred = max(range(len(row)), key=row.__getitem__)
        if isinstance(orig, str) or (len(orig) == 1 and isinstance(orig[0], str)):
            word = orig if isinstance(orig, str) else orig[0]
            gold = -1 if isinstance(orig, str) else task.gold_or_none(orig.label())
            if is_listops and depth > 0:
                gold = pred = -1  # a token inside an expression has no value of its own
            elif is_listops:
                gold = int(word) if word in listops.DIGITS else -1
            nodes[i] = ShownNode([], word, gold, pred, row, depth)
            continue
        gold = task.gold_or_none(orig.label())
        if is_listops:
            try:
                value = listops.evaluate_tokens(leaves(orig))
            except ValueError:
                value = None  # not a complete sub-expression
            # The true value, computed (a label in the input is the same value, if right).
            gold = -1 if value is None else value
            pred = -1 if value is None else pred
        nodes[i] = ShownNode([int(c.label()) for c in num], None, gold, pred, row, depth)
        stack.extend((o, c, depth + 1) for o, c in zip(orig, num, strict=True))
    return ShownTree(nodes, tuple(task.class_names), task_short_names(task), task_colors(task),
                     listops=is_listops)


# ----------------------------------------------------------------------------- drawing


@dataclass
class Shape:
    """One drawing primitive.

    ``kind`` is ``rect`` (x, y, w, h, fill, stroke, stroke_width, dash), ``line`` (x1, y1,
    x2, y2, stroke, stroke_width) or ``text`` (x, y, text, size, fill, anchor in
    start/middle/end, valign in baseline/middle, bold). ``node`` groups the shapes of one
    tree node (an SVG ``<g>`` with its probabilities); ``role`` says what the shape is.
    """

    kind: str
    attrs: dict
    node: int | None = None
    role: str = ""


@dataclass
class Drawing:
    width: float
    height: float
    shapes: list[Shape] = field(default_factory=list)
    #: Per node id: the data an SVG ``<g>`` carries (gold, pred, probabilities, tooltip).
    node_info: dict[int, dict] = field(default_factory=dict)

    def boxes(self, role: str = "node") -> list[tuple[float, float, float, float]]:
        """``(x, y, w, h)`` of the rects with ``role`` (node boxes by default)."""
        return [(s.attrs["x"], s.attrs["y"], s.attrs["w"], s.attrs["h"])
                for s in self.shapes if s.kind == "rect" and s.role == role]


def text_width(text: str, size: float) -> float:
    """A generous estimate of the rendered width of ``text`` in a sans-serif font."""
    narrow = sum(c in "iljtf.,;:'!|()[] " for c in text)
    wide = sum(c in "mwMWOQGD@%" or c.isupper() for c in text)
    return size * (0.62 * (len(text) - narrow - wide) + 0.36 * narrow + 0.85 * wide)


def _ink(fill: str) -> str:
    """Black or white, whichever reads better on ``fill``."""
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "#000000"


def _rect(x, y, w, h, fill, stroke="none", stroke_width=0.0, dash=False, node=None,
          role="") -> Shape:
    return Shape("rect", {"x": x, "y": y, "w": w, "h": h, "fill": fill, "stroke": stroke,
                          "stroke_width": stroke_width, "dash": dash}, node, role)


def _text(x, y, text, size, fill="#000000", anchor="middle", valign="baseline", bold=False,
          node=None, role="") -> Shape:
    return Shape("text", {"x": x, "y": y, "text": text, "size": size, "fill": fill,
                          "anchor": anchor, "valign": valign, "bold": bold}, node, role)


def _line(x1, y1, x2, y2, stroke="#888888", stroke_width=1.0) -> Shape:
    return Shape("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke,
                          "stroke_width": stroke_width}, role="edge")


def _node_shapes(shown: ShownTree, i: int, cx: float, cy: float) -> list[Shape]:
    """The box of node ``i`` centred at ``(cx, cy)``: gold | predicted halves, or one colour."""
    node = shown.nodes[i]
    x, y = cx - BOX_W / 2, cy - BOX_H / 2
    if node.pred < 0:
        return [_rect(x, y, BOX_W, BOX_H, NONE_FILL, NONE_STROKE, 1.0, True, i, "node")]
    out = []
    pred_color = shown.colors[node.pred]
    if node.gold >= 0:
        gold_color = shown.colors[node.gold]
        out += [_rect(x, y, BOX_W / 2, BOX_H, gold_color, node=i, role="gold"),
                _rect(cx, y, BOX_W / 2, BOX_H, pred_color, node=i, role="pred"),
                _text(cx - BOX_W / 4, cy, shown.short_names[node.gold], NODE_FONT,
                      _ink(gold_color), valign="middle", node=i, role="label"),
                _text(cx + BOX_W / 4, cy, shown.short_names[node.pred], NODE_FONT,
                      _ink(pred_color), valign="middle", node=i, role="label")]
    else:
        out += [_rect(x, y, BOX_W, BOX_H, pred_color, node=i, role="pred"),
                _text(cx, cy, shown.short_names[node.pred], NODE_FONT, _ink(pred_color),
                      valign="middle", node=i, role="label")]
    if node.wrong:
        out.append(_rect(x, y, BOX_W, BOX_H, "none", WRONG_STROKE, 2.5, node=i, role="node"))
        out.append(_text(cx + BOX_W / 2 + 2, cy, CROSS, NODE_FONT, WRONG_STROKE, "start",
                         "middle", True, node=i, role="cross"))
    else:
        out.append(_rect(x, y, BOX_W, BOX_H, "none", OK_STROKE, 0.8, node=i, role="node"))
    return out


def _tooltip(shown: ShownTree, node: ShownNode) -> str:
    lines = []
    if node.pred < 0:
        lines.append("incomplete sub-expression (no value)" if shown.listops else "no prediction")
    else:
        lines.append(f"predicted: {shown.class_names[node.pred]}")
        if node.gold >= 0:
            lines.append(f"gold: {shown.class_names[node.gold]}"
                         + (f" {CROSS} wrong" if node.wrong else ""))
        lines += [f"{name}: {p:.3f}" for name, p in zip(shown.class_names, node.probs,
                                                         strict=True)]
    return "\n".join(lines)


def legend_items(shown: ShownTree) -> list[tuple[str, str]]:
    """``(kind, text)`` entries of the legend: one per class colour, then the decorations."""
    items = [(f"class:{k}", f"{shown.short_names[k]} {name}" if shown.short_names[k] != name
              else name) for k, name in enumerate(shown.class_names)]
    if shown.has_gold:
        items.append(("halves", "left half: gold" + (" (true value)" if shown.listops else "")
                      + ", right half: predicted"))
        items.append(("wrong", f"black outline {CROSS}: wrong prediction"))
    else:
        items.append(("pred", "colour: predicted class (no gold labels)"))
    if shown.listops:
        items.append(("none", "incomplete sub-expression (no value)"))
    return items


def draw_legend(shown: ShownTree, x0: float, y0: float, max_width: float
                ) -> tuple[list[Shape], float]:
    """Legend shapes wrapped to ``max_width``; returns them and the height they take."""
    swatch, pad, row_h = 14, 16, 20
    shapes: list[Shape] = []
    x, y = x0, y0
    for kind, label in legend_items(shown):
        item_w = swatch + 5 + text_width(label, LEGEND_FONT) + pad
        if x > x0 and x + item_w > x0 + max_width:
            x, y = x0, y + row_h
        if kind.startswith("class:"):
            color = shown.colors[int(kind[6:])]
            shapes.append(_rect(x, y, swatch, swatch, color, OK_STROKE, 0.8, role="legend"))
        elif kind == "halves":
            shapes += [_rect(x, y, swatch / 2, swatch, shown.colors[0], role="legend"),
                       _rect(x + swatch / 2, y, swatch / 2, swatch, shown.colors[-1],
                             role="legend"),
                       _rect(x, y, swatch, swatch, "none", OK_STROKE, 0.8, role="legend")]
        elif kind == "wrong":
            shapes.append(_rect(x, y, swatch, swatch, "#ffffff", WRONG_STROKE, 2.5,
                                role="legend"))
        elif kind == "pred":
            shapes.append(_rect(x, y, swatch, swatch, shown.colors[-1], OK_STROKE, 0.8,
                                role="legend"))
        else:
            shapes.append(_rect(x, y, swatch, swatch, NONE_FILL, NONE_STROKE, 1.0, True,
                                role="legend"))
        shapes.append(_text(x + swatch + 5, y + swatch / 2, label, LEGEND_FONT, anchor="start",
                            valign="middle", role="legend"))
        x += item_w
    return shapes, (y - y0) + row_h


def draw_tree(shown: ShownTree, legend: bool = True, title: str | None = None) -> Drawing:
    """Lay out ``shown``: words evenly along the bottom, each inner node above the middle of
    its children at a height given by its depth.

    Same-depth boxes never overlap: leaves are at least ``BOX_W + GAP`` apart and an inner
    node's centre lies within the span of its own leaves.
    """
    nodes = shown.nodes
    inner_depth = max((n.depth for n in nodes if n.word is None), default=-1)
    # Leaves left to right, each as wide as its word (or its box).
    x = MARGIN
    cx: list[float] = [0.0] * len(nodes)
    for i, node in enumerate(nodes):
        if node.word is not None:
            w = max(BOX_W + GAP, text_width(node.word, WORD_FONT) + GAP)
            cx[i] = x + w / 2
            x += w
    content_w = x - MARGIN
    for i, node in enumerate(nodes):  # children come before parents in graph order
        if node.word is None:
            cx[i] = (cx[node.children[0]] + cx[node.children[-1]]) / 2

    shapes: list[Shape] = []
    top = MARGIN
    if title:
        shapes.append(_text(MARGIN, top + TITLE_FONT, title, TITLE_FONT, anchor="start",
                            bold=True, role="title"))
        top += TITLE_FONT + 10
    width = max(content_w, text_width(title or "", TITLE_FONT)) + 2 * MARGIN
    if legend:
        legend_shapes, legend_h = draw_legend(shown, MARGIN, top, max(width - 2 * MARGIN, 420))
        shapes += legend_shapes
        width = max(width, max(s.attrs["x"] + text_width(s.attrs["text"], LEGEND_FONT)
                               for s in legend_shapes if s.kind == "text") + MARGIN)
        top += legend_h + 12
    # Centre the tree when the legend or title is wider than the words.
    shift = (width - 2 * MARGIN - content_w) / 2
    cx = [c + shift for c in cx]

    leaf_row = inner_depth + 1
    cy = [0.0] * len(nodes)
    for i, node in enumerate(nodes):
        cy[i] = top + (leaf_row if node.word is not None else node.depth) * LEVEL_H + BOX_H / 2
    word_y = top + leaf_row * LEVEL_H + BOX_H + 4 + WORD_FONT
    token_y = top + leaf_row * LEVEL_H + WORD_FONT  # ListOps tokens drawn without a box

    def has_box(i: int) -> bool:
        return nodes[i].word is None or nodes[i].pred >= 0

    for i, node in enumerate(nodes):
        for c in node.children:
            y2 = cy[c] - BOX_H / 2 if has_box(c) else token_y - WORD_FONT
            shapes.append(_line(cx[i], cy[i] + BOX_H / 2, cx[c], y2))
    info = {}
    for i, node in enumerate(nodes):
        if has_box(i):
            shapes += _node_shapes(shown, i, cx[i], cy[i])
            info[i] = {"gold": node.gold, "pred": node.pred, "probs": node.probs,
                       "wrong": node.wrong, "title": _tooltip(shown, node)}
        if node.word is not None:
            y = word_y if has_box(i) else token_y
            shapes.append(_text(cx[i], y, node.word, WORD_FONT, role="word"))
    height = max(word_y, token_y) + MARGIN
    return Drawing(width, height, shapes, info)


def draw_legend_only(shown: ShownTree) -> Drawing:
    shapes, h = draw_legend(shown, MARGIN, MARGIN, 900 - 2 * MARGIN)
    right = max(s.attrs["x"] + text_width(s.attrs["text"], LEGEND_FONT)
                for s in shapes if s.kind == "text")
    return Drawing(right + MARGIN, h + 2 * MARGIN, shapes)


# ----------------------------------------------------------------------------- back ends


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _svg_shape(s: Shape) -> str:
    a = s.attrs
    if s.kind == "rect":
        extra = ' stroke-dasharray="3,2"' if a["dash"] else ""
        return (f'<rect x="{_fmt(a["x"])}" y="{_fmt(a["y"])}" width="{_fmt(a["w"])}" '
                f'height="{_fmt(a["h"])}" rx="2" fill="{a["fill"]}" stroke="{a["stroke"]}" '
                f'stroke-width="{a["stroke_width"]}"{extra}/>')
    if s.kind == "line":
        return (f'<line x1="{_fmt(a["x1"])}" y1="{_fmt(a["y1"])}" x2="{_fmt(a["x2"])}" '
                f'y2="{_fmt(a["y2"])}" stroke="{a["stroke"]}" '
                f'stroke-width="{a["stroke_width"]}"/>')
    baseline = ' dominant-baseline="central"' if a["valign"] == "middle" else ""
    weight = ' font-weight="bold"' if a["bold"] else ""
    cls = f' class="{s.role}"' if s.role else ""
    return (f'<text{cls} x="{_fmt(a["x"])}" y="{_fmt(a["y"])}" font-size="{a["size"]}" '
            f'text-anchor="{a["anchor"]}" fill="{a["fill"]}"{baseline}{weight}>'
            f'{html.escape(a["text"])}</text>')


def to_svg(drawing: Drawing, css_class: str = "treenn-tree") -> str:
    """The drawing as one standalone ``<svg>`` element (no external resources).

    Each node is a ``<g class="node">`` (``node wrong`` when mispredicted) carrying
    ``data-gold``, ``data-pred``, ``data-probs`` and a ``<title>`` tooltip.
    """
    w, h = _fmt(drawing.width), _fmt(drawing.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" width="{w}" '
           f'height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}">',
           f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>']
    body: list[str | int] = []  # loose shapes, and node ids where their group goes
    groups: dict[int, list[str]] = {}
    for s in drawing.shapes:
        if s.node is None:
            body.append(_svg_shape(s))
            continue
        if s.node not in groups:
            groups[s.node] = []
            body.append(s.node)
        groups[s.node].append(_svg_shape(s))
    for item in body:
        if isinstance(item, str):
            out.append(item)
            continue
        info = drawing.node_info.get(item, {})
        cls = "node wrong" if info.get("wrong") else "node"
        probs = ",".join(f"{p:.4f}" for p in info.get("probs", []))
        out.append(f'<g class="{cls}" data-node="{item}" data-gold="{info.get("gold", -1)}" '
                   f'data-pred="{info.get("pred", -1)}" data-probs="{probs}">'
                   f'<title>{html.escape(info.get("title", ""))}</title>'
                   + "".join(groups[item]) + "</g>")
    out.append("</svg>")
    return "\n".join(out)


def to_png(drawing: Drawing, path: str | Path, scale: float = 2.0) -> None:
    """Render with matplotlib's Agg canvas (imported here: matplotlib is only needed for PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    # 1 drawing unit = 1 point: at 72 dpi a point is a pixel, so sizes match the SVG.
    fig = Figure(figsize=(drawing.width / 72, drawing.height / 72), dpi=72 * scale)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, drawing.width)
    ax.set_ylim(drawing.height, 0)
    ax.axis("off")
    for s in drawing.shapes:
        a = s.attrs
        if s.kind == "rect":
            ax.add_patch(Rectangle((a["x"], a["y"]), a["w"], a["h"],
                                   facecolor=a["fill"] if a["fill"] != "none" else "none",
                                   edgecolor=a["stroke"] if a["stroke"] != "none" else "none",
                                   linewidth=a["stroke_width"],
                                   linestyle="--" if a["dash"] else "-"))
        elif s.kind == "line":
            ax.plot([a["x1"], a["x2"]], [a["y1"], a["y2"]], color=a["stroke"],
                    linewidth=a["stroke_width"], solid_capstyle="butt")
        else:
            ax.text(a["x"], a["y"], a["text"], fontsize=a["size"], color=a["fill"],
                    ha={"start": "left", "middle": "center", "end": "right"}[a["anchor"]],
                    va="center" if a["valign"] == "middle" else "baseline",
                    fontweight="bold" if a["bold"] else "normal")
    fig.savefig(path, dpi=72 * scale, facecolor="white", format="png")


# ----------------------------------------------------------------------------- terminal


def _ansi(text: str, color: str) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"\x1b[1;38;2;{r};{g};{b}m{text}\x1b[0m"


def _term_label(shown: ShownTree, node: ShownNode, probabilities: bool, color: bool) -> str:
    if node.pred < 0:
        return "\u00b7"
    paint = (lambda text, k: _ansi(text, shown.colors[k])) if color else (lambda text, k: text)
    label = paint(shown.short_names[node.pred], node.pred)
    if node.wrong:
        label += CROSS + paint(shown.short_names[node.gold], node.gold)
    if probabilities:
        label += " " + "/".join(f"{p:.2f}".lstrip("0") or "0" for p in node.probs)
    return label


def _visible_len(text: str) -> int:
    return len(re.sub(r"\x1b\[[0-9;]*m", "", text))


def term_legend(shown: ShownTree, color: bool) -> str:
    parts = []
    for k, name in enumerate(shown.class_names):
        swatch = shown.short_names[k]
        parts.append(f"{_ansi(swatch, shown.colors[k]) if color else swatch} {name}"
                     if swatch != name else (_ansi(name, shown.colors[k]) if color else name))
    text = "legend: " + ", ".join(parts)
    if shown.has_gold:
        text += f"; p{CROSS}g: predicted p, gold g" + (" (true value)" if shown.listops else "")
    if shown.listops:
        text += "; \u00b7 incomplete sub-expression"
    return text


def term_tree(shown: ShownTree, probabilities: bool = False, color: bool = True) -> str:
    """The tree drawn with Unicode lines (nltk's pretty-printer), labels coloured by class.

    The pretty-printer lays out plain placeholders of the labels' visible widths, which are
    then replaced by the coloured labels (ANSI escapes would otherwise count as width).
    """
    from nltk.tree.prettyprinter import TreePrettyPrinter

    labels = [_term_label(shown, n, probabilities, color) for n in shown.nodes]
    placeholders = [chr(0xE000 + i % 6000) + "\uf8ff" * (_visible_len(label) - 1)
                    for i, label in enumerate(labels)]
    by_key = {p: label for p, label in zip(placeholders, labels, strict=True)}

    def build(i: int) -> Tree:
        node = shown.nodes[i]
        if node.word is not None:
            # Every word under a preterminal: nltk misorders bare words next to subtrees.
            return Tree(placeholders[i] if node.pred >= 0 else "", [node.word])
        return Tree(placeholders[i], [build(c) for c in node.children])

    text = TreePrettyPrinter(build(len(shown.nodes) - 1)).text(unicodelines=True,
                                                                maxwidth=10_000)
    text = re.sub("[\ue000-\uf8fe]\uf8ff*", lambda m: by_key.get(m.group(0), m.group(0)), text)
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


# ----------------------------------------------------------------------------- HTML page


_PAGE_CSS = """
body { font-family: DejaVu Sans, Verdana, Arial, sans-serif; margin: 1.5em; color: #222; }
header { position: sticky; top: 0; background: #fff; padding-bottom: .5em;
         border-bottom: 1px solid #ddd; z-index: 1; }
h1 { font-size: 1.3em; margin: 0 0 .3em 0; }
.meta { color: #555; font-size: .9em; margin: .2em 0; }
section.sentence { margin: 1.2em 0; border-bottom: 1px solid #eee; }
section.sentence h2 { font-size: 1em; font-weight: normal; margin: .4em 0; }
.ok { color: #1a7f37; } .bad { color: #b00020; font-weight: bold; }
.tree { overflow-x: auto; }
g.node { cursor: default; }
#tip { position: fixed; display: none; background: #fff; border: 1px solid #888;
       padding: 6px 8px; font-size: 12px; pointer-events: none; z-index: 2;
       box-shadow: 2px 2px 6px rgba(0,0,0,.2); }
#tip .bar { display: inline-block; height: 9px; background: #666; margin-left: 4px; }
#tip td { padding: 0 4px; white-space: nowrap; }
"""

_PAGE_JS = """
(function () {
  var classes = JSON.parse(document.getElementById('classes').textContent);
  var select = document.getElementById('filter');
  var sections = Array.prototype.slice.call(document.querySelectorAll('section.sentence'));
  function keep(s, mode) {
    if (mode === 'root') { return s.dataset.rootError === '1'; }
    if (mode === 'node') { return Number(s.dataset.nodeErrors) > 0; }
    return true;
  }
  function apply() {
    var mode = select.value, shown = 0;
    sections.forEach(function (s) {
      var on = keep(s, mode);
      s.hidden = !on;
      if (on) { shown += 1; }
    });
    document.getElementById('count').textContent =
      'showing ' + shown + ' of ' + sections.length + ' sentences';
    document.body.dataset.shown = String(shown);
  }
  var m = /filter=(all|root|node)/.exec(window.location.hash);
  if (m) { select.value = m[1]; }
  select.addEventListener('change', apply);
  apply();
  var tip = document.getElementById('tip');
  function show(g, ev) {
    var probs = (g.dataset.probs || '').split(',').filter(function (v) { return v !== ''; });
    var gold = Number(g.dataset.gold), pred = Number(g.dataset.pred);
    if (!probs.length || pred < 0) {
      tip.textContent = 'no value (incomplete sub-expression)';
    } else {
      var rows = probs.map(function (p, k) {
        var mark = (k === pred ? ' \\u2190 predicted' : '') + (k === gold ? ' \\u2190 gold' : '');
        return '<tr><td>' + classes[k] + '</td><td>' + Number(p).toFixed(3) +
          '<span class="bar" style="width:' + Math.round(80 * Number(p)) + 'px"></span></td>' +
          '<td>' + mark + '</td></tr>';
      });
      tip.innerHTML = '<table>' + rows.join('') + '</table>';
    }
    tip.style.display = 'block';
    tip.style.left = (ev.clientX + 14) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  }
  document.querySelectorAll('g.node').forEach(function (g) {
    g.addEventListener('mousemove', function (ev) { show(g, ev); });
    g.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
  document.body.dataset.ready = '1';
})();
"""


def html_page(trees: Sequence[ShownTree], title: str, meta: Sequence[str] = ()) -> str:
    """One self-contained page (inline SVG, CSS and script; nothing fetched) of many trees.

    A filter shows all sentences, those whose root is wrong, or those with any wrong node
    (also selectable with ``#filter=root`` / ``#filter=node`` in the address); hovering a
    node shows its class probabilities.
    """
    if not trees:
        raise ValueError("no trees to show")
    legend = to_svg(draw_legend_only(trees[0]), "treenn-legend")
    n_root = sum(t.root_error is True for t in trees)
    n_node = sum(t.node_errors > 0 for t in trees)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{_PAGE_CSS}</style></head>",
             '<body data-ready="0">', "<header>", f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in meta]
    parts.append(f'<p class="meta">{len(trees)} sentences; {n_root} with a wrong root, '
                 f"{n_node} with at least one wrong node. Hover a node for its class "
                 "probabilities.</p>")
    parts.append('<p><label>Show: <select id="filter">'
                 '<option value="all">all sentences</option>'
                 '<option value="root">sentences with a root error</option>'
                 '<option value="node">sentences with any node error</option>'
                 '</select></label> <span id="count"></span></p>')
    parts += [f'<div class="legend">{legend}</div>', "</header>"]
    for k, shown in enumerate(trees, start=1):
        root = shown.root
        status = ""
        if root.pred >= 0:
            status = f"predicted <b>{html.escape(shown.class_names[root.pred])}</b>"
            if root.gold >= 0:
                status += (f", gold {html.escape(shown.class_names[root.gold])} "
                           + ('<span class="bad">wrong</span>' if root.wrong
                              else '<span class="ok">right</span>'))
        nodes = (f"; {shown.n_scored - shown.node_errors}/{shown.n_scored} nodes right"
                 if shown.n_scored else "")
        parts.append(f'<section class="sentence" id="s{k}" '
                     f'data-root-error="{int(shown.root_error is True)}" '
                     f'data-node-errors="{shown.node_errors}">')
        parts.append(f"<h2>#{k} {html.escape(' '.join(shown.words))}<br>"
                     f'<span class="meta">{status}{nodes}</span></h2>')
        parts.append(f'<div class="tree">{to_svg(draw_tree(shown, legend=False))}</div>')
        parts.append("</section>")
    parts.append('<div id="tip"></div>')
    names = json.dumps(list(trees[0].class_names)).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="classes">{names}</script>')
    parts.append(f"<script>{_PAGE_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- command


FORMATS = ("term", "svg", "html", "png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train.py show``."""
    from treenn.arguments import add_input_arguments

    p.add_argument("run_dir", metavar="RUN_DIR")
    add_input_arguments(p)
    p.add_argument("--format", choices=FORMATS,
                   help="term (default), svg, html (one page of all trees) or png; "
                   "default from --out's extension")
    p.add_argument("--out", metavar="PATH",
                   help="file to write (svg/png: PATH, or PATH-1.svg, PATH-2.svg, ... for "
                   "several trees); default: standard output (not for png)")
    p.add_argument("--probabilities", action="store_true",
                   help="term: print each node's class distribution")
    p.add_argument("--limit", type=int, metavar="N", help="show only the first N trees")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="term: ANSI colours (auto: when writing to a terminal)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")


def _numbered(path: Path, k: int, n: int) -> Path:
    return path if n == 1 else path.with_name(f"{path.stem}-{k}{path.suffix}")


def use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return (sys.stdout.isatty()
            and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")


def run(args: argparse.Namespace) -> int:
    """``train.py show``: predict every node of the input trees and draw them."""
    from treenn.arguments import input_trees
    from treenn.errors import TreennError
    from treenn.training import predict_trees, run_task

    run_dir = Path(args.run_dir)
    fmt = args.format
    if fmt is None:
        suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
        fmt = suffix if suffix in ("svg", "html", "png") else "term"
    if args.limit is not None and args.limit < 1:
        raise TreennError("--limit must be at least 1")
    if fmt == "png" and not args.out:
        raise TreennError("--format png needs --out PATH")
    if fmt == "png":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise TreennError("--format png draws with matplotlib: pip install matplotlib "
                              "(or use --format svg)") from None
    task = run_task(run_dir, args.checkpoint)
    trees = input_trees(task, args)[: args.limit]
    if fmt == "svg" and len(trees) > 1 and not args.out:
        raise TreennError(f"{len(trees)} trees make {len(trees)} SVG files: pass --out PATH "
                          "(or --limit 1, or --format html for one page)")
    _, probs = predict_trees(run_dir, trees, args.checkpoint)
    shown = [build_shown_tree(task, t, p) for t, p in zip(trees, probs, strict=True)]
    out = Path(args.out) if args.out else None
    if out is not None and out.parent and not out.parent.is_dir():
        raise TreennError(f"{out.parent}: no such directory")
    if fmt == "term":
        color = use_color(args.color) if out is None else args.color == "always"
        text = "\n\n".join(term_tree(s, args.probabilities, color) for s in shown)
        text += "\n\n" + term_legend(shown[0], color) + "\n"
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
    elif fmt == "html":
        title = f"{run_dir.name}: predictions on {len(shown)} trees"
        from treenn.runs import read_run_config

        info = read_run_config(run_dir)
        meta = [f"run {run_dir} ({args.checkpoint} checkpoint), task {task.name}"]
        if info is not None:
            train_cfg = info["train"]
            meta[0] += f", model {train_cfg['model']}, seed {train_cfg['seed']}"
        page = html_page(shown, title, meta)
        if out is None:
            sys.stdout.write(page)
        else:
            out.write_text(page, encoding="utf-8")
    else:
        for k, s in enumerate(shown, start=1):
            words = " ".join(s.words)
            title = f"#{k} {words if len(words) <= 120 else words[:117] + '...'}"
            drawing = draw_tree(s, legend=True, title=title)
            if fmt == "svg" and out is None:
                sys.stdout.write(to_svg(drawing) + "\n")
            elif fmt == "svg":
                _numbered(out, k, len(shown)).write_text(to_svg(drawing) + "\n",
                                                         encoding="utf-8")
            else:
                to_png(drawing, _numbered(out, k, len(shown)))
    if out is not None:
        n = len(shown) if fmt in ("svg", "png") else 1
        where = out if n == 1 else f"{_numbered(out, 1, n)} ... {_numbered(out, n, n)}"
        print(f"wrote {where}", file=sys.stderr)
    return 0

"""Tree layout geometry: words evenly along the bottom, each inner node above the middle of
its children at a height given by its depth, a title and a legend on top.

The result is a :class:`~treenn.show.shapes.Drawing` (its legend from
:mod:`treenn.show.legend`) that :mod:`treenn.show.svg` and :mod:`treenn.show.png` write out.
"""

from __future__ import annotations

from treenn.show.legend import draw_legend, right_edge
from treenn.show.palette import CROSS, NONE_FILL, NONE_STROKE, OK_STROKE, WRONG_STROKE, ink
from treenn.show.shapes import (
    BOX_H,
    BOX_W,
    GAP,
    LEVEL_H,
    MARGIN,
    NODE_FONT,
    TITLE_FONT,
    WORD_FONT,
    Drawing,
    Shape,
    line_shape,
    rect_shape,
    text_shape,
    text_width,
)
from treenn.show.shown import ShownNode, ShownTree


def node_shapes(shown: ShownTree, i: int, cx: float, cy: float) -> list[Shape]:
    """The box of node ``i`` centred at ``(cx, cy)``: gold | predicted halves, or one colour."""
    node = shown.nodes[i]
    x, y = cx - BOX_W / 2, cy - BOX_H / 2
    if node.pred < 0:
        return [rect_shape(x, y, BOX_W, BOX_H, NONE_FILL, NONE_STROKE, 1.0, True, i, "node")]
    out = []
    pred_color = shown.colors[node.pred]
    if node.gold >= 0:
        gold_color = shown.colors[node.gold]
        out += [rect_shape(x, y, BOX_W / 2, BOX_H, gold_color, node=i, role="gold"),
                rect_shape(cx, y, BOX_W / 2, BOX_H, pred_color, node=i, role="pred"),
                text_shape(cx - BOX_W / 4, cy, shown.short_names[node.gold], NODE_FONT,
                           ink(gold_color), valign="middle", node=i, role="label"),
                text_shape(cx + BOX_W / 4, cy, shown.short_names[node.pred], NODE_FONT,
                           ink(pred_color), valign="middle", node=i, role="label")]
    else:
        out += [rect_shape(x, y, BOX_W, BOX_H, pred_color, node=i, role="pred"),
                text_shape(cx, cy, shown.short_names[node.pred], NODE_FONT, ink(pred_color),
                           valign="middle", node=i, role="label")]
    if node.wrong:
        out.append(rect_shape(x, y, BOX_W, BOX_H, "none", WRONG_STROKE, 2.5, node=i,
                              role="node"))
        out.append(text_shape(cx + BOX_W / 2 + 2, cy, CROSS, NODE_FONT, WRONG_STROKE, "start",
                              "middle", True, node=i, role="cross"))
    else:
        out.append(rect_shape(x, y, BOX_W, BOX_H, "none", OK_STROKE, 0.8, node=i, role="node"))
    return out


def tooltip(shown: ShownTree, node: ShownNode) -> str:
    """What hovering a node says: prediction, gold, and the class probabilities."""
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


def _leaf_centres(shown: ShownTree) -> tuple[list[float], float]:
    """Each node's x centre (from ``MARGIN``) and the width the words take.

    Leaves go left to right, each as wide as its word (or its box); an inner node sits over
    the middle of its first and last child.
    """
    nodes = shown.nodes
    x = MARGIN
    cx: list[float] = [0.0] * len(nodes)
    for i, node in enumerate(nodes):
        if node.word is not None:
            w = max(BOX_W + GAP, text_width(node.word, WORD_FONT) + GAP)
            cx[i] = x + w / 2
            x += w
    for i, node in enumerate(nodes):  # children come before parents in graph order
        if node.word is None:
            cx[i] = (cx[node.children[0]] + cx[node.children[-1]]) / 2
    return cx, x - MARGIN


def _header(shown: ShownTree, legend: bool, title: str | None, content_w: float
            ) -> tuple[list[Shape], float, float]:
    """Title and legend above the tree: their shapes, the drawing's width, and where the
    tree starts (y)."""
    shapes: list[Shape] = []
    top = MARGIN
    if title:
        shapes.append(text_shape(MARGIN, top + TITLE_FONT, title, TITLE_FONT, anchor="start",
                                 bold=True, role="title"))
        top += TITLE_FONT + 10
    width = max(content_w, text_width(title or "", TITLE_FONT)) + 2 * MARGIN
    if legend:
        legend_shapes, legend_h = draw_legend(shown, MARGIN, top, max(width - 2 * MARGIN, 420))
        shapes += legend_shapes
        width = max(width, right_edge(legend_shapes) + MARGIN)
        top += legend_h + 12
    return shapes, width, top


def _tree_shapes(shown: ShownTree, cx: list[float], top: float
                 ) -> tuple[list[Shape], dict[int, dict], float]:
    """Edges, node boxes and words of the tree below ``top``; also the per-node data of the
    SVG groups and the drawing's height."""
    nodes = shown.nodes
    leaf_row = max((n.depth for n in nodes if n.word is None), default=-1) + 1
    cy = [top + (leaf_row if node.word is not None else node.depth) * LEVEL_H + BOX_H / 2
          for node in nodes]
    word_y = top + leaf_row * LEVEL_H + BOX_H + 4 + WORD_FONT
    token_y = top + leaf_row * LEVEL_H + WORD_FONT  # ListOps tokens drawn without a box

    def has_box(i: int) -> bool:
        return nodes[i].word is None or nodes[i].pred >= 0

    shapes: list[Shape] = []
    for i, node in enumerate(nodes):
        for c in node.children:
            y2 = cy[c] - BOX_H / 2 if has_box(c) else token_y - WORD_FONT
            shapes.append(line_shape(cx[i], cy[i] + BOX_H / 2, cx[c], y2))
    info = {}
    for i, node in enumerate(nodes):
        if has_box(i):
            shapes += node_shapes(shown, i, cx[i], cy[i])
            info[i] = {"gold": node.gold, "pred": node.pred, "probs": node.probs,
                       "wrong": node.wrong, "title": tooltip(shown, node)}
        if node.word is not None:
            y = word_y if has_box(i) else token_y
            shapes.append(text_shape(cx[i], y, node.word, WORD_FONT, role="word"))
    return shapes, info, max(word_y, token_y) + MARGIN


def draw_tree(shown: ShownTree, legend: bool = True, title: str | None = None) -> Drawing:
    """Lay out ``shown``: words evenly along the bottom, each inner node above the middle of
    its children at a height given by its depth.

    Same-depth boxes never overlap: leaves are at least ``BOX_W + GAP`` apart and an inner
    node's centre lies within the span of its own leaves.
    """
    cx, content_w = _leaf_centres(shown)
    shapes, width, top = _header(shown, legend, title, content_w)
    # Centre the tree when the legend or title is wider than the words.
    shift = (width - 2 * MARGIN - content_w) / 2
    tree_shapes, info, height = _tree_shapes(shown, [c + shift for c in cx], top)
    return Drawing(width, height, shapes + tree_shapes, info)

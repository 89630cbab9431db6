"""The legend of the pictures: what each colour and mark means, as swatches and text.

The SVG, PNG and HTML pictures draw it with :func:`draw_legend`; the terminal's one-line
legend is :func:`treenn.show.term.term_legend`.
"""

from __future__ import annotations

from treenn.show.palette import (
    CROSS,
    NO_GOLD_FILL,
    NO_GOLD_STROKE,
    NONE_FILL,
    NONE_STROKE,
    OK_STROKE,
    WRONG_STROKE,
)
from treenn.show.shapes import (
    LEGEND_FONT,
    MARGIN,
    Drawing,
    Shape,
    rect_shape,
    text_shape,
    text_width,
)
from treenn.show.shown import ShownTree


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


def legend_swatch(shown: ShownTree, kind: str, x: float, y: float, size: float
                  ) -> list[Shape]:
    """The swatch of one :func:`legend_items` entry at ``(x, y)``."""
    if kind.startswith("class:"):
        color = shown.colors[int(kind[6:])]
        return [rect_shape(x, y, size, size, color, OK_STROKE, 0.8, role="legend")]
    if kind == "halves":
        return [rect_shape(x, y, size / 2, size, shown.colors[0], role="legend"),
                rect_shape(x + size / 2, y, size / 2, size, shown.colors[-1], role="legend"),
                rect_shape(x, y, size, size, "none", OK_STROKE, 0.8, role="legend")]
    if kind == "wrong":
        return [rect_shape(x, y, size, size, "#ffffff", WRONG_STROKE, 2.5, role="legend")]
    if kind == "pred":
        return [rect_shape(x, y, size, size, NO_GOLD_FILL, NO_GOLD_STROKE, 1.2,
                           role="legend")]
    return [rect_shape(x, y, size, size, NONE_FILL, NONE_STROKE, 1.0, True, role="legend")]


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
        shapes += legend_swatch(shown, kind, x, y, swatch)
        shapes.append(text_shape(x + swatch + 5, y + swatch / 2, label, LEGEND_FONT,
                                 anchor="start", valign="middle", role="legend"))
        x += item_w
    return shapes, (y - y0) + row_h


def right_edge(shapes: list[Shape]) -> float:
    """Where the rightmost legend text ends."""
    return max(s.attrs["x"] + text_width(s.attrs["text"], LEGEND_FONT)
               for s in shapes if s.kind == "text")


def draw_legend_only(shown: ShownTree) -> Drawing:
    """The legend as a drawing of its own (the HTML page shows it once, above all trees)."""
    shapes, h = draw_legend(shown, MARGIN, MARGIN, 900 - 2 * MARGIN)
    return Drawing(right_edge(shapes) + MARGIN, h + 2 * MARGIN, shapes)

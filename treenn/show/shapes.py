"""Plain drawing primitives: the layout is computed once as a list of shapes that the SVG and
PNG back ends write out, so both formats draw the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def rect_shape(x, y, w, h, fill, stroke="none", stroke_width=0.0, dash=False, node=None,
               role="") -> Shape:
    return Shape("rect", {"x": x, "y": y, "w": w, "h": h, "fill": fill, "stroke": stroke,
                          "stroke_width": stroke_width, "dash": dash}, node, role)


def text_shape(x, y, text, size, fill="#000000", anchor="middle", valign="baseline",
               bold=False, node=None, role="") -> Shape:
    return Shape("text", {"x": x, "y": y, "text": text, "size": size, "fill": fill,
                          "anchor": anchor, "valign": valign, "bold": bold}, node, role)


def line_shape(x1, y1, x2, y2, stroke="#888888", stroke_width=1.0) -> Shape:
    return Shape("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke,
                          "stroke_width": stroke_width}, role="edge")

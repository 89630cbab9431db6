"""The PNG back end: a :class:`~treenn.show.shapes.Drawing` on matplotlib's Agg canvas.

matplotlib is an optional extra (``pip install treenn[viz]``), imported only when a PNG is
drawn.
"""

from __future__ import annotations

from pathlib import Path

from treenn.errors import TreennError
from treenn.show.shapes import Drawing

_HA = {"start": "left", "middle": "center", "end": "right"}


def _draw_shape(ax, s, rectangle) -> None:
    """Add one shape to the axes (``rectangle``: matplotlib's ``Rectangle`` patch class)."""
    a = s.attrs
    if s.kind == "rect":
        ax.add_patch(rectangle((a["x"], a["y"]), a["w"], a["h"],
                               facecolor=a["fill"] if a["fill"] != "none" else "none",
                               edgecolor=a["stroke"] if a["stroke"] != "none" else "none",
                               linewidth=a["stroke_width"],
                               linestyle="--" if a["dash"] else "-"))
    elif s.kind == "line":
        ax.plot([a["x1"], a["x2"]], [a["y1"], a["y2"]], color=a["stroke"],
                linewidth=a["stroke_width"], solid_capstyle="butt")
    else:
        ax.text(a["x"], a["y"], a["text"], fontsize=a["size"], color=a["fill"],
                ha=_HA[a["anchor"]], va="center" if a["valign"] == "middle" else "baseline",
                fontweight="bold" if a["bold"] else "normal")


#: The largest PNG drawn, in pixels (400 MB of RGBA; Agg allows at most 2**16 a side): a
#: 1,000-word sentence would be 96,000 pixels wide, which no viewer shows and Agg cannot
#: allocate, while its SVG is fine.
MAX_PNG_PIXELS = 100_000_000
MAX_PNG_SIDE = 65_535


def check_png_size(drawing: Drawing, scale: float = 2.0) -> None:
    """A one-line :class:`TreennError` when ``drawing`` is too large for a PNG."""
    w, h = round(drawing.width * scale), round(drawing.height * scale)
    if w * h > MAX_PNG_PIXELS or max(w, h) > MAX_PNG_SIDE:
        raise TreennError(f"--format png: this tree would be {w} x {h} pixels (at most "
                          f"{MAX_PNG_SIDE} a side and {MAX_PNG_PIXELS // 10**6} megapixels); "
                          "draw it with --format svg or html")


def to_png(drawing: Drawing, path: str | Path, scale: float = 2.0) -> None:
    """Render with matplotlib's Agg canvas (imported here: matplotlib is only needed for PNG);
    a drawing too large for a PNG is refused (:func:`check_png_size`)."""
    check_png_size(drawing, scale)
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
        _draw_shape(ax, s, Rectangle)
    fig.savefig(path, dpi=72 * scale, facecolor="white", format="png")

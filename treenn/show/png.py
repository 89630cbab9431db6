"""The PNG back end: a :class:`~treenn.show.shapes.Drawing` on matplotlib's Agg canvas.

matplotlib is an optional extra (``pip install treenn[viz]``), imported only when a PNG is
drawn.
"""

from __future__ import annotations

from pathlib import Path

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
        _draw_shape(ax, s, Rectangle)
    fig.savefig(path, dpi=72 * scale, facecolor="white", format="png")

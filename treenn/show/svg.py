"""The SVG back end: a :class:`~treenn.show.shapes.Drawing` as one standalone ``<svg>``."""

from __future__ import annotations

import html

from treenn.show.shapes import FONT_FAMILY, Drawing, Shape


def _fmt(v: float) -> str:
    """A coordinate with at most one decimal: ``12.0`` -> ``12``, ``3.25`` -> ``3.2``."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def svg_shape(s: Shape) -> str:
    """One shape as an SVG element."""
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


def _node_group(node: int, info: dict, members: list[str]) -> str:
    """The ``<g>`` of one tree node: its data attributes, tooltip and shapes."""
    cls = "node wrong" if info.get("wrong") else "node"
    probs = ",".join(f"{p:.4f}" for p in info.get("probs", []))
    return (f'<g class="{cls}" data-node="{node}" data-gold="{info.get("gold", -1)}" '
            f'data-pred="{info.get("pred", -1)}" data-probs="{probs}">'
            f'<title>{html.escape(info.get("title", ""))}</title>' + "".join(members) + "</g>")


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
            body.append(svg_shape(s))
            continue
        if s.node not in groups:
            groups[s.node] = []
            body.append(s.node)
        groups[s.node].append(svg_shape(s))
    for item in body:
        out.append(item if isinstance(item, str)
                   else _node_group(item, drawing.node_info.get(item, {}), groups[item]))
    out.append("</svg>")
    return "\n".join(out)

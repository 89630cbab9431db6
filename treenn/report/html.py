"""The report's blocks (see :class:`treenn.report.document.Report`) as one HTML page.

The page stands alone: plots are inline SVG, and the style sheet and the script that builds
the table of contents (``static/report.css``, ``static/report.js``, package data) are copied
into it, so it opens from disk with nothing fetched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from html import escape
from importlib.resources import files


@cache
def static_text(name: str) -> str:
    """A file of the package's ``static/`` folder (``report.css``, ``report.js``)."""
    return (files("treenn.report") / "static" / name).read_text(encoding="utf-8")


def render_html(blocks: Sequence[tuple], title: str) -> str:
    """``report.html``: second-level headings get ids ``sec1``, ``sec2``... for the contents."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(title)}</title>", f"<style>\n{static_text('report.css')}</style>",
           '</head><body data-ready="0">', '<nav id="toc"></nav>', "<main>"]
    n_h2 = 0
    for b in blocks:
        if b[0] == "h2":
            n_h2 += 1
        text = _block(b, n_h2)
        if text is not None:
            out.append(text)
    out += ["</main>", f"<script>\n{static_text('report.js')}</script>", "</body></html>"]
    return "\n".join(out) + "\n"


def _block(b: tuple, n_h2: int) -> str | None:
    """One block's HTML (``n_h2``: the number of h2 blocks so far, this one included);
    ``None`` (left out) for an unknown kind."""
    kind = b[0]
    if kind in ("h1", "h2", "h3"):
        anchor = f' id="sec{n_h2}"' if kind == "h2" else ""
        return f"<{kind}{anchor}>{escape(b[1])}</{kind}>"
    if kind == "p":
        return f"<p>{escape(b[1])}</p>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in b[1]) + "</ul>"
    if kind == "table":
        head = "".join(f"<th>{escape(h)}</th>" for h in b[1])
        body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in b[2])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if kind == "plot":
        return (f'<figure class="plot" data-plot="{escape(b[1])}">'
                f"{_inline_svg(b[2])}<figcaption>{escape(b[3])}</figcaption></figure>")
    return None


def _td(cell) -> str:
    """A table cell; numbers (``12.50 ± 0.71``, ``1,000``, ``2/3``) are right-aligned."""
    text = str(cell)
    numeric = re.fullmatch(r"[-+\u2013]?[\d.,/]*( \u00b1 [\d.,]+)?", text)
    return f'<td class="num">{text}</td>' if numeric else f"<td>{escape(text)}</td>"


def _inline_svg(svg: str) -> str:
    """Matplotlib's SVG file without its XML prologue and metadata, ready to sit in HTML."""
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    return re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)

"""One self-contained HTML page of many trees, with a filter and hover tooltips.

The page's style sheet and script are package data (``static/page.css``, ``static/page.js``),
inlined into the page so that it opens from disk with nothing to fetch.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources

from treenn.show.layout import draw_tree
from treenn.show.legend import draw_legend_only
from treenn.show.shown import ShownTree
from treenn.show.svg import to_svg


@cache
def static_text(name: str) -> str:
    """A file of ``treenn/show/static/`` as text."""
    return resources.files("treenn.show").joinpath("static", name).read_text(encoding="utf-8")


def _header(trees: Sequence[ShownTree], title: str, meta: Sequence[str]) -> list[str]:
    """The page up to the end of its sticky header: title, counts, filter, legend."""
    legend = to_svg(draw_legend_only(trees[0]), "treenn-legend")
    n_root = sum(t.root_error is True for t in trees)
    n_node = sum(t.node_errors > 0 for t in trees)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>",
             f"<style>\n{static_text('page.css')}</style></head>",
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
    return parts


def _section(k: int, shown: ShownTree) -> list[str]:
    """Sentence ``k``: its words, the root's prediction, and its tree."""
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
    return [f'<section class="sentence" id="s{k}" '
            f'data-root-error="{int(shown.root_error is True)}" '
            f'data-node-errors="{shown.node_errors}">',
            f"<h2>#{k} {html.escape(' '.join(shown.words))}<br>"
            f'<span class="meta">{status}{nodes}</span></h2>',
            f'<div class="tree">{to_svg(draw_tree(shown, legend=False))}</div>',
            "</section>"]


def html_page(trees: Sequence[ShownTree], title: str, meta: Sequence[str] = ()) -> str:
    """One self-contained page (inline SVG, CSS and script; nothing fetched) of many trees.

    A filter shows all sentences, those whose root is wrong, or those with any wrong node
    (also selectable with ``#filter=root`` / ``#filter=node`` in the address); hovering a
    node shows its class probabilities.
    """
    if not trees:
        raise ValueError("no trees to show")
    parts = _header(trees, title, meta)
    for k, shown in enumerate(trees, start=1):
        parts += _section(k, shown)
    parts.append('<div id="tip"></div>')
    names = json.dumps(list(trees[0].class_names)).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="classes">{names}</script>')
    parts.append(f"<script>\n{static_text('page.js')}</script></body></html>")
    return "\n".join(parts) + "\n"

"""The terminal picture: the tree in Unicode lines, labels coloured by class.

Without probabilities the tree is drawn top-down by nltk's pretty-printer. With
probabilities it is an outline, one node a line (root first, children indented under their
parent), with the node's class distribution in aligned columns on the same line: a table as
narrow as the tree is deep, which fits a terminal where a top-down picture with a
distribution under every label would not (484 columns for a 22-word sentence).
"""

from __future__ import annotations

import re
import shutil

from nltk import Tree

from treenn.show.palette import CROSS, ansi
from treenn.show.shown import ShownNode, ShownTree

#: Outline guides (branch, last branch, continuation, blank) indenting two columns a level
#: and, for trees too deep for the terminal, one. The space after a branch keeps it apart
#: from a label that starts with a minus sign.
GUIDES = {2: ("\u251c\u2500 ", "\u2514\u2500 ", "\u2502 ", "  "),
          1: ("\u251c\u2500 ", "\u2514\u2500 ", "\u2502", " ")}
#: Columns of one probability (``.27``, ``1.00``) with the space before it.
PROB_W = 5
#: Columns between the outline and the probabilities.
GAP = 2
ELLIPSIS = "\u2026"
#: Trees deeper than this are drawn as an outline: nltk's top-down pretty-printer recurses
#: and slows with depth (0.2 s at 200 levels, 7 s at 800, Python's recursion limit near
#: 950), and such a picture is thousands of columns wide anyway.
MAX_PICTURE_DEPTH = 200


def terminal_width() -> int:
    """The terminal's width in columns; 80 when not writing to a terminal."""
    return shutil.get_terminal_size((80, 24)).columns


def _paint(shown: ShownTree, text: str, k: int, color: bool) -> str:
    return ansi(text, shown.colors[k]) if color else text


def _term_label(shown: ShownTree, node: ShownNode, color: bool) -> str:
    """``p`` for a prediction, ``p✗g`` for a wrong one, ``·`` for no value."""
    if node.pred < 0:
        return "\u00b7"
    label = _paint(shown, shown.short_names[node.pred], node.pred, color)
    if node.wrong:
        label += CROSS + _paint(shown, shown.short_names[node.gold], node.gold, color)
    return label


def _prob(p: float) -> str:
    """``0.27`` -> ``.27`` (``1.00`` stays)."""
    return f"{p:.2f}".lstrip("0") or "0"


def _visible_len(text: str) -> int:
    return len(re.sub(r"\x1b\[[0-9;]*m", "", text))


def _wrap(parts: list[str], width: int, indent: int) -> str:
    """``parts`` (each ending in its separator) joined, broken before a part that would pass
    ``width`` visible columns; continuation lines are indented by ``indent``."""
    lines, line = [], ""
    for part in parts:
        if line.strip() and _visible_len(line + part.rstrip()) > width:
            lines.append(line.rstrip())
            line = " " * indent
        line += part
    return "\n".join([*lines, line.rstrip()])


def term_legend(shown: ShownTree, color: bool, width: int | None = None) -> str:
    """What the colours and marks mean, wrapped to ``width`` columns (default: the
    terminal's)."""
    parts = []
    for k, name in enumerate(shown.class_names):
        swatch = shown.short_names[k]
        parts.append((f"{_paint(shown, swatch, k, color)} {name}" if swatch != name
                      else _paint(shown, name, k, color)) + ", ")
    parts[-1] = parts[-1][:-2] + "; "
    if shown.has_gold:
        parts.append(f"p{CROSS}g: predicted p, gold g"
                     + (" (true value)" if shown.listops else "") + "; ")
    if shown.listops:
        parts.append("\u00b7 incomplete sub-expression")
    parts[-1] = parts[-1].removesuffix("; ")
    return _wrap(["legend: ", *parts], width or terminal_width(), len("legend: "))


def _pretty_tree(shown: ShownTree, color: bool) -> str:
    """The tree drawn top-down with nltk's pretty-printer.

    The pretty-printer lays out plain placeholders of the labels' visible widths, which are
    then replaced by the coloured labels (ANSI escapes would otherwise count as width).
    """
    from nltk.tree.prettyprinter import TreePrettyPrinter

    labels = [_term_label(shown, n, color) for n in shown.nodes]
    placeholders = [chr(0xE000 + i % 6000) + "\uf8ff" * (_visible_len(label) - 1)
                    for i, label in enumerate(labels)]
    by_key = {p: label for p, label in zip(placeholders, labels, strict=True)}

    built: list[Tree | None] = [None] * len(shown.nodes)
    for i, node in enumerate(shown.nodes):  # graph order: children before their parents
        if node.word is not None:
            # Every word under a preterminal: nltk misorders bare words next to subtrees.
            built[i] = Tree(placeholders[i] if node.pred >= 0 else "", [node.word])
        else:
            built[i] = Tree(placeholders[i], [built[c] for c in node.children])
    text = TreePrettyPrinter(built[-1]).text(unicodelines=True, maxwidth=10_000)
    text = re.sub("[\ue000-\uf8fe]\uf8ff*", lambda m: by_key.get(m.group(0), m.group(0)), text)
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def _outline_tree(shown: ShownTree, color: bool) -> str:
    """A tree too deep for the top-down picture as an outline: one node a line, one column
    a level, under a line that says why."""
    depth = max(n.depth for n in shown.nodes) + 1
    lines = [f"({depth} levels, more than the {MAX_PICTURE_DEPTH} of a top-down picture: "
             "an outline, one node a line)"]
    for guides, i in _outline(shown, 1):
        node = shown.nodes[i]
        label = _term_label(shown, node, color) if node.pred >= 0 or node.word is None else ""
        lines.append(guides + " ".join(x for x in (label, node.word) if x))
    return "\n".join(lines)


def _outline(shown: ShownTree, step: int) -> list[tuple[str, int]]:
    """``(guides, node id)`` of every node in pre-order (root first), ``step`` columns a
    level."""
    branch, last_branch, pipe, blank = GUIDES[step]
    rows: list[tuple[str, int]] = []
    stack = [(len(shown.nodes) - 1, "", "")]  # (node, its guides, its children's indent)
    while stack:
        i, guides, indent = stack.pop()
        rows.append((guides, i))
        children = shown.nodes[i].children
        for j in reversed(range(len(children))):
            last = j == len(children) - 1
            stack.append((children[j], indent + (last_branch if last else branch),
                          indent + (blank if last else pipe)))
    return rows


def _shorten(word: str, room: int) -> str:
    """``word`` in at most ``room`` columns (a word is never cut below one letter and an
    ellipsis).

    >>> _shorten("unremittingly", 6), _shorten(".", 0)
    ('unrem…', '.')
    """
    return word if len(word) <= max(room, 2) else word[:max(room - 1, 1)] + ELLIPSIS


def _outline_cells(shown: ShownTree, color: bool, width: int) -> list[tuple[str, int, int]]:
    """``(outline text, its visible width, node id)`` per node, as narrow as ``width`` needs:
    two columns a level, else one, else long words shortened (a tree deeper than the
    terminal is wide still overflows)."""
    room = width - GAP - PROB_W * len(shown.class_names)
    labels = [_term_label(shown, n, color) if n.pred >= 0 or n.word is None else ""
              for n in shown.nodes]
    for step in (2, 1):
        rows = _outline(shown, step)
        heads = [guides + labels[i] + (" " if labels[i] and shown.nodes[i].word else "")
                 for guides, i in rows]
        widths = [_visible_len(h) + len(shown.nodes[i].word or "")
                  for h, (_, i) in zip(heads, rows, strict=True)]
        if max(widths) <= room or step == 1:
            break
    cells = []
    for head, (_, i) in zip(heads, rows, strict=True):
        word = shown.nodes[i].word or ""
        if word:
            word = _shorten(word, room - _visible_len(head))
        cells.append((head + word, _visible_len(head) + len(word), i))
    return cells


def _probability_table(shown: ShownTree, color: bool, width: int) -> str:
    """The outline with every node's class probabilities in columns under the class names."""
    cells = _outline_cells(shown, color, width)
    left = max(w for _, w, _ in cells) + GAP
    header = " " * left + "".join(
        " " * (PROB_W - len(name)) + _paint(shown, name, k, color)
        for k, name in enumerate(shown.short_names))
    lines = [header]
    for text, w, i in cells:
        node = shown.nodes[i]
        probs = "" if node.pred < 0 else "".join(
            f"{_prob(p):>{PROB_W}}" if k != node.pred or not color
            else " " * (PROB_W - len(_prob(p))) + _paint(shown, _prob(p), k, color)
            for k, p in enumerate(node.probs))
        lines.append((text + " " * (left - w) + probs).rstrip())
    return "\n".join(lines)


def term_tree(shown: ShownTree, probabilities: bool = False, color: bool = True,
              width: int | None = None) -> str:
    """The tree in Unicode lines, labels coloured by class.

    Args:
        shown: the tree and its predictions.
        probabilities: an outline with each node's class distribution (fitted to ``width``)
            instead of the top-down picture.
        color: ANSI colours.
        width: columns for the probability table; default: the terminal's (80 when not a
            terminal).
    """
    if probabilities:
        return _probability_table(shown, color, width or terminal_width())
    if max(n.depth for n in shown.nodes) >= MAX_PICTURE_DEPTH:
        return _outline_tree(shown, color)
    return _pretty_tree(shown, color)

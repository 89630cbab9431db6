"""The terminal picture: the tree in Unicode lines (nltk's pretty-printer), labels coloured
by class with ANSI escapes."""

from __future__ import annotations

import re

from nltk import Tree

from treenn.show.palette import CROSS, ansi
from treenn.show.shown import ShownNode, ShownTree


def _term_label(shown: ShownTree, node: ShownNode, probabilities: bool, color: bool) -> str:
    if node.pred < 0:
        return "\u00b7"
    paint = (lambda text, k: ansi(text, shown.colors[k])) if color else (lambda text, k: text)
    label = paint(shown.short_names[node.pred], node.pred)
    if node.wrong:
        label += CROSS + paint(shown.short_names[node.gold], node.gold)
    if probabilities:
        label += " " + "/".join(f"{p:.2f}".lstrip("0") or "0" for p in node.probs)
    return label


def _visible_len(text: str) -> int:
    return len(re.sub(r"\x1b\[[0-9;]*m", "", text))


def term_legend(shown: ShownTree, color: bool) -> str:
    """What the colours and marks mean, on one line."""
    parts = []
    for k, name in enumerate(shown.class_names):
        swatch = shown.short_names[k]
        parts.append(f"{ansi(swatch, shown.colors[k]) if color else swatch} {name}"
                     if swatch != name else (ansi(name, shown.colors[k]) if color else name))
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

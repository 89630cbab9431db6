"""Trivial parsers: right-branching, left-branching and balanced binary trees.

Internal nodes are labelled ``X`` and words get the tag ``XX``: these parsers know no labels.

>>> print(RightBranching().parse(["a", "b", "c"]))
(X (XX a) (X (XX b) (XX c)))
>>> print(LeftBranching().parse(["a", "b", "c"]))
(X (X (XX a) (XX b)) (XX c))
>>> print(Balanced().parse(["a", "b", "c", "d"]))
(X (X (XX a) (XX b)) (X (XX c) (XX d)))
"""

from __future__ import annotations

from nltk import Tree

from treenn.parsers import Parser


def _leaves(tokens: list[str]) -> list[Tree]:
    if not tokens:
        raise ValueError("empty sentence")
    return [Tree("XX", [t]) for t in tokens]


class RightBranching(Parser):
    name = "right-branching"

    def parse(self, tokens):
        nodes = _leaves(tokens)
        tree = nodes[-1]
        for node in reversed(nodes[:-1]):
            tree = Tree("X", [node, tree])
        return tree


class LeftBranching(Parser):
    name = "left-branching"

    def parse(self, tokens):
        nodes = _leaves(tokens)
        tree = nodes[0]
        for node in nodes[1:]:
            tree = Tree("X", [tree, node])
        return tree


class Balanced(Parser):
    """Split every span in the middle (the left half takes the extra word)."""

    name = "balanced"

    def parse(self, tokens):
        nodes = _leaves(tokens)

        def build(lo: int, hi: int) -> Tree:  # recursion depth is log2(n)
            if hi - lo == 1:
                return nodes[lo]
            mid = (lo + hi + 1) // 2
            return Tree("X", [build(lo, mid), build(mid, hi)])

        return build(0, len(nodes))


"""The span view of trees that chart parsers use (reading and cleaning the Penn Treebank is
:mod:`treenn.data.ptb`).

* :func:`to_spans` / :func:`from_spans`: a tree as labelled word spans with unary chains
  collapsed into one label (``S+VP``) and part-of-speech tags dropped, and back. Chart parsers
  predict spans; :func:`from_spans` restores the unary chains for labelled scoring.
* :func:`binary_spans`: the right-factored binary derivation of a span set (extra spans get
  the empty label), i.e. the gold tree a binary chart parser is trained towards.

>>> t = clean(Tree.fromstring("(S (NP-SBJ-1 (-NONE- *)) (VP (VBD ran) (NP (PRP it))) (. .))"))
>>> print(t)
(S (VP (VBD ran) (NP (PRP it))) (. .))
>>> words, spans = to_spans(t)
>>> words, sorted(spans.items())
(['ran', 'it', '.'], [((0, 2), 'VP'), ((0, 3), 'S'), ((1, 2), 'NP')])
>>> print(from_spans(words, spans))
(S (VP (XX ran) (NP (XX it))) (XX .))
"""

from __future__ import annotations

from nltk import Tree

from treenn.data.ptb import clean  # noqa: F401  (its doctest below reads as before)
from treenn.data.trees import is_preterminal

EMPTY = ""  # the label of a span that is not a constituent
JOIN = "+"  # joins the labels of a collapsed unary chain
TAG = "XX"  # part-of-speech placeholder on predicted trees

def to_spans(tree: Tree) -> tuple[list[str], dict[tuple[int, int], str]]:
    """Words and ``{(start, end): label}`` with unary chains collapsed, tags dropped."""
    words: list[str] = []
    spans: dict[tuple[int, int], str] = {}
    # iterative post-order with a chain of labels gathered while descending unary nodes
    stack: list[tuple[Tree, list[str], int | None]] = [(tree, [], None)]
    while stack:
        node, chain, start = stack.pop()
        if start is None:
            labels = [*chain]
            while not is_preterminal(node) and len(node) == 1:
                labels.append(node.label())
                node = node[0]
            if is_preterminal(node):
                words.append(node[0])
                if labels:
                    spans[(len(words) - 1, len(words))] = JOIN.join(labels)
                continue
            labels.append(node.label())
            stack.append((node, labels, len(words)))
            stack.extend((child, [], None) for child in reversed(node))
        else:
            spans[(start, len(words))] = JOIN.join(chain)
    return words, spans


def from_spans(words: list[str], spans: dict[tuple[int, int], str], top: str | None = None
               ) -> Tree:
    """Build a tree from nested spans; collapsed labels become unary chains again.

    Spans must nest (as every parser output does). When no single labelled span covers the
    sentence, the top nodes are wrapped in a node labelled ``top`` (default ``X``).
    """
    n = len(words)
    nodes: list[Tree | str] = [Tree(TAG, [w]) for w in words]
    ordered = sorted(((i, j, lab) for (i, j), lab in spans.items() if lab != EMPTY),
                     key=lambda s: (s[1] - s[0], -s[0]))
    # cover[k] = the top node currently covering word k, and where that node starts/ends
    owner: list[tuple[int, int, Tree | str]] = [(k, k + 1, nodes[k]) for k in range(n)]
    for i, j, label in ordered:
        kids, seen, k = [], set(), i
        while k < j:
            s, e, node = owner[k]
            if id(node) not in seen:
                kids.append(node)
                seen.add(id(node))
            k = e
        parts = label.split(JOIN)
        node = Tree(parts[-1], kids)
        for part in reversed(parts[:-1]):
            node = Tree(part, [node])
        for k in range(i, j):
            owner[k] = (i, j, node)
    roots, k = [], 0
    while k < n:
        s, e, node = owner[k]
        roots.append(node)
        k = e
    if len(roots) == 1 and isinstance(roots[0], Tree) and roots[0].label() != TAG:
        return roots[0]
    return Tree(top or "X", roots)


def binary_spans(n: int, spans: dict[tuple[int, int], str]) -> dict[tuple[int, int], str]:
    """Right-factored binary derivation over ``n`` words: the given spans plus empty-labelled
    spans that binarise wider nodes (every word span and the whole sentence included).

    >>> sorted(binary_spans(3, {(0, 3): "NP"}).items())
    [((0, 1), ''), ((0, 3), 'NP'), ((1, 2), ''), ((1, 3), ''), ((2, 3), '')]
    """
    out = {(k, k + 1): spans.get((k, k + 1), EMPTY) for k in range(n)}
    out[(0, n)] = spans.get((0, n), EMPTY)
    for (i, j), label in spans.items():
        out[(i, j)] = label
    # children of each span = maximal proper sub-spans; factor right when more than two
    for (i, j) in sorted(list(out), key=lambda s: s[0] - s[1]):
        if j - i < 2:
            continue
        kids, k = [], i
        while k < j:
            end = max(e for (s, e) in out if s == k and e <= j and (s, e) != (i, j))
            kids.append((k, end))
            k = end
        for a in range(1, len(kids) - 1):
            out.setdefault((kids[a][0], j), EMPTY)
    return out

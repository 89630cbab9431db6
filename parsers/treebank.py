"""Penn Treebank preparation, and the span view of trees that chart parsers use.

* :func:`clean`: strip function tags and indices (``NP-SBJ-1`` -> ``NP``), remove traces and
  empty constituents (``-NONE-`` and what becomes empty without it), drop the unlabelled top.
* :func:`to_spans` / :func:`from_spans`: a tree as labelled word spans with unary chains
  collapsed into one label (``S+VP``) and part-of-speech tags dropped, and back. Chart parsers
  predict spans; :func:`from_spans` restores the unary chains for labelled scoring.
* :func:`binary_spans`: the right-factored binary derivation of a span set (extra spans get
  the empty label), i.e. the gold tree a binary chart parser is trained towards.
* :func:`load_ptb`: NLTK's 10% WSJ sample, split by file as in README.

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

import os
import re
from pathlib import Path

from nltk import Tree

from treenn.data.trees import is_preterminal, iter_subtrees
from treenn.errors import TreennError

EMPTY = ""  # the label of a span that is not a constituent
JOIN = "+"  # joins the labels of a collapsed unary chain
TAG = "XX"  # part-of-speech placeholder on predicted trees

#: file number ranges of the splits (inclusive)
SPLITS = {"train": (1, 159), "dev": (160, 179), "test": (180, 199)}


def base_label(label: str) -> str:
    """``NP-SBJ-1`` -> ``NP``, ``PP=2`` -> ``PP``; ``-NONE-``, ``-LRB-`` stay as they are."""
    if label.startswith("-"):
        return label
    return re.split(r"[-=]", label, maxsplit=1)[0] or label


def clean(tree: Tree) -> Tree:
    """Remove traces, empty constituents and function tags; unwrap an unlabelled top node."""
    tree = tree.copy(deep=True)
    while tree.label() in ("", "TOP", "ROOT") and len(tree) == 1 and isinstance(tree[0], Tree):
        tree = tree[0]
    # post-order pruning: visit parents after children
    nodes = list(iter_subtrees(tree))
    for node in reversed(nodes):
        node[:] = [c for c in node
                   if isinstance(c, str) or (c.label() != "-NONE-" and len(c) > 0)]
        node.set_label(base_label(node.label()))
    if len(tree) == 0:
        raise ValueError("the tree is empty once traces are removed")
    return tree


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


def load_ptb(data_dir: str | None = None) -> dict[str, list[Tree]]:
    """NLTK's treebank sample, cleaned, split by file (train 0001-0159, dev 0160-0179,
    test 0180-0199). ``data_dir`` is an ``nltk_data`` folder; else NLTK's usual search path
    (``NLTK_DATA``) is used."""
    import nltk

    if data_dir is not None:
        if not Path(data_dir, "corpora", "treebank").is_dir():
            raise TreennError(f"data directory {data_dir} has no corpora/treebank "
                              "(expected an nltk_data folder)")
        root = str(Path(data_dir).resolve())
        if root not in nltk.data.path:
            nltk.data.path.insert(0, root)  # registered, so nltk's reader accepts the path
    try:
        # a fresh reader on the root nltk finds (nltk.corpus.treebank would cache the first one)
        root = nltk.data.find("corpora/treebank/combined")
        treebank = nltk.corpus.reader.BracketParseCorpusReader(str(root), r"wsj_.*\.mrg")
        fileids = treebank.fileids()
    except LookupError:
        raise TreennError(
            "the Penn Treebank sample is not installed: run `python -m nltk.downloader "
            f"treebank`, or point NLTK_DATA (now {os.environ.get('NLTK_DATA')!r}) or "
            "--data-dir at an nltk_data folder") from None
    out: dict[str, list[Tree]] = {name: [] for name in SPLITS}
    for fileid in fileids:
        number = int(fileid[4:8])
        split = next(name for name, (lo, hi) in SPLITS.items() if lo <= number <= hi)
        out[split].extend(clean(t) for t in treebank.parsed_sents(fileid))
    return out

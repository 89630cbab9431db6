"""Shared pieces of the chart parsers: labels, words, gold derivations, exact CKY, loss.

A parse is a *binary derivation*: every word span and every span of the binary tree has a
label id, with 0 the empty label (a span added by binarisation, or a word with no unary chain
above its tag). :func:`decode_decomposable` is exact CKY for span scores that do not depend
on the rest of the tree (the BiLSTM parser); the recursive parser has its own chart in
``parsers.chart_search`` because its span vectors depend on the chosen sub-derivation.

Training is max-margin (Taskar et al. 2005; Stern et al. 2017): the loss of a sentence is
``max(0, score(d') + cost(d') - score(gold))`` where ``d'`` is the loss-augmented best
derivation and ``cost`` counts its spans whose label differs from the gold label of that
span (the empty label for spans not in the gold derivation).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from nltk import Tree

from treenn.data.vocab import PAD, UNK, UNK_ID, Vocab
from treenn.parsers.pcfg import signature
from treenn.parsers.treebank import EMPTY, binary_spans, from_spans, to_spans

Span = tuple[int, int]


class Labels:
    """Collapsed span labels with the empty label at 0."""

    def __init__(self, names: list[str]):
        if names[:1] != [EMPTY]:
            raise ValueError("label 0 is the empty label")
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}

    @classmethod
    def build(cls, trees: list[Tree]) -> Labels:
        counts = Counter(lab for t in trees for lab in to_spans(t)[1].values())
        return cls([EMPTY, *sorted(counts, key=lambda k: (-counts[k], k))])

    def __len__(self) -> int:
        return len(self.names)


class Words:
    """The parsers' word table: a lower-cased :class:`~data.vocab.Vocab` (``<pad>`` 0,
    ``<unk>`` 1), the training counts (for word dropout) and word-shape ids."""

    def __init__(self, words: list[str], counts: dict[str, int], shapes: list[str]):
        self.vocab = Vocab(words, lower=True)
        self.counts = counts
        self.shapes = shapes
        self.shape_index = {s: i for i, s in enumerate(shapes)}

    @classmethod
    def build(cls, sentences: list[list[str]], extra: set[str] = frozenset()) -> Words:
        """Training words, most frequent first, then the ``extra`` words in sorted order."""
        vocab = Vocab.build(sentences, lower=True, extra=sorted(extra))
        counts = Counter(w.lower() for s in sentences for w in s)
        shapes = [PAD, UNK, *sorted({signature(w) for s in sentences for w in s})]
        return cls(vocab.words, dict(counts), shapes)

    @property
    def words(self) -> list[str]:
        return self.vocab.words

    def encode(self, tokens: list[str]) -> tuple[list[int], list[int]]:
        shapes = [self.shape_index.get(signature(t), UNK_ID) for t in tokens]
        return self.vocab.encode(tokens), shapes

    def to_dict(self) -> dict:
        return {"words": self.words, "counts": self.counts, "shapes": self.shapes}

    @classmethod
    def from_dict(cls, state: dict) -> Words:
        return cls(state["words"], state["counts"], state["shapes"])


@dataclass
class Example:
    """One sentence with its gold derivation (label ids per span)."""

    tokens: list[str]
    gold: dict[Span, int]


def make_example(tree: Tree, labels: Labels) -> Example:
    words, spans = to_spans(tree)
    derivation = binary_spans(len(words), spans)
    # labels unseen in training count as the empty label (they cannot be predicted anyway)
    return Example(words, {s: labels.index.get(lab, 0) for s, lab in derivation.items()})


def decode_decomposable(scores: np.ndarray, gold: dict[Span, int] | None = None
                        ) -> tuple[dict[Span, int], float]:
    """Exact CKY over span label scores.

    Args:
        scores: ``[n, n + 1, n_labels]``; ``scores[i, j, l]`` scores label ``l`` on span
            ``(i, j)``. The empty label's score is taken as 0 whatever is given.
        gold: with a gold derivation, decode loss-augmented (+1 for each wrong label).

    Returns:
        The best derivation ``{(i, j): label}`` and its (augmented) score.
    """
    n = scores.shape[0]
    s = scores.copy()
    s[..., 0] = 0.0
    if gold is not None:
        s += 1.0
        for (i, j), lab in gold.items():
            s[i, j, lab] -= 1.0
        # spans outside the gold derivation: the empty label is the right one there
        outside = np.ones((n, n + 1), dtype=bool)
        for (i, j) in gold:
            outside[i, j] = False
        s[..., 0][outside] -= 1.0
    label = s.argmax(-1)  # [n, n + 1]
    node = np.take_along_axis(s, label[..., None], -1)[..., 0]
    best = np.zeros((n, n + 1))
    split = np.zeros((n, n + 1), dtype=np.int64)
    idx = np.arange(n)
    best[idx, idx + 1] = node[idx, idx + 1]
    for length in range(2, n + 1):
        i = np.arange(n - length + 1)
        ks = i[:, None] + np.arange(1, length)[None, :]  # [spans, splits]
        total = best[i[:, None], ks] + best[ks, (i + length)[:, None]]
        arg = total.argmax(1)
        split[i, i + length] = ks[np.arange(len(i)), arg]
        best[i, i + length] = total[np.arange(len(i)), arg] + node[i, i + length]
    out: dict[Span, int] = {}
    stack = [(0, n)]
    while stack:
        a, b = stack.pop()
        out[(a, b)] = int(label[a, b])
        if b - a > 1:
            k = int(split[a, b])
            stack += [(a, k), (k, b)]
    return out, float(best[0, n])


def cost(pred: dict[Span, int], gold: dict[Span, int]) -> int:
    """Hamming cost: predicted spans whose label is not the gold label of that span."""
    return sum(lab != gold.get(span, 0) for span, lab in pred.items())


def to_tree(tokens: list[str], derivation: dict[Span, int], labels: Labels) -> Tree:
    """A PTB-style tree (unary chains restored, tags ``XX``) from a derivation."""
    spans = {span: labels.names[lab] for span, lab in derivation.items() if lab}
    return from_spans(tokens, spans, top="TOP")  # evalb ignores TOP when no label covers all


def derivation_tree(derivation: dict[Span, int]) -> Tree:
    """The binary derivation as an nltk tree: labels are label ids (as strings), leaves are
    word positions. Used to run the tree engines over derivations."""
    n = max(j for _, j in derivation)
    nodes: dict[Span, Tree] = {}
    for (i, j) in sorted(derivation, key=lambda s: s[1] - s[0]):
        lab = str(derivation[(i, j)])
        if j - i == 1:
            nodes[(i, j)] = Tree(lab, [str(i)])
        else:
            k = next(k for k in range(i + 1, j) if (i, k) in nodes and (k, j) in nodes
                     and (i, k) in derivation and (k, j) in derivation)
            nodes[(i, j)] = Tree(lab, [nodes[(i, k)], nodes[(k, j)]])
    return nodes[(0, n)]

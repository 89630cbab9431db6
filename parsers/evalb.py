"""Bracket scoring compatible with evalb and its ``COLLINS.prm`` parameter file.

Conventions (``COLLINS.prm``): words tagged ``, : `` '' .`` are removed before spans are
counted, preterminals are not brackets, a ``TOP`` node is not a bracket, ``ADVP`` and ``PRT``
count as the same label, and every node of a unary chain is its own bracket. Brackets are a
multiset of ``(label, start, end)``; precision, recall and F1 are summed over the corpus.
The parsers here predict no tags, so punctuation is found from the gold tree's tags.

>>> gold = Tree.fromstring("(S (NP (DT The) (NN cat)) (VP (VBD sat)) (. .))")
>>> test = Tree.fromstring("(S (NP (XX The)) (VP (XX cat) (XX sat)) (XX .))")
>>> s = Scores(); s.add(gold, test); round(s.labelled.f1, 4), round(s.unlabelled.f1, 4)
(0.3333, 0.3333)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nltk import Tree

from treenn.data.trees import is_preterminal, iter_subtrees, leaves, relabel_uniform

PUNCTUATION_TAGS = {",", ":", "``", "''", "."}
DELETED_LABELS = {"TOP", "ROOT", "", "-NONE-"}
EQUIVALENT = {"PRT": "ADVP"}


def _tags(tree: Tree) -> list[str]:
    return [node.label() for node in iter_subtrees(tree) if len(node) == 1
            and isinstance(node[0], str)]


def brackets(tree: Tree, keep: list[bool]) -> Counter:
    """Multiset of ``(label, start, end)``; ``keep[k]`` says whether word ``k`` counts."""
    # position of each word among the kept words
    index, count = [], 0
    for k in keep:
        index.append(count)
        count += k
    index.append(count)
    out: Counter = Counter()
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    # compute spans iteratively: (node, first word) with sizes from a post-order pass
    sizes: dict[int, int] = {}
    for node in reversed(list(iter_subtrees(tree))):
        sizes[id(node)] = sum(1 if isinstance(c, str) else sizes[id(c)] for c in node)
    while stack:
        node, start = stack.pop()
        end = start + sizes[id(node)]
        label = node.label()
        is_pre = is_preterminal(node)
        if not is_pre and label not in DELETED_LABELS:
            a, b = index[start], index[end]
            if b > a:
                out[(EQUIVALENT.get(label, label), a, b)] += 1
        offset = start
        children = []
        for child in node:
            if isinstance(child, Tree):
                children.append((child, offset))
                offset += sizes[id(child)]
            else:
                offset += 1
        stack.extend(reversed(children))
    return out


@dataclass
class PRF:
    matched: int = 0
    gold: int = 0
    test: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.test if self.test else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "matched": self.matched, "gold": self.gold, "test": self.test}


@dataclass
class Scores:
    """Corpus-level labelled and unlabelled bracket scores, plus exact matches."""

    labelled: PRF = field(default_factory=PRF)
    unlabelled: PRF = field(default_factory=PRF)
    sentences: int = 0
    exact: int = 0

    def add(self, gold: Tree, test: Tree) -> None:
        words_gold, words_test = leaves(gold), leaves(test)
        if words_gold != words_test:
            raise ValueError(f"the trees have different words: {words_gold[:5]}... vs "
                             f"{words_test[:5]}...")
        keep = [tag not in PUNCTUATION_TAGS for tag in _tags(gold)]
        g, t = brackets(gold, keep), brackets(test, keep)
        matched = sum((g & t).values())
        self.labelled.matched += matched
        self.labelled.gold += sum(g.values())
        self.labelled.test += sum(t.values())
        ug = Counter((a, b) for (_, a, b), n in g.items() for _ in range(n))
        ut = Counter((a, b) for (_, a, b), n in t.items() for _ in range(n))
        self.unlabelled.matched += sum((ug & ut).values())
        self.unlabelled.gold += sum(ug.values())
        self.unlabelled.test += sum(ut.values())
        self.sentences += 1
        self.exact += g == t

    def to_dict(self) -> dict:
        return {"labelled": self.labelled.to_dict(), "unlabelled": self.unlabelled.to_dict(),
                "sentences": self.sentences, "exact_match": self.exact / max(self.sentences, 1)}


def binary_unlabelled(gold: Tree, test: Tree) -> tuple[int, int, int]:
    """Unlabelled spans of binary trees (e.g. SST), as in grammar-induction work: spans of
    two or more words, the whole sentence excluded, punctuation kept.

    Returns ``(matched, gold, test)`` span counts for corpus-level F1.
    """
    keep = [True] * len(leaves(gold))
    n = len(keep)

    def spans(tree):
        return {(a, b) for (_, a, b) in brackets(_unlabel(tree), keep) if b - a > 1
                and (a, b) != (0, n)}

    g, t = spans(gold), spans(test)
    return len(g & t), len(g), len(t)


def _unlabel(tree: Tree) -> Tree:
    """A copy with only the shape (built without recursion: induced trees of long inputs
    are deeper than Python's recursion limit)."""
    return relabel_uniform(tree, inner="X", tag="w")

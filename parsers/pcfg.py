"""A PCFG read off the training treebank, decoded exactly by CKY written with array operations.

Grammar: unary chains are collapsed into one symbol (``S+VP``; a chain ending in a tag becomes
a tag symbol, ``NP+PRP``) so the grammar has only binary and lexical rules; optional parent
annotation (``NP^S``, vertical order 2) and right-factored binarisation with horizontal
markovisation (``@NP|JJ`` remembers the last ``h`` siblings). Rare and unseen words fall back
to word-shape signatures (capitalisation, digits, hyphens, common suffixes).

The decoder fills the chart one span length at a time: for all spans of that length and all
split points at once it scores every binary rule (``[spans, splits, rules]``), takes the best
split, then the best rule per parent symbol (``np.maximum.reduceat`` over rules sorted by
parent). Exact Viterbi, no pruning; nltk's ``ViterbiParser`` needs minutes per sentence on
this grammar.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nltk import Tree

from treenn.data.trees import is_preterminal, iter_subtrees
from treenn.parsers import Parser
from treenn.parsers.baselines import RightBranching
from treenn.parsers.treebank import JOIN

log = logging.getLogger(__name__)

PARENT = "^"
BAR = "@"
NEG = np.float32(-1e30)
SUFFIXES = ("ing", "ed", "ly", "ion", "s", "er", "est", "al", "ity", "y", "ive", "able")


def signature(word: str) -> str:
    """Word-shape class for rare and unknown words.

    >>> signature("Brussels"), signature("1,200"), signature("re-election"), signature("ran")
    ('UNK-C-s', 'UNK-D', 'UNK-H-ion', 'UNK')
    """
    parts = ["UNK"]
    if word[:1].isupper():
        parts.append("AC" if word.isupper() and len(word) > 1 else "C")
    if any(ch.isdigit() for ch in word):
        parts.append("D")
    if "-" in word:
        parts.append("H")
    lower = word.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix) + 2 and not parts[1:2] == ["D"]:
            parts.append(suffix)
            break
    return "-".join(parts)


def _collapse(tree: Tree) -> Tree:
    """Collapse unary chains into joined labels (onto the tag when a chain ends in one)."""
    out = tree.copy(deep=True)
    for node in iter_subtrees(out):
        while len(node) == 1 and isinstance(node[0], Tree):
            child = node[0]
            node.set_label(node.label() + JOIN + child.label())
            node[:] = list(child)
    return out


def _annotate_parents(tree: Tree) -> Tree:
    out = tree.copy(deep=True)
    stack = [(out, "ROOT")]
    while stack:
        node, parent = stack.pop()
        is_tag = is_preterminal(node)
        label = node.label()
        if not is_tag:
            node.set_label(f"{label}{PARENT}{parent}")
        stack.extend((c, label) for c in node if isinstance(c, Tree))
    return out


def _binarise(tree: Tree, horizontal: int) -> Tree:
    out = tree.copy(deep=True)
    for node in iter_subtrees(out):
        if len(node) > 2:
            kids = list(node)
            base = node.label()
            right = kids[-1]
            for k in range(len(kids) - 2, 0, -1):
                context = "_".join(c.label() for c in kids[max(0, k - horizontal + 1):k + 1])
                right = Tree(f"{BAR}{base}|{context}" if horizontal else f"{BAR}{base}",
                             [kids[k], right])
            node[:] = [kids[0], right]
    return out


def _unbinarise(tree: Tree) -> Tree:
    """Undo binarisation, parent annotation and unary-chain collapsing."""
    def build(node):  # recursion depth = tree height (< sentence length)
        if isinstance(node, str):
            return [node]
        kids = [k for child in node for k in build(child)]
        if node.label().startswith(BAR):
            return kids
        # strip the parent annotation first: the parent's own label may hold a '+' (NP^S+VP)
        parts = node.label().split(PARENT, 1)[0].split(JOIN)
        out = Tree(parts[-1], kids)
        for part in reversed(parts[:-1]):
            out = Tree(part, [out])
        return [out]

    return build(tree)[0]


@dataclass
class PCFGConfig:
    horizontal: int = 1
    vertical: int = 1
    rare: int = 1  # words seen at most this often share their signature's statistics
    lexical_mix: float = 0.9  # weight of a known word's own statistics vs its signature's
    max_length: int = 120  # exact CKY over this grammar takes minutes beyond this


class PCFG(Parser):
    name = "pcfg"

    def __init__(self, cfg: PCFGConfig | None = None):
        self.cfg = cfg or PCFGConfig()

    # ------------------------------------------------------------------ training

    def fit(self, trees: list[Tree]) -> PCFG:
        """Read rule and word counts off cleaned treebank trees (relative frequencies)."""
        word_counts = Counter(w for t in trees for w in t.leaves())
        self.known = {w for w, n in word_counts.items() if n > self.cfg.rare}
        binary, lexical, sig_lexical, roots = self._count(trees)
        symbols = sorted({a for a, _, _ in binary} | {b for _, b, _ in binary}
                         | {c for _, _, c in binary} | {t for t, _ in lexical} | set(roots))
        self.symbols = symbols
        self.index = {s: i for i, s in enumerate(symbols)}
        self._fit_rules(binary, lexical)
        self._fit_lexicon(lexical, sig_lexical)
        self.root_logp = np.full(len(symbols), NEG, dtype=np.float32)
        total_roots = sum(roots.values())
        for r, n in roots.items():
            self.root_logp[self.index[r]] = math.log(n / total_roots)
        log.info("PCFG: %d symbols, %d binary rules, %d tags, %d known words", len(symbols),
                 len(self.rule_logp), len(self.tags), len(self.known))
        return self

    def _count(self, trees: list[Tree]) -> tuple[Counter, Counter, Counter, Counter]:
        """Binary rules ``(A, B, C)``, lexical ``(tag, word)``, ``(tag, signature)`` over
        rare words, and root labels, counted on the transformed (binarised) trees."""
        binary: Counter = Counter()
        lexical: Counter = Counter()
        sig_lexical: Counter = Counter()
        roots: Counter = Counter()
        for tree in trees:
            t = _collapse(tree)
            if self.cfg.vertical > 1:
                t = _annotate_parents(t)
            t = _binarise(t, self.cfg.horizontal)
            roots[t.label()] += 1
            for node in iter_subtrees(t):
                if is_preterminal(node):
                    word = node[0]
                    lexical[(node.label(), word)] += 1
                    if word not in self.known:
                        sig_lexical[(node.label(), signature(word))] += 1
                else:
                    binary[(node.label(), node[0].label(), node[1].label())] += 1
        return binary, lexical, sig_lexical, roots

    def _fit_rules(self, binary: Counter, lexical: Counter) -> None:
        """Binary rule arrays sorted by parent, with log P(B C | A)."""
        totals: Counter = Counter()
        for (a, _, _), n in binary.items():
            totals[a] += n
        for (t, _), n in lexical.items():
            totals[t] += n
        rules = sorted(binary.items(), key=lambda kv: self.index[kv[0][0]])
        self.rule_parent = np.array([self.index[a] for (a, _, _), _ in rules], dtype=np.int64)
        self.rule_left = np.array([self.index[b] for (_, b, _), _ in rules], dtype=np.int64)
        self.rule_right = np.array([self.index[c] for (_, _, c), _ in rules], dtype=np.int64)
        self.rule_logp = np.array([math.log(n / totals[a]) for (a, _, _), n in rules],
                                  dtype=np.float32)
        self.parent_starts = np.flatnonzero(np.r_[True, np.diff(self.rule_parent) != 0])
        self.parents = self.rule_parent[self.parent_starts]

    def _fit_lexicon(self, lexical: Counter, sig_lexical: Counter) -> None:
        """P(word | tag) for known words mixed with P(signature | tag)."""
        tag_totals: Counter = Counter()
        for (t, _), n in lexical.items():
            tag_totals[t] += n
        sig_totals: Counter = Counter()
        for (t, _), n in sig_lexical.items():
            sig_totals[t] += n
        self.tags = sorted(tag_totals)
        self.tag_ids = np.array([self.index[t] for t in self.tags], dtype=np.int64)
        self.word_logp: dict[str, np.ndarray] = {}
        by_word: dict[str, dict[str, int]] = defaultdict(dict)
        for (t, w), n in lexical.items():
            by_word[w][t] = n
        by_sig: dict[str, dict[str, int]] = defaultdict(dict)
        for (t, s), n in sig_lexical.items():
            by_sig[s][t] = n
        # P(sig | tag) scaled to the tag's share of rare words (Berkeley-style)
        self.sig_prob = {
            s: np.array([counts.get(t, 0) / tag_totals[t] for t in self.tags], dtype=np.float64)
            for s, counts in by_sig.items()}
        # a signature never seen: P(rare word | tag), with a floor so that any tag is possible
        self.unk_prob = np.array([sig_totals.get(t, 0) / tag_totals[t] + 1e-9
                                  for t in self.tags], dtype=np.float64)
        self.word_prob = {
            w: np.array([counts.get(t, 0) / tag_totals[t] for t in self.tags], dtype=np.float64)
            for w, counts in by_word.items() if w in self.known}

    def _lexical_scores(self, word: str) -> np.ndarray:
        sig = self.sig_prob.get(signature(word))
        if sig is None:
            sig = self.unk_prob
        if word in self.known:
            p = self.cfg.lexical_mix * self.word_prob[word] + (1 - self.cfg.lexical_mix) * sig
        else:
            p = sig
        out = np.full(len(self.symbols), NEG, dtype=np.float32)
        with np.errstate(divide="ignore"):
            out[self.tag_ids] = np.where(p > 0, np.log(np.maximum(p, 1e-300)), NEG)
        return out

    # ------------------------------------------------------------------ decoding

    @property
    def max_length(self) -> int:
        return self.cfg.max_length

    def parse(self, tokens: list[str]) -> Tree:
        """The Viterbi tree with tags, unary chains and n-ary nodes restored (right-branching
        if the grammar gives the sentence no parse)."""
        internal = self._parse_internal(tokens)
        if internal is None:
            log.warning("no PCFG parse for a %d-word sentence; using right-branching",
                        len(tokens))
            return RightBranching().parse(tokens)
        return _unbinarise(internal)

    def _parse_internal(self, tokens: list[str]) -> Tree | None:
        """The best tree in the grammar's own (binarised, annotated) symbols, or None."""
        self.check(tokens)
        n, s = len(tokens), len(self.symbols)
        chart = np.full((n, n + 1, s), NEG, dtype=np.float32)  # [start, end, symbol]
        # back[(i, j)] = (split per symbol, rule per symbol) for spans longer than one word
        back: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for i, word in enumerate(tokens):
            chart[i, i + 1] = self._lexical_scores(word)
        left_sym, right_sym, logp = self.rule_left, self.rule_right, self.rule_logp
        n_rules = len(logp)
        for length in range(2, n + 1):
            starts = np.arange(n - length + 1)
            splits = np.arange(1, length)
            # chunk the spans so [spans, splits, rules] stays around 16M floats
            step = max(1, int(16e6 // (len(splits) * n_rules)))
            for lo in range(0, len(starts), step):
                i = starts[lo:lo + step]
                mid = i[:, None] + splits[None, :]  # [spans, splits]
                left = chart[i[:, None], mid][:, :, left_sym]  # [spans, splits, rules]
                right = chart[mid, (i + length)[:, None]][:, :, right_sym]
                cand = left + right + logp
                best_split = cand.argmax(1)  # [spans, rules]
                best = np.take_along_axis(cand, best_split[:, None, :], 1)[:, 0]
                # best rule per parent: maximum over each parent's contiguous block of rules
                top = np.maximum.reduceat(best, self.parent_starts, axis=1)  # [spans, parents]
                hit = best >= np.repeat(top, np.diff(np.r_[self.parent_starts, n_rules]),
                                        axis=1)
                first = np.minimum.reduceat(np.where(hit, np.arange(n_rules), n_rules),
                                            self.parent_starts, axis=1)  # [spans, parents]
                cells = chart[i, i + length]  # a copy (fancy indexing); written back below
                cells[:, self.parents] = top
                chart[i, i + length] = cells
                for row, start in enumerate(i):
                    rule = np.full(s, -1, dtype=np.int64)
                    rule[self.parents] = first[row]
                    split = np.zeros(s, dtype=np.int64)
                    ok = rule >= 0
                    split[ok] = best_split[row, rule[ok]] + 1
                    back[(int(start), int(start) + length)] = (split, rule)
        root = chart[0, n] + self.root_logp
        if n == 1:
            # a one-word sentence is a tag symbol, rarely seen as a root: give unseen roots
            # the smallest root probability rather than none
            floor = self.root_logp[self.root_logp > NEG].min()
            root = chart[0, 1] + np.maximum(self.root_logp, floor)
        top_symbol = int(root.argmax())
        if root[top_symbol] <= NEG / 2:
            return None
        return self._build(tokens, back, 0, n, top_symbol)

    def _build(self, tokens, back, i, j, symbol) -> Tree:
        # iterative top-down reconstruction from the back-pointers
        root = Tree(self.symbols[symbol], [])
        stack = [(root, i, j, symbol)]
        while stack:
            node, a, b, sym = stack.pop()
            if b - a == 1:
                node.append(tokens[a])
                continue
            split, rule = back[(a, b)]
            r = int(rule[sym])
            k = a + int(split[sym])
            lsym, rsym = int(self.rule_left[r]), int(self.rule_right[r])
            left, right = Tree(self.symbols[lsym], []), Tree(self.symbols[rsym], [])
            node.extend([left, right])
            stack.append((right, k, b, rsym))
            stack.append((left, a, k, lsym))
        return root

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        """Strings, numbers and tensors only: loads with ``torch.load(weights_only=True)``."""
        import torch

        known = sorted(self.word_prob)
        sigs = sorted(self.sig_prob)
        return {"config": dict(self.cfg.__dict__), "symbols": list(self.symbols),
                "rules": torch.from_numpy(np.stack([self.rule_parent, self.rule_left,
                                                    self.rule_right])),
                "rule_logp": torch.from_numpy(self.rule_logp), "tags": list(self.tags),
                "known": known,
                "word_prob": torch.from_numpy(np.stack([self.word_prob[w] for w in known])),
                "signatures": sigs,
                "sig_prob": torch.from_numpy(np.stack([self.sig_prob[s] for s in sigs])),
                "unk_prob": torch.from_numpy(self.unk_prob),
                "root_logp": torch.from_numpy(self.root_logp)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict, path: str | Path = "checkpoint") -> PCFG:
        """The grammar a checkpoint holds; a damaged one is a one-line error naming ``path``."""
        from treenn.runs import checkpoint_errors

        with checkpoint_errors(path):
            return cls.from_dict(ckpt["pcfg"])

    @classmethod
    def from_dict(cls, state: dict) -> PCFG:
        self = cls(PCFGConfig(**state["config"]))
        self.symbols = state["symbols"]
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.rule_parent, self.rule_left, self.rule_right = state["rules"].numpy()
        self.rule_logp = state["rule_logp"].numpy()
        self.parent_starts = np.flatnonzero(np.r_[True, np.diff(self.rule_parent) != 0])
        self.parents = self.rule_parent[self.parent_starts]
        self.tags = state["tags"]
        self.tag_ids = np.array([self.index[t] for t in self.tags], dtype=np.int64)
        self.known = set(state["known"])
        self.word_prob = dict(zip(state["known"], state["word_prob"].numpy(), strict=True))
        self.sig_prob = dict(zip(state["signatures"], state["sig_prob"].numpy(), strict=True))
        self.unk_prob = state["unk_prob"].numpy()
        self.root_logp = state["root_logp"].numpy()
        return self


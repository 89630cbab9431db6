"""Neural chart parsers: a recursive one and its sequential (BiLSTM) baseline.

``RecursiveChartParser`` (Socher et al. 2010/2013 style): a span's vector is composed bottom-up
from its two children's vectors by one of this project's recursive cells (binary Tree-LSTM or
recursive NN); leaves read a window of word embeddings. Every span is scored by a label
classifier on its vector plus the words just outside it. Decoding is CKY over all spans and
split points (``O(n^3)`` compositions, batched across sentences one span length at a time)
in which each chart cell keeps the vectors of its ``beam`` best sub-derivations (default 1):
the search is approximate, since a lower-scoring sub-derivation could give its parent a
better vector; keeping every sub-derivation would make it exhaustive (Socher et al. 2010
decode greedily; this is a wider search of the same kind). A beam of K costs about K^2 times
the compositions of a beam of 1. ``EnsembleChartParser`` runs that chart for several
recursive parsers at once (each composing its own vectors; label scores averaged).

``BiLSTMChartParser`` (Stern et al. 2017): span vectors are differences of BiLSTM states at
the span's fenceposts; scores do not depend on the sub-derivation, so decoding is exact CKY.

Both are trained with the max-margin objective of ``parsers.chart``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from nltk import Tree
from torch import nn

from treenn.cells import tanh_by_sigmoid
from treenn.data.graphs import collate_arrays, tree_to_arrays
from treenn.data.vocab import Vocab
from treenn.engines import fast_engine
from treenn.errors import TreennError
from treenn.models import MODELS, Dropout
from treenn.parsers import Parser
from treenn.parsers.chart import (
    Example,
    Labels,
    Words,
    cost,
    decode_decomposable,
    derivation_tree,
    to_tree,
)

_NO_WORDS = Vocab(["<pad>", "<unk>"])


@dataclass
class ParserConfig:
    model: str  # "rnn-parser" or "bilstm-parser"
    word_dim: int = 50
    shape_dim: int = 16
    h_size: int = 128
    cell: str = "tree-lstm"  # rnn-parser: composition cell (a tree model name)
    window: int = 2  # rnn-parser: words on each side fed to a leaf
    #: rnn-parser leaves: "window" (embeddings of the word and its neighbours, a purely
    #: recursive model) or "bilstm" (BiLSTM states over the sentence; the chart above is the
    #: same recursive composition)
    leaves: str = "window"
    layers: int = 2  # bilstm-parser
    mlp_size: int = 250
    dropout: float = 0.3
    max_length: int = 300  # longer sentences are refused with a clear message
    #: rnn-parser: sub-derivations kept per chart cell (1: only the best one's vector)
    beam: int = 1


class ChartParserBase(nn.Module, Parser):
    def __init__(self, cfg: ParserConfig, words: Words, labels: Labels):
        super().__init__()
        self.cfg, self.words, self.labels = cfg, words, labels
        self.name = cfg.model
        self.word_emb = nn.Embedding(len(words.words), cfg.word_dim, padding_idx=0)
        self.shape_emb = nn.Embedding(len(words.shapes), cfg.shape_dim, padding_idx=0)
        self.dropout = Dropout(cfg.dropout)
        self.word_unk_p = 0.0

    @property
    def token_dim(self) -> int:
        return self.cfg.word_dim + self.cfg.shape_dim

    def token_features(self, tokens: list[str]) -> torch.Tensor:
        """``[n, word_dim + shape_dim]``; in training rare words are sometimes ``<unk>``."""
        ids, shapes = self.words.encode(tokens)
        if self.training and self.word_unk_p > 0:
            counts = np.array([self.words.counts.get(t.lower(), 0) for t in tokens])
            drop = np.random.rand(len(ids)) < self.word_unk_p / (self.word_unk_p + counts)
            ids = [1 if d else i for i, d in zip(ids, drop, strict=True)]
        return torch.cat([self.word_emb(torch.tensor(ids)), self.shape_emb(torch.tensor(shapes))],
                         -1)

    @property
    def max_length(self) -> int:
        return self.cfg.max_length

    def parse(self, tokens: list[str]) -> Tree:
        return self.parse_all([tokens])[0]

    def state(self) -> dict:
        return {"config": asdict(self.cfg), "words": self.words.to_dict(),
                "labels": self.labels.names, "state_dict": self.state_dict()}


# --------------------------------------------------------------------------- BiLSTM


class BiLSTMChartParser(ChartParserBase):
    def __init__(self, cfg: ParserConfig, words: Words, labels: Labels):
        super().__init__(cfg, words, labels)
        self.boundary = nn.Parameter(torch.zeros(2, self.token_dim))  # <s>, </s>
        self.lstm = nn.LSTM(self.token_dim, cfg.h_size, num_layers=cfg.layers,
                            bidirectional=True, batch_first=True, dropout=cfg.dropout)
        self.mlp = nn.Sequential(nn.Linear(2 * cfg.h_size, cfg.mlp_size), nn.ReLU(),
                                 nn.Linear(cfg.mlp_size, len(labels)))

    def span_scores(self, sentences: list[list[str]]) -> list[torch.Tensor]:
        """For each sentence ``[n, n + 1, n_labels]`` (only ``i < j`` meaningful)."""
        feats = [torch.cat([self.boundary[:1], self.token_features(s), self.boundary[1:]])
                 for s in sentences]
        lengths = torch.tensor([len(f) for f in feats])
        padded = nn.utils.rnn.pad_sequence(feats, batch_first=True)
        packed = nn.utils.rnn.pack_padded_sequence(self.dropout(padded), lengths,
                                                   batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)  # [B, n + 2, 2h]
        h = self.cfg.h_size
        scores = []
        for b, s in enumerate(sentences):
            n = len(s)
            fwd = out[b, :n + 1, :h]  # fencepost k: forward state after word k
            bwd = out[b, 1:n + 2, h:]  # fencepost k: backward state before word k + 1
            span = torch.cat([fwd[None, :, :] - fwd[:, None, :],  # [i, j] = f_j - f_i
                              bwd[:, None, :] - bwd[None, :, :]], -1)  # b_i - b_j
            scores.append(self.mlp(self.dropout(span[:n])))  # [n, n + 1, L]
        return scores

    def loss(self, examples: list[Example]) -> tuple[torch.Tensor, dict]:
        """Mean max-margin loss of a batch, and how many sentences violated the margin."""
        scores = self.span_scores([e.tokens for e in examples])
        total, violations = scores[0].new_zeros(()), 0
        for e, s in zip(examples, scores, strict=True):
            pred, _ = decode_decomposable(s.detach().numpy(), e.gold)
            delta = cost(pred, e.gold)
            if delta == 0:
                continue
            violations += 1
            total = total + F.relu(_derivation_score(s, pred) + delta
                                   - _derivation_score(s, e.gold))
        return total / len(examples), {"violations": violations}

    @torch.no_grad()
    def parse_all(self, sentences):
        """Parse one batch (trees with ``XX`` tags and collapsed unary chains restored)."""
        for s in sentences:
            self.check(s)
        out = []
        for s, scores in zip(sentences, self.span_scores(sentences), strict=True):
            pred, _ = decode_decomposable(scores.numpy())
            out.append(to_tree(s, pred, self.labels))
        return out


def _derivation_score(scores: torch.Tensor, derivation: dict) -> torch.Tensor:
    spans = [(i, j, lab) for (i, j), lab in derivation.items() if lab]
    if not spans:
        return scores.new_zeros(())
    i, j, lab = (torch.tensor(x) for x in zip(*spans, strict=True))
    return scores[i, j, lab].sum()


# --------------------------------------------------------------------------- recursive


def _empty_label_zero(scores: torch.Tensor) -> torch.Tensor:
    """Label scores ``[m, L]`` shifted so that the empty label (column 0) scores 0."""
    return scores - scores[:, :1]


def check_beam(beam: int) -> int:
    if beam < 1:
        raise TreennError(f"--beam {beam}: keep at least 1 sub-derivation per chart cell")
    return beam


def check_pairs(pairs: int | None) -> int | None:
    if pairs is not None and pairs < 1:
        raise TreennError(f"--pairs {pairs}: compose at least 1 pair per split point")
    return pairs


class RecursiveChartParser(ChartParserBase):
    def __init__(self, cfg: ParserConfig, words: Words, labels: Labels):
        super().__init__(cfg, words, labels)
        width = 2 * cfg.window + 1
        self.pad = nn.Parameter(torch.zeros(self.token_dim))  # the word beyond the sentence
        if cfg.leaves not in ("window", "bilstm"):
            raise TreennError(f"leaves {cfg.leaves!r}: choose window or bilstm")
        check_beam(cfg.beam)
        #: pairs of sub-derivations composed per split point when decoding
        #: (``chart_decode``'s ``pairs``): a parsing setting, not saved; None composes all
        self.pairs: int | None = None
        #: the chart's tables, kept between batches (:func:`_scratch`); not saved
        self._chart_tables: dict[str, torch.Tensor] = {}
        leaf_size = width * self.token_dim
        if cfg.leaves == "bilstm":
            self.lstm = nn.LSTM(self.token_dim, cfg.h_size, num_layers=cfg.layers,
                                bidirectional=True, batch_first=True, dropout=cfg.dropout)
            leaf_size = 2 * cfg.h_size
        spec = MODELS.get(cfg.cell)
        if spec is None or spec.kind != "tree":
            raise TreennError(f"--cell {cfg.cell}: choose a tree model's cell ("
                              f"{', '.join(m for m, s in MODELS.items() if s.kind == 'tree')})")
        self.cell = spec.cls(leaf_size, cfg.h_size)
        context = 2 * self.token_dim  # the words just left and right of the span
        self.mlp = nn.Sequential(nn.Linear(cfg.h_size + context, cfg.mlp_size), nn.ReLU(),
                                 nn.Linear(cfg.mlp_size, len(labels)))

    # ---- features

    def _padded_tokens(self, sentences: list[list[str]]) -> list[torch.Tensor]:
        w = self.cfg.window
        pad = self.pad[None, :].expand(w + 1, -1)
        return [torch.cat([pad, self.token_features(s), pad]) for s in sentences]

    def _leaf_inputs(self, padded: list[torch.Tensor]) -> torch.Tensor:
        """Leaf input of every word, sentences concatenated: ``[words, leaf_size]``.

        Window leaves concatenate the word's and its neighbours' features; BiLSTM leaves are
        the BiLSTM's states over the sentence.
        """
        w, rows = self.cfg.window, []
        if self.cfg.leaves == "bilstm":
            words = [p[w + 1: len(p) - w - 1] for p in padded]  # drop the padding
            lengths = torch.tensor([len(x) for x in words])
            packed = nn.utils.rnn.pack_padded_sequence(
                self.dropout(nn.utils.rnn.pad_sequence(words, batch_first=True)), lengths,
                batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)  # [B, n, 2h]
            return self.dropout(torch.cat([out[b, :n] for b, n in enumerate(lengths.tolist())]))
        for p in padded:
            n = len(p) - 2 * (w + 1)
            idx = torch.arange(n)[:, None] + torch.arange(2 * w + 1)[None, :] + 1  # [n, width]
            rows.append(p[idx].reshape(n, -1))
        return self.dropout(torch.cat(rows))

    def _label_scores(self, h: torch.Tensor, padded: torch.Tensor, sent: torch.Tensor,
                      start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """Scores ``[m, L]`` for spans ``(start, end)`` of sentences ``sent`` with vectors h.

        ``padded`` is all sentences' padded features stacked ``[B, n_max + 2w + 2, d]``.
        """
        left, right = self._outside(padded, sent, start, end)
        return _empty_label_zero(self.mlp(self.dropout(torch.cat([h, left, right], -1))))

    def _outside(self, table: torch.Tensor, sent: torch.Tensor, start: torch.Tensor,
                 end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of ``table`` (laid out as the padded tokens, ``[B, n_max + 2w + 2, ...]``) of
        the word just before and the word just after each span (padding at the edges)."""
        w = self.cfg.window
        return table[sent, start + w], table[sent, end + w + 1]

    @property
    def beam(self) -> int:
        """Sub-derivations the chart keeps per cell (trained with; parsing may change it)."""
        return self.cfg.beam

    @beam.setter
    def beam(self, beam: int) -> None:
        self.cfg.beam = check_beam(beam)

    # ---- decoding

    @torch.no_grad()
    def decode(self, sentences: list[list[str]], golds: list[dict] | None = None
               ) -> list[dict]:
        """Best (optionally loss-augmented) derivation of each sentence, batched.

        Runs without dropout, so the derivation is the best one under the model itself.
        """
        was_training = self.training
        self.eval()
        try:
            return chart_decode([self], sentences, golds, self.cfg.beam, self.pairs)
        finally:
            self.train(was_training)

    # ---- training

    def score_derivations(self, sentences: list[list[str]], derivations: list[dict]
                          ) -> torch.Tensor:
        """Score of each (sentence, derivation) pair, composed by the fast tree engine."""
        padded_list = self._padded_tokens(sentences)
        padded = nn.utils.rnn.pad_sequence(padded_list, batch_first=True)
        arrays = [tree_to_arrays(derivation_tree(d), _NO_WORDS, int) for d in derivations]
        batch = collate_arrays(arrays)
        x_leaf = self._leaf_inputs(padded_list)  # leaves of tree b are its words in order
        h, _ = fast_engine(self.cell, batch, x_leaf)
        tree_of = torch.repeat_interleave(torch.arange(len(arrays)),
                                          batch.graph.batch_num_nodes())
        g = batch.graph.ndata
        scores = self._label_scores(h, padded, tree_of, g["start"], g["end"])
        node = scores.gather(1, batch.labels.clamp(min=0)[:, None])[:, 0]
        return node.new_zeros(len(arrays)).index_add(0, tree_of, node)

    def loss(self, examples: list[Example]) -> tuple[torch.Tensor, dict]:
        """Mean max-margin loss of a batch: the chart finds the loss-augmented derivation
        without gradients, then both it and the gold derivation are composed by the fast tree
        engine for the gradient. Also returns how many sentences violated the margin."""
        sentences = [e.tokens for e in examples]
        golds = [e.gold for e in examples]
        preds = self.decode(sentences, golds)
        deltas = [cost(p, g) for p, g in zip(preds, golds, strict=True)]
        wrong = [k for k, d in enumerate(deltas) if d > 0]
        if not wrong:
            return self.pad.sum() * 0, {"violations": 0}
        both = [sentences[k] for k in wrong] * 2
        scores = self.score_derivations(both, [preds[k] for k in wrong]
                                        + [golds[k] for k in wrong])
        m = len(wrong)
        margin = scores[:m] + torch.tensor([float(deltas[k]) for k in wrong]) - scores[m:]
        return F.relu(margin).sum() / len(examples), {"violations": m}

    @torch.no_grad()
    def parse_all(self, sentences):
        """Parse one batch with the batched chart (see :meth:`decode`)."""
        for s in sentences:
            self.check(s)
        return [to_tree(s, d, self.labels)
                for s, d in zip(sentences, self.decode(sentences), strict=True)]


class EnsembleChartParser(Parser):
    """Recursive chart parsers (trained separately, e.g. with different seeds) decoding
    together: one chart, each member composing its own vectors, label scores averaged."""

    name = "rnn-parser-ensemble"

    def __init__(self, members: list[RecursiveChartParser], beam: int | None = None,
                 pairs: int | None = None):
        """``beam``: the chart's width; by default the members' (who must then agree).
        ``pairs``: pairs composed per split point, as :func:`chart_decode`'s."""
        if len(members) < 2:
            raise TreennError("an ensemble needs two or more rnn-parser runs")
        for m in members:
            if not isinstance(m, RecursiveChartParser):
                raise TreennError(f"an ensemble is made of rnn-parser runs, not {m.name}")
        names = members[0].labels.names
        if any(m.labels.names != names for m in members[1:]):
            raise TreennError("the ensemble's parsers have different label sets: train them "
                              "on the same treebank")
        beams = sorted({m.beam for m in members})
        if beam is None and len(beams) > 1:
            raise TreennError(f"the ensemble's parsers keep different beams ({beams}): "
                              "ensemble runs trained with the same --beam, or give --beam")
        self.members = members
        self.labels = members[0].labels
        self.beam = beams[0] if beam is None else check_beam(beam)
        self.pairs = check_pairs(pairs)
        self.max_length = min(m.cfg.max_length for m in members)

    def parse(self, tokens: list[str]) -> Tree:
        return self.parse_all([tokens])[0]

    @torch.no_grad()
    def parse_all(self, sentences):
        for s in sentences:
            self.check(s)
        for m in self.members:
            m.eval()
        found = chart_decode(self.members, sentences, None, self.beam, self.pairs)
        return [to_tree(s, d, self.labels) for s, d in zip(sentences, found, strict=True)]


def _scratch(model: RecursiveChartParser, name: str, rows: int, cols: int,
             like: torch.Tensor) -> torch.Tensor:
    """An uninitialised ``[rows, cols]`` table for the chart, from memory ``model`` keeps
    between batches (and grows, by half again, when a batch needs more).

    A batch's tables reach hundreds of MB; allocated afresh, every page of them is faulted
    in and zeroed by the system again, which cost about a fifth of the parsing time. Stale
    rows are harmless: the chart reads only the slots it has filled (it composes only
    candidates whose two children's slots are filled).
    """
    cache = model._chart_tables
    flat = cache.get(name)
    if flat is None or flat.numel() < rows * cols or flat.dtype != like.dtype:
        flat = cache[name] = like.new_empty(int(1.5 * rows * cols))
    return flat[:rows * cols].view(rows, cols)


class _ChartMember:
    """One parser's side of the batched chart (eval mode, no gradients): what it keeps for
    each kept sub-derivation (a *slot*), how two slots compose into a candidate, and the
    candidates' label scores.

    The chart composes about ``n`` times more candidates than it keeps, so work is moved from
    candidates to slots and spans where the maths allows. Cells whose composition is
    ``pointwise(U [h_l; h_r] + b)`` (binary Tree-LSTM, recursive NN: ``cell.fused_linear``)
    keep ``U_l h + b`` and ``U_r h`` in a slot instead of ``h``, since
    ``U [h_l; h_r] = U_l h_l + U_r h_r``: a candidate then costs one addition before the
    cell's pointwise part instead of a matrix product (whose ``tanh`` is computed from
    ``sigmoid``, several times faster here, see ``treenn.cells.tanh_by_sigmoid``). Other
    cells (the RNTN's bilinear term, Child-Sum) keep ``h`` and compose as the cell does. The
    label MLP's first layer is split the same way: the outside words' part once per span,
    the vector's part per candidate.
    ``tests/test_parsers.py`` checks the result against a plain chart built from
    ``cell(...)`` and ``_label_scores`` one span at a time.
    """

    def __init__(self, model: RecursiveChartParser, sentences: list[list[str]], slots: int):
        if model.training:  # the split classifier below has no dropout
            raise ValueError("the chart decodes with models in eval mode")
        self.model, self.cell, h, d = model, model.cell, model.cfg.h_size, model.token_dim
        padded = model._padded_tokens(sentences)
        self.x_leaf = model._leaf_inputs(padded)
        padded = nn.utils.rnn.pad_sequence(padded, batch_first=True)  # [B, n_max + 2w + 2, d]
        first, _, self.second = model.mlp  # Linear, ReLU, Linear
        self.w_vector = first.weight[:, :h].t()  # [h, mlp]
        # each word's share of the first layer as the word before a span (with the layer's
        # bias) and as the word after one: [B, n_max + 2w + 2, 2, mlp]
        self.outside = torch.stack([padded @ first.weight[:, h:h + d].t() + first.bias,
                                    padded @ first.weight[:, h + d:].t()], 2)
        linear = self.cell.fused_linear
        self.split = linear is not None and linear.in_features == 2 * h
        x = self.x_leaf
        if self.split:
            out = linear.out_features
            # h -> [U_l h + b, U_r h]: a slot's two rows of ``halves`` (as a left, a right child)
            self.u_halves = torch.cat([linear.weight[:, :h], linear.weight[:, h:]]).t()
            self.b_halves = torch.cat([linear.bias, torch.zeros_like(linear.bias)])
            self.halves = _scratch(model, "halves", 2 * slots, out, x)
            self.sides = torch.tensor([0, 1])  # a pair's rows in halves: 2 left, 2 right + 1
        else:
            self.H = _scratch(model, "H", slots, h, x)
        self.C = _scratch(model, "C", slots, self.cell.c_size, x)

    def leaves(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cell(self.x_leaf[words])

    def compose(self, left: torch.Tensor, right: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, c)`` of the candidates whose children are slots ``left`` and ``right``."""
        pairs = torch.stack([left, right], 1)  # [m, 2]
        child_c = self.C.index_select(0, pairs.view(-1)).view(len(left), 2, -1)  # [m, 2, c]
        if self.split:  # U_l h_l + b + U_r h_r, each row summed from the table in one call
            pre = F.embedding_bag(pairs * 2 + self.sides, self.halves,
                                  mode="sum")  # [m, out]: the pair's two rows summed
            h, c, _ = self.cell.pointwise(pre, child_c, tanh_by_sigmoid)
            return h, c
        child_h = self.H.index_select(0, pairs.view(-1)).view(len(left), 2, -1)  # [m, 2, h]
        return self.cell(None, child_h, child_c)

    def keep(self, slots: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> None:
        if self.split:
            # [n, 2 out] -> [2n, out]: slot s's rows 2s (as a left child), 2s + 1 (right)
            rows = torch.addmm(self.b_halves, h, self.u_halves).view(-1, self.halves.shape[1])
            self.halves[torch.stack([slots * 2, slots * 2 + 1], 1).view(-1)] = rows
        else:
            self.H[slots] = h
        self.C[slots] = c

    def context(self, sent: torch.Tensor, start: torch.Tensor, end: torch.Tensor
                ) -> torch.Tensor:
        """The label MLP's first layer on the words just outside each span (and its bias)."""
        before, after = self.model._outside(self.outside, sent, start, end)  # [m, 2, mlp]
        return before[:, 0] + after[:, 1]

    def label_scores(self, h: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """As :meth:`RecursiveChartParser._label_scores` (in eval mode), ``context`` from
        :meth:`context` for each row of ``h``."""
        return _empty_label_zero(self.second(torch.addmm(context, h, self.w_vector).relu_()))


_CHUNK = 1024  # candidates scored at once by the chart (their gates stay in the cache)


def chart_decode(members: list[RecursiveChartParser], sentences: list[list[str]],
                 golds: list[dict] | None, beam: int, pairs: int | None = None
                 ) -> list[dict]:
    """The batched chart of :meth:`RecursiveChartParser.decode`, for one parser or for an
    ensemble: with several members each composes its own vectors for every candidate and a
    candidate's label scores are the members' mean. Members must share one label table; the
    caller puts them in eval mode and turns gradients off (``decode``, ``parse_all``).

    ``pairs``: at each split point of a span, compose only this many of the ``beam ** 2``
    pairs of the two children's kept sub-derivations, those that score highest together (a
    candidate's score is that sum plus its own label score, which costs the composition);
    by default every pair. With beam 2, ``pairs=2`` drops the pair of both runners-up and
    the weaker of the two mixed pairs."""
    K = beam
    B = len(sentences)
    lengths = np.array([len(s) for s in sentences])
    N = int(lengths.max())
    # chart cells numbered by span length, then sentence, then start: cell_id[b, i, j];
    # cell c keeps its K best sub-derivations in slots c * K + rank
    cell_id = np.full((B, N + 1, N + 1), -1)
    levels, cells = [], 0
    for length in range(1, N + 1):
        bs = np.flatnonzero(lengths >= length)
        counts = lengths[bs] - length + 1
        sb = np.repeat(bs, counts)  # span -> sentence
        si = np.arange(len(sb)) - np.repeat(np.cumsum(counts) - counts, counts)  # -> start
        cell_id[sb, si, si + length] = cells + np.arange(len(sb))
        levels.append((sb, si))
        cells += len(sb)
    slots = cells * K
    if len({id(m) for m in members}) < len(members):  # they would share their tables
        raise ValueError("the same parser twice in one chart")
    chart = [_ChartMember(m, sentences, slots) for m in members]
    best = np.full(slots, -np.inf)  # an empty slot scores -inf
    label = np.zeros(slots, dtype=np.int64)
    back = np.zeros((slots, 3), dtype=np.int64)  # split point, left rank, right rank
    gold_grid = None
    if golds is not None:
        gold_grid = np.zeros((B, N + 1, N + 1), dtype=np.int64)
        for b, g in enumerate(golds):
            for (i, j), lab in g.items():
                gold_grid[b, i, j] = lab

    for length, (sb, si) in enumerate(levels, start=1):
        if length == 1:  # one candidate per word: its leaf vector
            per = 1
            cb, ci, cj = sb, si, si + 1
            ck = ra = rb = np.zeros_like(sb)
            words = torch.from_numpy(np.r_[0, np.cumsum(lengths)[:-1]][sb] + si)

            def vectors(sel, words=words):
                return [member.leaves(words[sel]) for member in chart]
            extra = np.zeros(len(sb))
            rows = np.arange(len(sb))
        else:  # every split point and every pair of the children's K best
            per = (length - 1) * K * K
            span = np.repeat(np.arange(len(sb)), per)
            ck = si[span] + np.tile(np.repeat(np.arange(1, length), K * K), len(sb))
            ra = np.tile(np.repeat(np.arange(K), K), len(sb) * (length - 1))
            rb = np.tile(np.arange(K), len(sb) * (length - 1) * K)
            cb, ci = sb[span], si[span]
            cj = ci + length
            left = cell_id[cb, ci, ck] * K + ra
            right = cell_id[cb, ck, cj] * K + rb
            extra = best[left] + best[right]
            if pairs is not None and K * K > pairs:
                # per split point (a row of K * K pairs, in the chart's order) only the
                # ``pairs`` best by their children's scores (the first among equals); the
                # rest are never composed
                by_split = extra.reshape(-1, K * K)
                order = np.argsort(-by_split, axis=1, kind="stable")
                keep = np.zeros(by_split.shape, dtype=bool)
                np.put_along_axis(keep, order[:, :pairs], True, axis=1)
                extra = np.where(keep.ravel(), extra, -np.inf)
            rows = np.flatnonzero(~np.isneginf(extra))  # both children's slots are filled
            cb, ci, cj, ck, ra, rb = (a[rows] for a in (cb, ci, cj, ck, ra, rb))
            lt, rt = torch.from_numpy(left[rows]), torch.from_numpy(right[rows])
            extra = extra[rows]

            def vectors(sel, lt=lt, rt=rt):
                return [member.compose(lt[sel], rt[sel]) for member in chart]
        where = (torch.from_numpy(sb), torch.from_numpy(si), torch.from_numpy(si + length))
        context = [member.context(*where) for member in chart]
        span_of = torch.from_numpy(rows // per)  # candidate -> span of this length
        # label scores in chunks that stay in the processor's cache; the vectors of the
        # candidates kept are composed again below (for the split cells elementwise, so the
        # same numbers; a cell's matrix product on other rows may differ in the last bits)
        scores = context[0].new_empty(len(rows), chart[0].second.out_features)
        for start in range(0, len(rows), _CHUNK):
            sel = slice(start, start + _CHUNK)
            scores[sel] = sum(member.label_scores(h, ctx[span_of[sel]])
                              for member, ctx, (h, _) in zip(chart, context, vectors(sel),
                                                             strict=True)) / len(chart)
        scores = scores.numpy()
        if gold_grid is not None:
            scores = scores + 1.0
            scores[np.arange(len(cb)), gold_grid[cb, ci, cj]] -= 1.0
        lab = scores.argmax(1)
        # the candidates of each span on one row (-inf where a child slot was empty); a
        # stable sort keeps the first of equal candidates, as argmax does
        grid = np.full((len(sb), per), -np.inf)
        grid.flat[rows] = scores[np.arange(len(lab)), lab] + extra
        row_of = np.full(len(sb) * per, -1)
        row_of[rows] = np.arange(len(rows))
        order = np.argsort(-grid, axis=1, kind="stable")[:, :K]
        value = grid[np.arange(len(sb))[:, None], order]  # [spans, K]
        ok = ~np.isneginf(value)
        span_ok, rank = np.nonzero(ok)
        cand = row_of[span_ok * per + order[ok]]
        slot = cell_id[sb[span_ok], si[span_ok], si[span_ok] + length] * K + rank
        t_slot = torch.from_numpy(slot)
        for member, (h, c) in zip(chart, vectors(torch.from_numpy(cand)), strict=True):
            member.keep(t_slot, h, c)
        best[slot] = value[ok]
        label[slot] = lab[cand]
        back[slot] = np.stack([ck[cand], ra[cand], rb[cand]], 1)
    out = []
    for b in range(B):
        derivation: dict = {}
        stack = [(0, int(lengths[b]), 0)]
        while stack:
            i, j, r = stack.pop()
            slot = cell_id[b, i, j] * K + r
            if np.isneginf(best[slot]):  # cannot happen: every span has a candidate
                raise RuntimeError(f"chart slot ({b}, {i}, {j}, {r}) is empty")
            derivation[(i, j)] = int(label[slot])
            if j - i > 1:
                k, r_left, r_right = (int(x) for x in back[slot])
                stack += [(i, k, r_left), (k, j, r_right)]
        out.append(derivation)
    return out


NEURAL_PARSERS = {"rnn-parser": RecursiveChartParser, "bilstm-parser": BiLSTMChartParser}

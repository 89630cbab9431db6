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
recursive parsers at once (each composing its own vectors; label scores averaged; in
``parsers.ensemble``); the chart itself is ``parsers.chart_search``.

``BiLSTMChartParser`` (Stern et al. 2017): span vectors are differences of BiLSTM states at
the span's fenceposts; scores do not depend on the sub-derivation, so decoding is exact CKY.

Both are trained with the max-margin objective of ``parsers.chart``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nltk import Tree
from torch import nn

from treenn.data.graphs import collate_arrays, tree_to_arrays
from treenn.data.vocab import Vocab
from treenn.engines import fast_engine
from treenn.errors import TreennError
from treenn.loop import load_weights
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
from treenn.parsers.chart_search import _empty_label_zero, chart_decode, check_beam
from treenn.runs import check_keys, checkpoint_errors, config_from_dict

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

    @classmethod
    def from_checkpoint(cls, ckpt: dict, path: str | Path = "checkpoint") -> ChartParserBase:
        """The parser a checkpoint holds (:meth:`state` and its weights), in eval mode; a
        damaged or foreign one is a one-line error naming ``path``."""
        check_keys(ckpt, path, {"config": dict, "words": dict, "labels": list,
                                "state_dict": dict})
        words = ckpt["words"]
        names = [ckpt["labels"], words.get("words"), words.get("shapes")]
        counts = words.get("counts")
        if not (all(isinstance(x, list) and all(isinstance(n, str) for n in x) for x in names)
                and isinstance(counts, dict) and all(type(n) is int for n in counts.values())):
            raise TreennError(f"{path}: not a treenn checkpoint (its labels or words are not "
                              "lists of names with counts)")
        with checkpoint_errors(path):
            model = cls(config_from_dict(ParserConfig, ckpt["config"], path, section="config"),
                        Words.from_dict(ckpt["words"]), Labels(ckpt["labels"]))
        load_weights(model, ckpt["state_dict"], path)
        model.eval()
        return model


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


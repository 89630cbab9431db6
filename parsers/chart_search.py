"""The recursive parser's batched chart: CKY in which each cell keeps the vectors of its
``beam`` best sub-derivations, for one parser or an ensemble (each member composing its own
vectors, label scores averaged). Used by ``RecursiveChartParser.decode`` (parsing, and the
loss-augmented search of training) and ``EnsembleChartParser``.

Members are :class:`treenn.parsers.neural.RecursiveChartParser` objects; this module only
reads their parts (cell, label MLP, token features), so it sits below ``neural``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from treenn.cells import tanh_by_sigmoid
from treenn.errors import TreennError


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



def _scratch(model, name: str, rows: int, cols: int,
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

    def __init__(self, model, sentences: list[list[str]], slots: int):
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


def chart_decode(members: list, sentences: list[list[str]], golds: list[dict] | None,
                 beam: int, pairs: int | None = None) -> list[dict]:
    """The batched chart of ``RecursiveChartParser.decode``, for one parser or for an
    ensemble: with several members each composes its own vectors for every candidate and a
    candidate's label scores are the members' mean. Members must share one label table; the
    caller puts them in eval mode and turns gradients off (``decode``, ``parse_all``).

    ``pairs``: at each split point of a span, compose only this many of the ``beam ** 2``
    pairs of the two children's kept sub-derivations, those that score highest together (a
    candidate's score is that sum plus its own label score, which costs the composition);
    by default every pair. With beam 2, ``pairs=2`` drops the pair of both runners-up and
    the weaker of the two mixed pairs."""
    lengths = np.array([len(s) for s in sentences])
    layout = _Layout(lengths, beam)
    if len({id(m) for m in members}) < len(members):  # they would share their tables
        raise ValueError("the same parser twice in one chart")
    chart = [_ChartMember(m, sentences, layout.slots) for m in members]
    kept = _Kept(layout.slots)
    gold_grid = None if golds is None else _gold_grid(golds, len(sentences), layout.N)
    for length, (sb, si) in enumerate(layout.levels, start=1):
        if length == 1:
            cand = _leaf_candidates(chart, sb, si, lengths)
        else:
            cand = _split_candidates(chart, layout, kept, length, sb, si, pairs)
        scores = _label_scores(chart, cand, sb, si, length)
        if gold_grid is not None:
            scores = scores + 1.0
            scores[np.arange(len(cand.cb)), gold_grid[cand.cb, cand.ci, cand.cj]] -= 1.0
        _keep_best(chart, layout, kept, cand, scores, sb, si, length)
    return [_backtrace(layout, kept, b) for b in range(len(sentences))]


class _Layout:
    """Chart cells numbered by span length, then sentence, then start: ``cell_id[b, i, j]``;
    cell ``c`` keeps its ``K`` best sub-derivations in slots ``c * K + rank``.
    ``levels[length - 1]`` holds each span's sentence ``sb`` and start ``si``."""

    def __init__(self, lengths: np.ndarray, K: int):
        B, self.K, self.lengths = len(lengths), K, lengths
        self.N = N = int(lengths.max())
        self.cell_id = np.full((B, N + 1, N + 1), -1)
        self.levels, cells = [], 0
        for length in range(1, N + 1):
            bs = np.flatnonzero(lengths >= length)
            counts = lengths[bs] - length + 1
            sb = np.repeat(bs, counts)  # span -> sentence
            si = np.arange(len(sb)) - np.repeat(np.cumsum(counts) - counts, counts)  # -> start
            self.cell_id[sb, si, si + length] = cells + np.arange(len(sb))
            self.levels.append((sb, si))
            cells += len(sb)
        self.slots = cells * K


class _Kept:
    """What the chart keeps per slot: score (``-inf``: empty), label, back-pointer (split
    point, left rank, right rank)."""

    def __init__(self, slots: int):
        self.best = np.full(slots, -np.inf)
        self.label = np.zeros(slots, dtype=np.int64)
        self.back = np.zeros((slots, 3), dtype=np.int64)


class _Candidates:
    """The candidates of one span length: sentence ``cb``, span ``(ci, cj)``, split ``ck``,
    children's ranks ``ra``/``rb``, the children's score sum ``extra``; ``rows`` are the
    candidates' positions among the ``per`` of their span, and ``vectors(sel)`` composes the
    selected candidates for every member."""

    def __init__(self, cb, ci, cj, ck, ra, rb, extra, rows, per, vectors):
        self.cb, self.ci, self.cj, self.ck, self.ra, self.rb = cb, ci, cj, ck, ra, rb
        self.extra, self.rows, self.per, self.vectors = extra, rows, per, vectors


def _gold_grid(golds: list[dict], B: int, N: int) -> np.ndarray:
    grid = np.zeros((B, N + 1, N + 1), dtype=np.int64)
    for b, g in enumerate(golds):
        for (i, j), lab in g.items():
            grid[b, i, j] = lab
    return grid


def _leaf_candidates(chart, sb, si, lengths) -> _Candidates:
    """One candidate per word: its leaf vector."""
    zeros = np.zeros_like(sb)
    words = torch.from_numpy(np.r_[0, np.cumsum(lengths)[:-1]][sb] + si)

    def vectors(sel):
        return [member.leaves(words[sel]) for member in chart]

    return _Candidates(sb, si, si + 1, zeros, zeros, zeros, np.zeros(len(sb)),
                       np.arange(len(sb)), 1, vectors)


def _split_candidates(chart, layout: _Layout, kept: _Kept, length: int, sb, si,
                      pairs: int | None) -> _Candidates:
    """Every split point and every pair of the children's K best (or, with ``pairs``, the
    best pairs per split point); candidates with an empty child slot are dropped."""
    K, cell_id = layout.K, layout.cell_id
    per = (length - 1) * K * K
    span = np.repeat(np.arange(len(sb)), per)
    ck = si[span] + np.tile(np.repeat(np.arange(1, length), K * K), len(sb))
    ra = np.tile(np.repeat(np.arange(K), K), len(sb) * (length - 1))
    rb = np.tile(np.arange(K), len(sb) * (length - 1) * K)
    cb, ci = sb[span], si[span]
    cj = ci + length
    left = cell_id[cb, ci, ck] * K + ra
    right = cell_id[cb, ck, cj] * K + rb
    extra = kept.best[left] + kept.best[right]
    if pairs is not None and K * K > pairs:
        # per split point (a row of K * K pairs, in the chart's order) only the ``pairs``
        # best by their children's scores (the first among equals); the rest are never
        # composed
        by_split = extra.reshape(-1, K * K)
        order = np.argsort(-by_split, axis=1, kind="stable")
        keep = np.zeros(by_split.shape, dtype=bool)
        np.put_along_axis(keep, order[:, :pairs], True, axis=1)
        extra = np.where(keep.ravel(), extra, -np.inf)
    rows = np.flatnonzero(~np.isneginf(extra))  # both children's slots are filled
    cb, ci, cj, ck, ra, rb = (a[rows] for a in (cb, ci, cj, ck, ra, rb))
    lt, rt = torch.from_numpy(left[rows]), torch.from_numpy(right[rows])

    def vectors(sel):
        return [member.compose(lt[sel], rt[sel]) for member in chart]

    return _Candidates(cb, ci, cj, ck, ra, rb, extra[rows], rows, per, vectors)


def _label_scores(chart, cand: _Candidates, sb, si, length: int) -> np.ndarray:
    """Label scores ``[candidates, labels]``, the members' mean, in chunks that stay in the
    processor's cache; the vectors of the candidates kept are composed again by
    :func:`_keep_best` (for the split cells elementwise, so the same numbers; a cell's matrix
    product on other rows may differ in the last bits)."""
    where = (torch.from_numpy(sb), torch.from_numpy(si), torch.from_numpy(si + length))
    context = [member.context(*where) for member in chart]
    span_of = torch.from_numpy(cand.rows // cand.per)  # candidate -> span of this length
    scores = context[0].new_empty(len(cand.rows), chart[0].second.out_features)
    for start in range(0, len(cand.rows), _CHUNK):
        sel = slice(start, start + _CHUNK)
        scores[sel] = sum(member.label_scores(h, ctx[span_of[sel]])
                          for member, ctx, (h, _) in zip(chart, context, cand.vectors(sel),
                                                         strict=True)) / len(chart)
    return scores.numpy()


def _keep_best(chart, layout: _Layout, kept: _Kept, cand: _Candidates, scores: np.ndarray,
               sb, si, length: int) -> None:
    """Each span's K best candidates (label chosen by argmax) into its slots."""
    K, per, rows = layout.K, cand.per, cand.rows
    lab = scores.argmax(1)
    # the candidates of each span on one row (-inf where a child slot was empty); a stable
    # sort keeps the first of equal candidates, as argmax does
    grid = np.full((len(sb), per), -np.inf)
    grid.flat[rows] = scores[np.arange(len(lab)), lab] + cand.extra
    row_of = np.full(len(sb) * per, -1)
    row_of[rows] = np.arange(len(rows))
    order = np.argsort(-grid, axis=1, kind="stable")[:, :K]
    value = grid[np.arange(len(sb))[:, None], order]  # [spans, K]
    ok = ~np.isneginf(value)
    span_ok, rank = np.nonzero(ok)
    chosen = row_of[span_ok * per + order[ok]]
    slot = layout.cell_id[sb[span_ok], si[span_ok], si[span_ok] + length] * K + rank
    t_slot = torch.from_numpy(slot)
    for member, (h, c) in zip(chart, cand.vectors(torch.from_numpy(chosen)), strict=True):
        member.keep(t_slot, h, c)
    kept.best[slot] = value[ok]
    kept.label[slot] = lab[chosen]
    kept.back[slot] = np.stack([cand.ck[chosen], cand.ra[chosen], cand.rb[chosen]], 1)


def _backtrace(layout: _Layout, kept: _Kept, b: int) -> dict:
    """Sentence ``b``'s best derivation: span -> label."""
    K = layout.K
    derivation: dict = {}
    stack = [(0, int(layout.lengths[b]), 0)]
    while stack:
        i, j, r = stack.pop()
        slot = layout.cell_id[b, i, j] * K + r
        if np.isneginf(kept.best[slot]):  # cannot happen: every span has a candidate
            raise RuntimeError(f"chart slot ({b}, {i}, {j}, {r}) is empty")
        derivation[(i, j)] = int(kept.label[slot])
        if j - i > 1:
            k, r_left, r_right = (int(x) for x in kept.back[slot])
            stack += [(i, k, r_left), (k, j, r_right)]
    return derivation

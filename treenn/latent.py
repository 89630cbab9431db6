"""Latent-tree encoders: the model builds its own binary tree over the words, bottom-up.

Both encoders start from one leaf state per word and merge two adjacent nodes per step until
one node (the root) is left, composing with the binary Tree-LSTM cell of Tai et al. (2015)::

    h, c = cell.leaf(x)                          # every word
    for step in 1 .. T-1:                        # sequence of length L = T - step + 1
        cand_k = cell.compose(node_k, node_k+1)  # every adjacent pair k = 0 .. L-2
        score_k = cand_k.h . query               # which pair to merge
        pick one k; node_k <- cand_k; drop node_k+1

:class:`GumbelTreeLSTM` (Choi, Yoo & Lee 2018, "Learning to compose task-specific tree
structures") picks one pair by a straight-through Gumbel-softmax; :class:`BeamTreeLSTM` (after
Ray Chowdhury & Caragea 2023, "Beam tree recursive cells") keeps the ``K`` best merge
sequences. Cost: the Gumbel encoder's step ``t`` composes all the sentences' candidate pairs
in one call, skipping pairs in the padding, so a sentence of ``n`` words costs ``n (n - 1) /
2`` compositions in training, against ``n - 1`` for a gold tree; the beam encoder carries its
candidates from step to step and composes only the new ones (``O(n K)``).

Both return a :class:`LatentOutput`. :class:`LatentEncoder` gives them the classifier's
encoder interface (``encoder(batch, embed, nodes) -> [len(nodes), h_size]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from nltk import Tree
from torch import nn

from treenn.cells import NaryTreeLSTMCell, TreeCell
from treenn.data.graphs import Batch, sequence_view
from treenn.latent_carry import beam_carry
from treenn.latent_fast import beam_search, gumbel_greedy
from treenn.latent_train import NEG_INF, backtrack, gumbel_full, top_expansions, valid_pairs

Embed = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LatentOutput:
    """What a latent-tree encoder found for a batch of ``B`` sentences padded to ``T`` words.

    Attributes:
        root_h: ``[B, H]`` the root state (for the beam encoder, the beams' weighted sum).
        merges: ``[B, T-1]`` long; at each step the index ``k`` of the merged pair (nodes ``k``
            and ``k+1`` of the sequence as it was before the step), ``-1`` for the steps after a
            sentence of ``n`` words is reduced to its root (steps ``n-1 .. T-2``, 0-based).
        node_h: ``[B, 2T-1, H]`` the state of every node of the chosen tree: leaves ``0..T-1``,
            then the node made at 0-based step ``s`` at ``T + s``; zero for padded words and
            for steps a sentence did not take.
    """

    root_h: torch.Tensor
    merges: torch.Tensor
    node_h: torch.Tensor


def sample_gumbel_noise(batch: int, max_len: int, like: torch.Tensor | None = None,
                        beams: int | None = None) -> list[torch.Tensor]:
    """Gumbel(0, 1) noise for one forward pass of :class:`GumbelTreeLSTM`: a list of
    ``max_len - 1`` tensors, the one for 1-based step ``t`` of shape ``[batch, max_len - t]``
    (one value per candidate pair), drawn with ``torch.rand``; with ``beams``, ``[batch,
    beams, max_len - t]`` (one per beam and pair, for :class:`BeamTreeLSTM` with ``gumbel``)."""
    kw = {} if like is None else {"dtype": like.dtype, "device": like.device}
    lead = (batch,) if beams is None else (batch, beams)
    out = []
    for t in range(1, max_len):
        u = torch.rand(*lead, max_len - t, **kw).clamp_min(torch.finfo(torch.float32).tiny)
        out.append(-torch.log(-torch.log(u)))
    return out


def _compose_pairs(cell: TreeCell, h: torch.Tensor, c: torch.Tensor, real: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The adjacent pairs of ``h [..., L, H], c [..., L, C]`` where ``real [..., L-1]`` is
    true, composed in one call: ``[..., L-1, H]`` and ``[..., L-1, C]``, zero elsewhere
    (pairs in the padding, or in empty beams, are not composed)."""
    lead, length = h.shape[:-2], h.shape[-2]
    which = real.reshape(-1).nonzero().squeeze(1)  # flat pair ids
    left = which // (length - 1) * length + which % (length - 1)  # flat id of the left node
    flat_h = h.reshape(-1, h.shape[-1])
    flat_c = c.reshape(len(flat_h), c.shape[-1])  # (c may be zero-width: no -1 here)
    new_h, new_c = cell.compose(torch.stack([flat_h[left], flat_h[left + 1]], 1),
                                torch.stack([flat_c[left], flat_c[left + 1]], 1))
    return tuple(new.new_zeros(real.numel(), new.shape[1]).index_put((which,), new)
                 .view(*lead, length - 1, new.shape[1]) for new in (new_h, new_c))


def _leaves(cell: TreeCell, x: torch.Tensor, lengths: torch.Tensor):
    """Leaf states ``h [B, T, H], c [B, T, C]`` and the same ``h`` with padded words zeroed."""
    b, t, _ = x.shape
    h, c = cell.leaf(x.reshape(b * t, -1))
    h, c = h.view(b, t, -1), c.view(b, t, c.shape[-1])
    real = torch.arange(t, device=x.device)[None] < lengths[:, None]
    return h, c, torch.where(real[..., None], h, 0.0)


class _LatentTree(nn.Module):
    """The parameters both encoders share: a binary cell (the Tree-LSTM's unless ``cell``
    names another :class:`treenn.cells.TreeCell` class) and the query vector."""

    #: Use :mod:`treenn.latent_fast` in eval mode without a gradient, and (the beam encoder)
    #: the carried candidates of :func:`treenn.latent_carry.beam_carry` otherwise (False:
    #: always the full path, which the tests compare against).
    _incremental = True

    def _fast(self) -> bool:
        return self._incremental and not self.training and not torch.is_grad_enabled()

    def __init__(self, x_size: int, h_size: int, cell: type[TreeCell] = NaryTreeLSTMCell):
        super().__init__()
        self.cell = cell(x_size, h_size)
        self.query = nn.Parameter(torch.empty(h_size).normal_(0.0, h_size ** -0.5))
        self.x_size, self.h_size = x_size, h_size


class GumbelTreeLSTM(_LatentTree):
    """Gumbel Tree-LSTM of Choi, Yoo & Lee (2018).

    ``forward(x, lengths, noise=None)``: ``x`` ``[B, T, x_size]`` padded word vectors,
    ``lengths`` ``[B]`` (each >= 1). At each step every sentence merges one pair: in training
    by a straight-through Gumbel-softmax at temperature ``tau`` (the forward pass uses the
    hard one-hot ``y_hard``, the backward pass the gradient of the soft ``y_soft``:
    ``y = y_hard - y_soft.detach() + y_soft``), in eval mode by the argmax of the scores.
    The new sequence is ``left * h[i] + y * cand[i] + right * h[i+1]`` with ``left = 1 -
    cumsum(y)`` and ``right = cumsum(y) - y``, so the scorer gets gradients through ``y``.
    ``noise``: the Gumbel noise to use in training (see :func:`sample_gumbel_noise` for its
    shapes); drawn afresh when ``None``, ignored in eval mode.

    Cost: step ``t`` composes, in one call, at most ``B x (T - t)`` pairs (those of
    unfinished sentences within their length), so ``O(sum_b n_b^2)`` compositions in all;
    :mod:`treenn.latent_train` runs this full path with few kernels per step. In
    eval mode under ``torch.no_grad()`` the incremental path of :mod:`treenn.latent_fast` is
    used instead (same merges, same states up to float rounding): step ``t`` composes only the
    ``<= 2`` pairs next to each sentence's new node (``<= 2B`` compositions in one call, plus
    ``O(B x T)`` index work), so ``O(sum_b n_b)`` compositions in all.
    """

    def __init__(self, x_size: int, h_size: int, tau: float = 1.0):
        super().__init__(x_size, h_size)
        self.tau = tau

    def forward(self, x: torch.Tensor, lengths: torch.Tensor,
                noise: list[torch.Tensor] | None = None) -> LatentOutput:
        b, t_max, _ = x.shape
        h, c, leaves = _leaves(self.cell, x, lengths)
        if self._fast():
            root, merges, nodes = gumbel_greedy(self.cell, self.query, h, c, lengths)
            return LatentOutput(root, merges, torch.cat([leaves, nodes], 1))
        if self.training and noise is None:
            noise = sample_gumbel_noise(b, t_max, like=x)
        root, merges, nodes = gumbel_full(self.cell, self.query, self._select, h, c, lengths,
                                          noise if self.training else None)
        return LatentOutput(root, merges, torch.cat([leaves, nodes], 1))

    def _select(self, scores: torch.Tensor, noise: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y [B, P], k [B])``: the (straight-through) selection over masked ``scores``."""
        if noise is None:
            k = scores.argmax(1)
            return F.one_hot(k, scores.shape[1]).to(scores.dtype), k
        logits = (scores + noise) / self.tau
        y_soft = logits.softmax(1)
        k = logits.argmax(1)
        y_hard = F.one_hot(k, scores.shape[1]).to(scores.dtype)
        return y_hard - y_soft.detach() + y_soft, k


class BeamTreeLSTM(_LatentTree):
    """Beam search over merge sequences, after the BT-Cell of Ray Chowdhury & Caragea (2023).

    ``forward(x, lengths)`` as :class:`GumbelTreeLSTM`, deterministic unless ``gumbel`` (below).
    Each sentence keeps the ``beam`` best partial trees; a beam's score is the sum over its
    steps of ``log_softmax`` (over the valid pairs) of the chosen pair's score. At each step
    every beam is expanded by every valid pair and the top ``beam`` of beam x pair are kept.
    Slots without a distinct beam (at the first steps, or for short sentences) have score
    ``-inf`` and so weight 0. The root is ``sum_k softmax(scores)_k * root_k``: gradients reach
    the scorer through these weights only; the top-k selection itself is not differentiated
    (the "soft top-k at the end" simplification). ``merges`` and ``node_h`` are those of the
    best beam.

    ``gumbel=True`` (the ``gumbel-beam-tree-lstm`` model; BT-Cell's code trains its ListOps
    models with a similar, two-stage perturbed selection): in training the ``beam`` expansions
    kept at each step are ranked by their scores plus Gumbel(0, 1) noise, one draw per beam
    and pair, so at each step they are a sample without replacement from the distribution the
    step's totals define (the Gumbel-top-k trick) instead of the ``beam`` most likely ones
    (the trees as a whole are not such a sample); the kept beams' scores stay the unperturbed
    sums. Eval mode ranks without noise, as the plain model. ``forward(x, lengths,
    noise=None)`` takes the noise to use in training (shapes: :func:`sample_gumbel_noise` with
    ``beams``), drawn afresh when ``None``; it is ignored in eval mode and without ``gumbel``.

    ``cell``: the composition's cell class, the binary Tree-LSTM unless another is given; the
    ``beam-tree-grc`` and ``gumbel-beam-tree-grc`` models use BT-Cell's own,
    :class:`treenn.cells.GatedRecursiveCell` (a zero-width ``c``). The search, the scorer and
    the three paths below are the same for every cell.

    Cost: in training or with gradients, :func:`treenn.latent_carry.beam_carry`: the first step
    composes every pair once, then a merge changes only the two pairs next to the new node, so
    step ``t`` composes ``<= 2 x B x beam`` pairs and the other candidates (states and scores)
    are carried, beams held as tables of ids into pools of states and scores. In eval mode under
    ``torch.no_grad()`` the incremental path of :mod:`treenn.latent_fast` is used (the same idea
    without autograd). With ``_incremental = False``, the plain full path below (kept as the
    reference the tests compare against): step ``t`` recomposes all ``B x beam x (T - t)``
    pairs, states held as ``[B, beam, L, H]``.
    """

    def __init__(self, x_size: int, h_size: int, beam: int = 5, gumbel: bool = False,
                 cell: type[TreeCell] = NaryTreeLSTMCell):
        super().__init__(x_size, h_size, cell)
        self.beam, self.gumbel = beam, gumbel

    def forward(self, x: torch.Tensor, lengths: torch.Tensor,
                noise: list[torch.Tensor] | None = None) -> LatentOutput:
        b, t_max, _ = x.shape
        h, c, leaves = _leaves(self.cell, x, lengths)
        if self._fast():
            root, best, history = beam_search(self.cell, self.query, h, c, lengths, self.beam)
            return LatentOutput(root, *_backtrack(best, history, leaves))
        if not (self.training and self.gumbel):
            noise = None
        elif noise is None:
            noise = sample_gumbel_noise(b, t_max, like=x, beams=self.beam)
        if self._incremental:  # training or gradients: the candidates carried across steps
            root, merges, nodes = beam_carry(self.cell, self.query, h, c, lengths, self.beam,
                                             noise)
            return LatentOutput(root, merges, torch.cat([leaves, nodes], 1))
        k = self.beam
        h = h[:, None].expand(b, k, t_max, self.h_size)
        c = c[:, None].expand(b, k, t_max, c.shape[-1])
        score = torch.full((b, k), NEG_INF, dtype=x.dtype, device=x.device)
        score[:, 0] = 0.0  # one beam to start with; the others are empty
        history = []
        for t in range(1, t_max):
            h, c, score, step = self._step(h, c, score, lengths, t,
                                           None if noise is None else noise[t - 1])
            history.append(step)
        root = (score.softmax(1)[..., None] * h[:, :, 0]).sum(1)
        merges, node_h = _backtrack(score.argmax(1), history, leaves)
        return LatentOutput(root, merges, node_h)

    def _step(self, h, c, score, lengths, t, noise=None):
        """Expand and prune: ``h, c: [B, K, L, H] -> [B, K, L-1, H]``, ``score [B, K]``, and
        for backtracking ``(parent [B, K], pair [B, K], node_h [B, K, H])``; ``noise [B, K,
        L-1]`` perturbs the ranking."""
        b, k, length, size = h.shape
        width, pairs = c.shape[-1], length - 1
        valid, active = valid_pairs(lengths, t, pairs)
        real = (valid & active[:, None])[:, None] & (score > NEG_INF)[..., None]  # [B, K, L-1]
        cand_h, cand_c = _compose_pairs(self.cell, h, c, real)  # [B, K, L-1, H]
        logp = (cand_h @ self.query).masked_fill(~valid[:, None], NEG_INF).log_softmax(-1)
        top, flat = top_expansions(score[..., None] + logp, k, noise)
        parent, pair = flat // pairs, flat % pairs  # [B, K] each
        rows = parent[..., None, None]
        h_par, c_par = h.gather(1, rows.expand(b, k, length, size)), \
            c.gather(1, rows.expand(b, k, length, width))
        pick = flat[..., None]
        node_h = cand_h.reshape(b, k * pairs, size).gather(1, pick.expand(b, k, size))[:, :, None]
        node_c = cand_c.reshape(b, k * pairs, width).gather(1, pick.expand(b, k, width))[:, :, None]
        pos = torch.arange(pairs, device=h.device)[None, None, :, None]
        left, right = pos < pair[..., None, None], pos > pair[..., None, None]
        new_h = torch.where(left, h_par[:, :, :-1], torch.where(right, h_par[:, :, 1:], node_h))
        new_c = torch.where(left, c_par[:, :, :-1], torch.where(right, c_par[:, :, 1:], node_c))
        on, keep = active[:, None], active[:, None, None, None]
        same = torch.arange(k, device=h.device).expand(b, k)
        step = (torch.where(on, parent, same), torch.where(on, pair, -1),
                torch.where(on[..., None], node_h[:, :, 0], 0.0))
        return (torch.where(keep, new_h, h[:, :, :-1]), torch.where(keep, new_c, c[:, :, :-1]),
                torch.where(on, top, score), step)


def _backtrack(best: torch.Tensor, history: list, leaves: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Follow the parent pointers back from beam ``best [B]``: ``(merges, node_h)``."""
    found = backtrack(best, history)
    if found is None:
        return best.new_zeros(len(best), 0), leaves
    return found[0], torch.cat([leaves, found[1]], 1)


class LatentEncoder(nn.Module):
    """A latent-tree encoder behind the classifier's interface: for each requested node, the
    words under it (:func:`treenn.data.graphs.sequence_view`) are parsed and encoded; the
    gold tree is not read. ``out_size = h_size``."""

    def __init__(self, tree: GumbelTreeLSTM | BeamTreeLSTM):
        super().__init__()
        self.tree = tree
        self.out_size = tree.h_size

    def forward(self, batch: Batch, embed: Embed, nodes: torch.Tensor) -> torch.Tensor:
        """Root states ``[len(nodes), h_size]``."""
        return self.parse(batch, embed, nodes).root_h

    def parse(self, batch: Batch, embed: Embed, nodes: torch.Tensor) -> LatentOutput:
        """Everything the encoder found (merges and node states, to draw induced trees)."""
        tokens, lengths = sequence_view(batch, nodes)  # [n, T], [n]
        n, t_max = tokens.shape
        real = (torch.arange(t_max, device=tokens.device)[None] < lengths[:, None]).reshape(-1)
        where = real.nonzero().squeeze(1)
        words = embed(tokens.reshape(-1)[where])  # embed (and drop out) real tokens only
        x = words.new_zeros(n * t_max, words.shape[1]).index_put((where,), words)
        return self.tree(x.view(n, t_max, -1), lengths)


def merges_to_spans(merges_row, length: int) -> list[tuple[int, int]]:
    """The word span ``(start, end)`` (end exclusive) of each merge node, in step order.

    ``merges_row``: one row of :attr:`LatentOutput.merges` (a tensor or a list); only its
    first ``length - 1`` entries are read.

    >>> merges_to_spans([1, 0, 0], 4)
    [(1, 3), (0, 3), (0, 4)]
    """
    spans = [(i, i + 1) for i in range(length)]
    made = []
    for k in [int(k) for k in merges_row[:length - 1]]:
        spans[k:k + 2] = [(spans[k][0], spans[k + 1][1])]
        made.append(spans[k])
    return made


def merges_to_tree(tokens: list[str], merges_row, labels: list[str] | None = None) -> Tree:
    """The binary tree over ``tokens`` that ``merges_row`` builds, as an nltk Tree.

    Words sit under preterminals. Without ``labels`` preterminals are ``XX`` and inner nodes
    ``X``. ``labels`` may give the ``n - 1`` inner nodes' labels in step order, or all ``2n -
    1`` nodes' labels (the ``n`` preterminals first, as the rows of ``node_h[:, :n]`` and
    ``node_h[:, T:T+n-1]``).

    >>> print(merges_to_tree(["a", "good", "film"], [1, 0]))
    (X (XX a) (X (XX good) (XX film)))
    """
    n = len(tokens)
    if labels is not None and len(labels) not in (n - 1, 2 * n - 1):
        raise ValueError(f"labels: expected {n - 1} or {2 * n - 1}, got {len(labels)}")
    leaf_labels = labels[:n] if labels is not None and len(labels) == 2 * n - 1 else ["XX"] * n
    inner = labels[-(n - 1):] if labels is not None and n > 1 else ["X"] * (n - 1)
    nodes = [Tree(label, [word]) for label, word in zip(leaf_labels, tokens, strict=True)]
    for step, k in enumerate(int(k) for k in merges_row[:n - 1]):
        nodes[k:k + 2] = [Tree(inner[step], [nodes[k], nodes[k + 1]])]
    return nodes[0]

"""Incremental inference for the latent-tree encoders of :mod:`treenn.latent` (no gradient).

The Gumbel encoder's training path recomposes every adjacent pair at every step (the
straight-through selection needs a gradient through each candidate), ``O(n^2)`` compositions
for ``n`` words. Without a gradient only the (at most) two pairs next to the new node change
after a merge, so this path keeps every candidate's state and score and composes only those
two (the beam encoder's training path, :func:`treenn.latent_carry.beam_carry`, does the same
with autograd):

* A node lives in the *slot* of its first word; the sequence is the alive slots in order, held
  as a doubly linked list (``nxt``, ``prv``). A merge of slots ``s`` and ``nxt[s]`` keeps ``s``.
* The candidate of the pair (node in slot ``i``, the next node) lives in slot ``i``, with its
  score; dead slots and the last node score ``-inf``, so an argmax over the slots is the first
  maximum over the sequence's pairs, in the same order as the full path's.
* Node and candidate states are rows of one append-only pool; the per-sequence tables hold pool
  ids (``O(T)`` integers), so a beam copies its parent's tables, not its states.

Per step: one ``cell.compose`` call on ``<= 2`` pairs per sequence (``x beam``) and ``O(T)``
index work per sequence, instead of ``T - t`` compositions per sequence.
"""

from __future__ import annotations

import torch

from treenn.latent_train import NEG_INF


class _Forest:
    """The merge state of ``N`` sequences over ``T`` slots, node/candidate states in a pool."""

    def __init__(self, cell, query, h, c, lengths, extra: int):
        b, t, size = h.shape
        self.cell, self.query, self.t = cell, query, t
        pairs = (torch.arange(t - 1, device=h.device)[None] < (lengths - 1)[:, None]).nonzero()
        rows = b * t + len(pairs) + extra
        self.h, self.c = h.new_empty(rows, size), c.new_empty(rows, c.shape[-1])  # c: may be 0
        self.h[:b * t], self.c[:b * t] = h.reshape(b * t, size), c.reshape(b * t, c.shape[-1])
        self.used = b * t
        slots = torch.arange(t, device=h.device)
        self.slots = slots
        self.node = (slots + torch.arange(b, device=h.device)[:, None] * t).clone()  # [B, T]
        self.alive = slots[None] < lengths[:, None]
        self.nxt = torch.where(slots[None] + 1 < lengths[:, None], slots[None] + 1, t)
        self.prv = (slots - 1).expand(b, t).clone()
        self.cand = torch.zeros_like(self.node)
        self.score = h.new_full((b, t), NEG_INF)
        if len(pairs):
            self._new_candidates(pairs[:, 0], pairs[:, 1])

    def _new_candidates(self, rows: torch.Tensor, slots: torch.Tensor) -> None:
        """Compose (slot, next node) for each ``(rows[i], slots[i])`` in one call."""
        if not len(rows):
            return
        left, right = self.node[rows, slots], self.node[rows, self.nxt[rows, slots]]
        new_h, new_c = self.cell.compose(torch.stack([self.h[left], self.h[right]], 1),
                                         torch.stack([self.c[left], self.c[right]], 1))
        ids = torch.arange(self.used, self.used + len(rows), device=rows.device)
        self.h[self.used:self.used + len(rows)] = new_h
        self.c[self.used:self.used + len(rows)] = new_c
        self.used += len(rows)
        self.cand[rows, slots] = ids
        self.score[rows, slots] = new_h @ self.query

    def merge(self, rows: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Merge slot ``s [n]`` with the next node in sequences ``rows [n]`` (distinct):
        ``(pool id of the new node, its pair's position k in the sequence)``."""
        k = (self.alive[rows] & (self.slots[None] < s[:, None])).sum(1)
        new = self.cand[rows, s]
        self.node[rows, s] = new
        q = self.nxt[rows, s]  # the right node's slot
        self.alive[rows, q] = False
        self.score[rows, q] = NEG_INF
        self.score[rows, s] = NEG_INF  # until its new right pair, if any, is composed
        after = self.nxt[rows, q]
        self.nxt[rows, s] = after
        has_r = after < self.t
        self.prv[rows[has_r], after[has_r]] = s[has_r]
        before = self.prv[rows, s]
        has_l = before >= 0
        self._new_candidates(torch.cat([rows[has_l], rows[has_r]]),
                             torch.cat([before[has_l], s[has_r]]))
        return new, k

    def reorder(self, dst: torch.Tensor | None, src: torch.Tensor) -> None:
        """Sequence ``dst[i]`` becomes a copy of sequence ``src[i]`` (the tables only); with
        ``dst=None`` the sequences become ``src``'s copies."""
        for name in ("node", "alive", "nxt", "prv", "cand", "score"):
            table = getattr(self, name)
            if dst is None:
                setattr(self, name, table[src])
            else:
                table[dst] = table[src]


def gumbel_greedy(cell, query, h, c, lengths):
    """The eval-mode Gumbel tree (argmax merges) from leaf states ``h, c [B, T, H]``:
    ``(root_h [B, H], merges [B, T-1], merged node states [B, T-1, H])``."""
    b, t_max, size = h.shape
    forest = _Forest(cell, query, h, c, lengths, extra=2 * b * max(t_max - 1, 0))
    merges = lengths.new_full((b, max(t_max - 1, 0)), -1, dtype=torch.long)
    nodes = h.new_zeros(b, max(t_max - 1, 0), size)
    for t in range(1, t_max):
        act = (lengths > t).nonzero().squeeze(1)
        if not len(act):
            break
        new, k = forest.merge(act, forest.score[act].argmax(1))
        merges[act, t - 1] = k
        nodes[act, t - 1] = forest.h[new]
    return forest.h[forest.node[:, 0]], merges, nodes


def beam_search(cell, query, h, c, lengths, beam: int):
    """The beam encoder's search from leaf states ``h, c [B, T, H]``: ``(root_h [B, H], best
    beam [B], history)`` with ``history`` as :func:`treenn.latent._backtrack` reads it."""
    b, t_max, size = h.shape
    forest = _Forest(cell, query, h, c, lengths, extra=2 * b * beam * max(t_max - 1, 0))
    every = torch.arange(b, device=h.device).repeat_interleave(beam)
    forest.reorder(None, every)  # sequence b * beam + j: beam j of sentence b
    score = h.new_full((b, beam), NEG_INF)
    score[:, 0] = 0.0  # one beam to start with; the others are empty
    same = torch.arange(beam, device=h.device).expand(b, beam)
    history = []
    for t in range(1, t_max):
        act = (lengths > t).nonzero().squeeze(1)
        if not len(act):
            history.append((same, lengths.new_full((b, beam), -1, dtype=torch.long),
                            h.new_zeros(b, beam, size)))
            continue
        logp = forest.score.view(b, beam, t_max)[act].log_softmax(-1)
        total = (score[act][..., None] + logp).masked_fill(score[act][..., None] == NEG_INF,
                                                          NEG_INF)
        top, flat = total.reshape(len(act), beam * t_max).topk(beam, dim=1)
        parent, slot = flat // t_max, flat % t_max
        dst = (act[:, None] * beam + same[:len(act)]).reshape(-1)
        forest.reorder(dst, (act[:, None] * beam + parent).reshape(-1))
        live = (top > NEG_INF).reshape(-1)
        new, k = forest.merge(dst[live], slot.reshape(-1)[live])
        pair = lengths.new_full((b * beam,), -1, dtype=torch.long)
        node = h.new_zeros(b * beam, size)
        pair[dst[live]], node[dst[live]] = k, forest.h[new]
        par = same.clone()
        par[act], score[act] = parent, top
        history.append((par, pair.view(b, beam), node.view(b, beam, size)))
    roots = forest.h[forest.node[:, 0]].view(b, beam, size)
    return (score.softmax(1)[..., None] * roots).sum(1), score.argmax(1), history

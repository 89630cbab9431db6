"""The training path of :class:`treenn.latent.GumbelTreeLSTM`, laid out for speed, and the
helpers that the beam encoder's paths share (:func:`top_expansions`, :func:`backtrack`; its
training path is :func:`treenn.latent_carry.beam_carry`).

:func:`gumbel_full`: the same maths as :class:`treenn.latent.GumbelTreeLSTM` describes
(every valid pair composed at every step, straight-through selection, the new sequence mixed
with cumsum masks so that the scorer gets gradients through ``y``; nothing is cached across
steps), with fewer and larger kernels per step (about 10-15% off a training step of SST-sized
batches, whose time is now mostly the compose matrix products):

* The batch is sorted by length (longest first), so the sentences still merging at step ``t``
  are a prefix: finished sentences are split off (their root saved) instead of masked, and
  the results are put back in the caller's order once, at the end.
* A node's ``h`` and ``c`` sit side by side in one ``[m, L, 2H]`` state, so gathering the
  children (one index of ``[h_l, h_r, c_l, c_r]`` rows), mixing the new sequence and adding
  the chosen candidates are one op each for both.
* Only the valid pairs are composed, by the cell's fused linear layer and its ``pointwise``
  maths with their hand-written backward (:class:`_Pointwise`).
* No dense ``[m, L-1, 2H]`` candidate tensor: ``left * s[i] + right * s[i+1]`` is one
  ``addcmul`` and ``y * cand`` is added at the valid pairs in place (:class:`_Mix`, whose
  backward writes the state's gradient in place); the new node ``sum_k y_k cand_k`` is one
  ``index_add`` of the same products.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from treenn.cells import tanh_by_sigmoid

NEG_INF = float("-inf")


def valid_pairs(lengths: torch.Tensor, t: int, pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(valid [B, pairs], active [B])`` at 1-based step ``t``: a sentence of ``n`` words is
    active while ``n > t`` and may merge pairs ``k < n - t``. A finished sentence gets pair 0
    as its only valid pair, so its softmax stays finite; its result is discarded."""
    k = torch.arange(pairs, device=lengths.device)
    active = lengths > t
    valid = (k[None] < (lengths - t)[:, None]) | ((k[None] == 0) & ~active[:, None])
    return valid, active


#: ``select(scores [m, P], noise [m, P] | None) -> (y [m, P], k [m])``
Select = Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


class _Pointwise(torch.autograd.Function):
    """``cell.pointwise`` (``tanh`` by ``sigmoid``: vectorised on the CPU) with its
    hand-written backward; autograd would zero-fill a ``[n, 5H]`` gradient per gate slice."""

    @staticmethod
    def forward(ctx, cell, pre, child_c):
        h, c, saved = cell.pointwise(pre, child_c, tanh=tanh_by_sigmoid)
        ctx.cell, ctx.saved = cell, saved
        ctx.save_for_backward(child_c)
        return h, c

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        (child_c,) = ctx.saved_tensors
        return (None, *ctx.cell.pointwise_backward(ctx.saved, child_c, grad_h, grad_c))


class _Mix(torch.autograd.Function):
    """``left * s[i] + right * s[i+1]`` plus ``picked`` added at the flat pairs ``which``:
    ``(state [m, L, W], left, right [m, L-1], picked [n, W], which [n]) -> [m, L-1, W]``. The
    backward writes the state's gradient in place instead of zero-filling two shifted
    copies (what autograd does for the slices ``s[:, :-1]``, ``s[:, 1:]``)."""

    @staticmethod
    def forward(ctx, state, left, right, picked, which):
        out = torch.addcmul(left[..., None] * state[:, :-1], right[..., None], state[:, 1:])
        out.view(-1, state.shape[-1]).index_put_((which,), picked, accumulate=True)
        ctx.save_for_backward(state, left, right, which)
        return out

    @staticmethod
    def backward(ctx, grad):
        state, left, right, which = ctx.saved_tensors
        g_state = torch.empty_like(state)
        torch.mul(grad, left[..., None], out=g_state[:, :-1])
        g_state[:, -1].zero_()
        g_state[:, 1:].addcmul_(grad, right[..., None])
        g_left = (grad * state[:, :-1]).sum(-1)
        g_right = (grad * state[:, 1:]).sum(-1)
        return g_state, g_left, g_right, grad.reshape(-1, state.shape[-1])[which], None


def _merge(cell, query, select: Select, state: torch.Tensor, pairs: torch.Tensor,
           noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One merge for each of ``m`` sentences: ``state [m, L, 2H] -> [m, L-1, 2H]``, where
    sentence ``i`` may merge pairs ``k < pairs[i]`` (``>= 1``). Returns ``(k [m], new node's
    h [m, H], new state)``."""
    m, length, width = state.shape
    size, p = width // 2, length - 1
    valid = torch.arange(p, device=state.device)[None] < pairs[:, None]  # [m, P]
    which = valid.view(-1).nonzero().squeeze(1)  # flat pair ids
    row = which // p
    left = which + row  # flat id of the pair's left node: row * L + k
    # rows of [h; c] per node: gather [h_l, h_r, c_l, c_r] so each half is one split
    halves, linear = state.view(-1, size), cell.fused_linear
    ids = torch.stack([2 * left, 2 * left + 2, 2 * left + 1, 2 * left + 3], 1).view(-1)
    kid_h, kid_c = halves[ids].view(-1, 4, size).split(2, 1)
    pre = torch.nn.functional.linear(kid_h.reshape(-1, 2 * size), linear.weight, linear.bias)
    new_h, new_c = _Pointwise.apply(cell, pre, kid_c)
    scores = state.new_full((m * p,), NEG_INF).index_put((which,), new_h @ query)
    y, k = select(scores.view(m, p), noise)
    cum = y.cumsum(1)
    picked = torch.cat([new_h, new_c], 1) * y.reshape(-1)[which][:, None]  # y * cand
    out = _Mix.apply(state, 1 - cum, cum - y, picked, which)
    node = state.new_zeros(m, width).index_add(0, row, picked)[:, :size]
    return k, node, out.view(m, p, width)


def gumbel_full(cell, query, select: Select, h: torch.Tensor, c: torch.Tensor,
                lengths: torch.Tensor, noise: list[torch.Tensor] | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From leaf states ``h, c [B, T, H]``: ``(root_h [B, H], merges [B, T-1], merged node
    states [B, T-1, H])`` as :class:`treenn.latent.LatentOutput` lays them out; ``noise`` as
    :func:`treenn.latent.sample_gumbel_noise` draws it (``None``: argmax selection)."""
    b, t_max, size = h.shape
    order = lengths.argsort(descending=True, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(b, device=order.device)
    n = lengths[order]
    steps = torch.arange(t_max + 1, device=n.device)
    active = (n[None] > steps[:, None]).sum(1).tolist()  # sentences merging at step t
    state = torch.cat([h, c], -1)[order]  # [B, T, 2H], longest first
    roots, merges, nodes = [state[active[1]:, 0, :size]], [], []
    state, _ = state.split([active[1], b - active[1]])
    for t in range(1, t_max):
        m = active[t]
        if not m:  # padded beyond the longest sentence
            break
        k, node, state = _merge(cell, query, select, state, n[:m] - t,
                                None if noise is None else noise[t - 1][order[:m]])
        merges.append(torch.nn.functional.pad(k, (0, b - m), value=-1))
        nodes.append(node)
        state, done = state.split([active[t + 1], m - active[t + 1]])
        roots.append(done[:, 0, :size])  # finished at this step
    root = torch.cat(roots[::-1])[inverse]
    node_h = h.new_zeros(b * max(t_max - 1, 0), size)
    if not merges:
        return root, lengths.new_full((b, max(t_max - 1, 0)), -1, dtype=torch.long), \
            node_h.view(b, -1, size)
    merges = torch.stack(merges, 1)[inverse].long()
    merges = torch.nn.functional.pad(merges, (0, t_max - 1 - merges.shape[1]), value=-1)
    rows = torch.cat([order[:active[t]] * (t_max - 1) + (t - 1) for t in range(1, len(nodes) + 1)])
    node_h = node_h.index_put((rows,), torch.cat(nodes))
    return root, merges, node_h.view(b, t_max - 1, size)


def top_expansions(total: torch.Tensor, k: int, noise: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best of ``total [B, K, P]`` (a beam's score plus a pair's log-probability):
    ``(totals [B, k], flat ids [B, k] into K x P)``, best first; with Gumbel ``noise [B, K, P]``
    ranked by ``total + noise``, the totals returned unperturbed."""
    flat_total = total.reshape(len(total), -1)
    if noise is None:
        return flat_total.topk(k, dim=1)
    flat = (flat_total + noise.reshape(len(total), -1)).topk(k, dim=1).indices
    return flat_total.gather(1, flat), flat


def backtrack(best: torch.Tensor, history: list) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Follow a beam search's parent pointers back from beam ``best [B]``; ``history`` holds
    one ``(parent [B, K], pair [B, K], made [B, K, ...])`` per step. Returns the chosen
    beam's ``(pairs [B, steps], made [B, steps, ...])``, or ``None`` without steps."""
    rows = torch.arange(len(best), device=best.device)
    beam, pairs, made = best, [], []
    for parent, pair, new in reversed(history):
        pairs.append(pair[rows, beam])
        made.append(new[rows, beam])
        beam = parent[rows, beam]
    if not pairs:
        return None
    return torch.stack(pairs[::-1], 1), torch.stack(made[::-1], 1)

"""The beam encoder's training path (:class:`treenn.latent.BeamTreeLSTM` with gradients):
:func:`beam_carry`, which carries each beam's candidates from step to step instead of
composing every pair again.
"""

from __future__ import annotations

import torch

from treenn.cells import NaryTreeLSTMCell, tanh_by_sigmoid
from treenn.latent_train import NEG_INF, backtrack, top_expansions, valid_pairs


class _Pool:
    """Rows (node states, or scores) written once and read by id, outside autograd: ``data
    [rows, W]``, and ``grad``, where the readers' gradients are summed. :class:`_Write` and
    :class:`_Read` put it in the autograd graph, ordered by a chain of tokens (see
    :func:`beam_carry`)."""

    def __init__(self, rows: int, like: torch.Tensor):
        self.data, self.used = like.new_empty(rows, like.shape[1]), 0
        self.grad, self.graph_task = None, None

    def pass_grad(self) -> torch.Tensor:
        """``grad`` for the backward pass running now, zeroed when a new pass starts: an
        earlier pass (one limited by ``inputs=``, or one that failed) may have left sums in
        rows whose writes it did not reach. (``_current_graph_task_id`` is what
        ``torch.autograd.graph``'s multi-grad hooks use to tell passes apart.)"""
        task = torch._C._current_graph_task_id()
        if self.grad is None or self.graph_task != task:
            self.grad, self.graph_task = torch.zeros_like(self.data), task
        return self.grad

    def take(self, n: int) -> tuple[int, int]:
        """The span ``(a, b)`` of the next ``n`` rows, now counted as used."""
        a = self.used
        self.used = a + n
        return a, a + n


class _Write(torch.autograd.Function):
    """Append ``values [n, W]`` to the pool; returns the new token. Its backward runs after
    every :class:`_Read` of its own or a later token (they depend on it), so the rows'
    gradient is complete when it hands it to ``values``."""

    @staticmethod
    def forward(ctx, pool, values, token):
        ctx.pool, ctx.span = pool, pool.take(len(values))
        pool.data[ctx.span[0]:ctx.span[1]] = values
        return values.new_zeros(())

    @staticmethod
    def backward(ctx, grad_token):
        a, b = ctx.span
        return None, ctx.pool.pass_grad()[a:b].clone(), grad_token


class _Read(torch.autograd.Function):
    """``pool.data[ids]``, after the write that made ``token``; the gradient is summed into
    ``pool.grad`` in place."""

    @staticmethod
    def forward(ctx, pool, ids, token):
        ctx.pool = pool
        ctx.save_for_backward(ids)
        return pool.data[ids]

    @staticmethod
    def backward(ctx, grad):
        (ids,) = ctx.saved_tensors
        ctx.pool.pass_grad().index_add_(0, ids, grad)
        return None, None, grad.new_zeros(())


def _claim(pools: tuple[_Pool, _Pool], n: int) -> tuple[int, int]:
    """The span ``(a, b)`` of the next ``n`` rows of the state and score pools, which a
    composition fills (a candidate's score has its state's id)."""
    span = pools[0].take(n)
    pools[1].take(n)
    return span


class _Compose(torch.autograd.Function):
    """Compose the pairs of rows ``(left[i], right[i])`` of the state pool and append the new
    ``[h; c]`` rows and their scores ``h . query`` to the pools; returns the new token. The
    cell's fused linear layer and ``pointwise`` maths, with the backward written out: the
    rows' gradients (from the pools, complete when it runs: see :class:`_Write`) through the
    score and the cell to the weights, the query and the children's rows, added into the
    state pool's gradient in place. Autograd would zero-fill a gradient per slice of the gate
    and ``[h; c]`` layouts and per gathered child, every step. ``tanh`` is
    :func:`treenn.cells.tanh_by_sigmoid` (within 2e-7 of ``cell.compose``), as in the search
    without gradients, so training and eval compose alike."""

    @staticmethod
    def forward(ctx, nodes, cell, left, right, weight, bias, query, token):
        states, scores = nodes.pools
        size = weight.shape[1] // 2
        halves = states.data.view(-1, size)  # row r of the pool: halves 2r (h), 2r + 1 (c)
        kid_h = halves[torch.stack([2 * left, 2 * right], 1).view(-1)].view(-1, 2 * size)
        kid_c = halves[torch.stack([2 * left + 1, 2 * right + 1], 1).view(-1)].view(-1, 2, size)
        pre = torch.addmm(bias, kid_h, weight.t())
        a, b = _claim(nodes.pools, len(left))
        rows = states.data[a:b]
        _, _, saved = cell.pointwise(pre, kid_c, tanh=tanh_by_sigmoid,
                                     out=(rows[:, :size], rows[:, size:]))
        torch.mv(rows[:, :size], query, out=scores.data[a:b, 0])
        # the pools, not ``nodes``: its token holds this node (a cycle autograd cannot free)
        ctx.pools, ctx.cell, ctx.span, ctx.saved = nodes.pools, cell, (a, b), saved
        ctx.save_for_backward(left, right, kid_h, kid_c, weight, query)
        return token.new_zeros(())

    @staticmethod
    def backward(ctx, grad_token):
        left, right, kid_h, kid_c, weight, query = ctx.saved_tensors
        (a, b), (states, scores) = ctx.span, ctx.pools
        size = weight.shape[1] // 2
        grad, grad_score = states.pass_grad()[a:b], scores.pass_grad()[a:b]
        new_h = states.data[a:b, :size]
        grad_h = torch.addmm(grad[:, :size], grad_score, query[None])  # through h . query
        g_pre, g_kid_c = ctx.cell.pointwise_backward(ctx.saved, kid_c, grad_h, grad[:, size:])
        g_kid_h = (g_pre @ weight).view(-1, 2, size)
        ids = torch.stack([2 * left, 2 * right, 2 * left + 1, 2 * right + 1], 1).view(-1)
        states.pass_grad().view(-1, size).index_add_(
            0, ids, torch.cat([g_kid_h, g_kid_c], 1).view(-1, size))
        return (None, None, None, None, g_pre.t() @ kid_h, g_pre.sum(0),
                grad_score[:, 0] @ new_h, grad_token)


class _ComposeAny(torch.autograd.Function):
    """:class:`_Compose` for any other cell: the same pools and tokens, but the composition
    and its score run under autograd inside ``forward``, from the children's rows, and
    ``backward`` hands the rows' gradients to ``torch.autograd.grad`` of that small graph.
    The graph is built on detached copies of ``query`` and ``params`` (the cell's parameters,
    in ``named_parameters`` order, inputs here so that autograd routes their gradients
    through this function), so hooks on the parameters see only their summed gradient, and
    frozen ones are left out. The graph lives as long as this node of the outer graph (a
    second backward of a retained graph runs it again), as autograd's own would until its
    backward; composing again in ``backward`` instead would hold only ids but cost about a
    third more per training step (measured with the GRC on ListOps batches)."""

    @staticmethod
    def forward(ctx, nodes, cell, left, right, query, token, *params):
        states, scores = nodes.pools
        size, needs = cell.h_size, ctx.needs_input_grad
        pair = torch.stack([left, right], 1)  # [n, 2] the children's rows
        with torch.enable_grad():
            kids = states.data[pair].requires_grad_()  # [n, 2, H + C]
            q = query.detach().requires_grad_(needs[4])
            free = {name: p.detach().requires_grad_(need) for (name, _), p, need
                    in zip(cell.named_parameters(), params, needs[6:], strict=True)}
            h, c = torch.func.functional_call(cell, free, (None, kids[..., :size],
                                                           kids[..., size:]))
            score = h @ q
        a, b = _claim(nodes.pools, len(left))
        states.data[a:b] = torch.cat([h, c], 1).detach()
        scores.data[a:b, 0] = score.detach()
        ctx.pools, ctx.span, ctx.size = nodes.pools, (a, b), size
        inputs = [t for t in (q, *free.values()) if t.requires_grad]
        ctx.graph = (kids, (h, score, c), inputs)
        ctx.save_for_backward(pair)
        return token.new_zeros(())

    @staticmethod
    def backward(ctx, grad_token):
        (pair,) = ctx.saved_tensors
        (a, b), (states, scores), size = ctx.span, ctx.pools, ctx.size
        kids, (h, score, c), inputs = ctx.graph
        grad_states = states.pass_grad()
        grad = grad_states[a:b]
        outs = [(h, grad[:, :size]), (score, scores.pass_grad()[a:b, 0])]
        if c.shape[1]:
            outs.append((c, grad[:, size:]))
        found = iter(torch.autograd.grad([o for o, _ in outs], [kids, *inputs],
                                         [g for _, g in outs], retain_graph=True,
                                         allow_unused=True))
        g_kids = next(found)  # [n, 2, H + C]
        grad_states.index_add_(0, pair.view(-1), g_kids.reshape(-1, g_kids.shape[-1]))
        needs = ctx.needs_input_grad
        rest = [next(found) if need else None for need in needs[4:5] + needs[6:]]
        return (None, None, None, None, rest[0], grad_token, *rest[1:])


class _Nodes:
    """:func:`beam_carry`'s node states (``[h; c]`` rows) and candidates' scores, each in a
    pool, written and read in one chain of tokens; a candidate's score has its state's id."""

    def __init__(self, leaves: torch.Tensor, rows: int):
        self.pools = (_Pool(rows, leaves), _Pool(rows, leaves[:, :1]))
        token = _Write.apply(self.pools[0], leaves, leaves.new_zeros(()))
        # leaves are nobody's candidates: score 0
        self.token = _Write.apply(self.pools[1], leaves.new_zeros(len(leaves), 1), token)

    def _read(self, which: int, ids: torch.Tensor) -> torch.Tensor:
        pool = self.pools[which]
        rows = _Read.apply(pool, ids.reshape(-1), self.token)
        return rows.view(*ids.shape, pool.data.shape[1])

    def states(self, ids: torch.Tensor) -> torch.Tensor:
        """``[*ids.shape, H + C]``"""
        return self._read(0, ids)

    def scores(self, ids: torch.Tensor) -> torch.Tensor:
        """``[*ids.shape]``"""
        return self._read(1, ids)[..., 0]

    def compose(self, cell, query: torch.Tensor, left: torch.Tensor, right: torch.Tensor
                ) -> torch.Tensor:
        """Compose the pairs of nodes ``(left[i], right[i])`` (ids) into new rows; their ids."""
        used = self.pools[0].used
        if isinstance(cell, NaryTreeLSTMCell):  # its backward written out
            linear = cell.fused_linear
            self.token = _Compose.apply(self, cell, left, right, linear.weight, linear.bias,
                                        query, self.token)
        else:
            self.token = _ComposeAny.apply(self, cell, left, right, query, self.token,
                                           *cell.parameters())
        return torch.arange(used, used + len(left), device=left.device)


def beam_carry(cell, query: torch.Tensor, h: torch.Tensor, c: torch.Tensor, lengths: torch.Tensor,
               beam: int, noise: list[torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The beam encoder's search with gradients, from leaf states ``h, c [B, T, H]``:
    ``(root_h [B, H], merges [B, T-1], merged node states [B, T-1, H])`` as
    :func:`treenn.latent_train.gumbel_full` returns them (the best beam's). ``noise``: Gumbel
    noise per step (``[B, beam, T - t]``) that perturbs the ranking (:func:`top_expansions`),
    or ``None``.

    The same maths as the full path (``BeamTreeLSTM._step``: every beam scores every valid
    pair, ``log_softmax``, top ``K`` of beam x pair), but nothing is recomposed: merging pair
    ``j`` leaves the other pairs' children, hence their compositions and scores, as they
    were, so a kept beam takes its parent's candidates (shifted past ``j``) and composes only
    the pairs ``j - 1`` and ``j`` of its new sequence: ``<= 2 x B x K`` compositions per step
    instead of ``B x K x (L - 1)``. As in :mod:`treenn.latent_fast`, node states and
    candidates' scores live in append-only pools and a beam is a table of pool ids, so a step
    copies ``O(B K L)`` integers and reads ``O(B K L)`` scores, not states. The pools are
    outside autograd: :class:`_Read` sums its gradient into the pool's gradient, and the
    write that made a row (:class:`_Write` for the leaves, :class:`_Compose` for the rest)
    takes the row's gradient from there once every later reader has run. That order is
    autograd's: every read takes the token of the latest write, and each write takes the one
    before it.
    """
    b, t_max, size = h.shape
    k, p, dev = beam, max(t_max - 1, 0), h.device  # beams, pairs of the longest sentence
    # rows: the leaves, the first step's pairs, then <= 2 new pairs per beam and step
    merging = int((lengths - 1).clamp_min(0).sum())  # steps (and first pairs) of the batch
    nodes = _Nodes(torch.cat([h, c], -1).view(b * t_max, size + c.shape[-1]),
                   rows=b * t_max + (1 + 2 * k) * merging)
    slot = torch.arange(t_max, device=dev)
    node = (slot + t_max * torch.arange(b, device=dev)[:, None])  # [B, T] leaf ids
    cand = node[:, :-1].clone()  # a dummy id (a leaf, score 0) where no pair is
    real = slot[None, :-1] < (lengths - 1)[:, None]
    if real.any():
        cand[real] = nodes.compose(cell, query, node[:, :-1][real], node[:, 1:][real])
    node = node[:, None].expand(b, k, t_max)
    cand = cand[:, None].expand(b, k, p)
    score = h.new_full((b, k), NEG_INF, dtype=query.dtype)
    score[:, 0] = 0.0  # one beam to start with; the others are empty
    history = []
    for t in range(1, t_max):
        node, cand, score, step = _carry_step(cell, query, nodes, node, cand, score, lengths, t,
                                              None if noise is None else noise[t - 1])
        history.append(step)
    roots = nodes.states(node[:, :, 0])[..., :size]  # [B, K, H]
    root = (score.softmax(1)[..., None] * roots).sum(1)
    none = lengths.new_zeros(b, 0, dtype=torch.long)
    merges, made = backtrack(score.argmax(1), history) or (none, none)
    merged = nodes.states(made.clamp_min(0))[..., :size]  # [B, T-1, H]
    return root, merges, torch.where((made >= 0)[..., None], merged, 0.0)


def _carry_step(cell, query: torch.Tensor, nodes: _Nodes, node: torch.Tensor,
                cand: torch.Tensor, score: torch.Tensor, lengths: torch.Tensor, t: int,
                noise: torch.Tensor | None):
    """One step of :func:`beam_carry`: the id tables ``node [B, K, L]`` and ``cand [B, K,
    L-1]`` shrink by one position; ``score [B, K]``; ``(parent, pair, new node id)``."""
    b, k, length = node.shape
    pairs = length - 1
    valid, active = valid_pairs(lengths, t, pairs)
    raw = nodes.scores(cand)  # [B, K, P]
    logp = raw.masked_fill(~valid[:, None], NEG_INF).log_softmax(-1)
    top, flat = top_expansions(score[..., None] + logp, k, noise)
    parent, pair = flat // pairs, flat % pairs  # [B, K] each
    node_par = node.gather(1, parent[..., None].expand(b, k, length))  # [B, K, L]
    cand_par = cand.gather(1, parent[..., None].expand(b, k, pairs))  # [B, K, P]
    new = cand_par.gather(2, pair[..., None])  # [B, K, 1] the merged node's id
    at, pos = pair[..., None], torch.arange(pairs, device=node.device)
    shifted = torch.where(pos > at, node_par[..., 1:], new)
    new_node = torch.where(pos < at, node_par[..., :-1], shifted)  # [B, K, L-1]
    new_cand = torch.where(pos[:-1] < at, cand_par[..., :-1], cand_par[..., 1:])  # [B, K, P-1]
    live = active[:, None] & (top > NEG_INF)
    bl, kl = (live & (pair >= 1)).nonzero(as_tuple=True)
    br, kr = (live & (pair + 1 < (lengths - t)[:, None])).nonzero(as_tuple=True)
    pl, pr = pair[bl, kl], pair[br, kr]
    if len(bl) + len(br):
        made = nodes.compose(cell, query,
                             torch.cat([new_node[bl, kl, pl - 1], new_node[br, kr, pr]]),
                             torch.cat([new_node[bl, kl, pl], new_node[br, kr, pr + 1]]))
        new_cand = new_cand.clone()
        new_cand[torch.cat([bl, br]), torch.cat([kl, kr]), torch.cat([pl - 1, pr])] = made
    on = active[:, None]
    same = torch.arange(k, device=node.device).expand(b, k)
    step = (torch.where(on, parent, same), torch.where(on, pair, -1),
            torch.where(on, new[..., 0], -1))
    return (torch.where(on[..., None], new_node, node[..., :-1]),
            torch.where(on[..., None], new_cand, cand[..., :-1]), torch.where(on, top, score), step)

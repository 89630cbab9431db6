"""Traversal engines: drive a cell bottom-up over a batch of trees.

An engine is a function ``engine(cell, batch, x_leaf) -> (h, c)`` where ``x_leaf`` is
``[n_leaves, x_size]`` for the nodes ``batch.schedule.leaf_ids`` (in that order) and the result
holds every node's state, ``h: [N, h_size]``, ``c: [N, c_size]``, indexed by graph node id.

* ``dgl``: DGL's ``prop_nodes_topo`` with message / reduce / apply functions. It is the
  reference: short, close to the DGL examples, and slow (Python work per frontier and per
  degree bucket).
* ``fast``: level-batched. Nodes of equal height are computed together from a schedule made
  once per batch; the backward pass walks the levels in reverse, accumulating gradients into
  one buffer, so the cost per node does not grow with tree height.

Both call the same cell; tests check them against a per-tree recursive reference.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import dgl
import torch
import torch.nn.functional as F

from treenn.cells import TreeCell
from treenn.data.graphs import Batch, LevelSchedule
from treenn.errors import TreennError

Engine = Callable[[TreeCell, Batch, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def dgl_engine(cell: TreeCell, batch: Batch, x_leaf: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference engine on DGL's ``prop_nodes_topo`` (CPU only: DGL from PyPI is CPU-only)."""
    if x_leaf.device.type != "cpu":
        raise TreennError("the dgl engine runs on the CPU only (DGL from PyPI has no CUDA "
                          "support); use the fast engine on a GPU")
    g = batch.graph
    n = g.num_nodes()
    leaf_ids = batch.schedule.leaf_ids.to(x_leaf.device)

    def message(edges):
        return {"h": edges.src["h"], "c": edges.src["c"], "pos": edges.data["pos"]}

    def reduce(nodes):
        # DGL buckets nodes by in-degree: mailbox tensors are [n, degree, ...].
        pos = nodes.mailbox["pos"]  # [n, deg]
        width = _child_width(cell, pos.shape[1])
        slot = pos[..., None]

        def place(states):  # put each child's state at its position: [n, width, d]
            out = states.new_zeros(states.shape[0], width, states.shape[2])
            return out.scatter(1, slot.expand(-1, -1, states.shape[2]), states)

        h, c = cell(None, place(nodes.mailbox["h"]), place(nodes.mailbox["c"]))
        return {"h": h, "c": c}

    def apply(nodes):
        # prop_nodes_topo's first frontier is exactly the leaves (in-degree 0); later frontiers
        # only hold internal nodes, whose state reduce() has already computed.
        if bool(nodes.data["is_leaf"].all()):
            h, c = cell(nodes.data["x"])
            return {"h": h, "c": c}
        return {"h": nodes.data["h"], "c": nodes.data["c"]}

    with g.local_scope():
        g.ndata["x"] = x_leaf.new_zeros(n, x_leaf.shape[1]).index_copy(0, leaf_ids, x_leaf)
        g.ndata["h"] = x_leaf.new_zeros(n, cell.h_size)
        g.ndata["c"] = x_leaf.new_zeros(n, cell.c_size)
        g.ndata["is_leaf"] = g.ndata["height"] == 0
        with warnings.catch_warnings():
            # The leaf frontier has no in-edges, and DGL warns about that on every call.
            warnings.filterwarnings("ignore", message=".*does not contain valid edges")
            dgl.prop_nodes_topo(g, message, reduce, apply_node_func=apply)
        return g.ndata["h"], g.ndata["c"]


class _LevelPropagation(torch.autograd.Function):
    """Internal levels of the fast engine, with a hand-written level-by-level backward.

    Plain autograd over an in-place state buffer would copy the whole buffer's gradient at
    every level (O(nodes x height)). Here the forward keeps each level's small autograd graph
    (cell inputs -> cell outputs) and the backward replays the levels in reverse, scattering
    child gradients into one buffer with ``index_add_``.
    """

    @staticmethod
    def forward(ctx, cell, schedule, leaf_h, leaf_c, *params):
        n = schedule.n_nodes
        # Row n is the zero state that missing children point at.
        H = leaf_h.new_zeros(n + 1, cell.h_size)
        C = leaf_c.new_zeros(n + 1, cell.c_size)
        H[schedule.leaf_ids] = leaf_h
        C[schedule.leaf_ids] = leaf_c
        tape = []
        for nodes, kids in schedule.levels:
            child_h = H[kids].requires_grad_()  # [n_l, K, h]
            child_c = C[kids].requires_grad_()  # [n_l, K, c]
            with torch.enable_grad():
                h, c = cell(None, child_h, child_c)
            H[nodes] = h.detach()
            C[nodes] = c.detach()
            tape.append((child_h, child_c, h, c))
        ctx.cell_tape = tape
        ctx.schedule = schedule
        ctx.params = params
        return H[:n], C[:n]

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        schedule, params = ctx.schedule, ctx.params
        GH = torch.cat([grad_h, grad_h.new_zeros(1, grad_h.shape[1])])
        GC = torch.cat([grad_c, grad_c.new_zeros(1, grad_c.shape[1])])
        param_grads = [None] * len(params)
        for (nodes, kids), (child_h, child_c, h, c) in zip(
                reversed(schedule.levels), reversed(ctx.cell_tape), strict=True):
            outputs, grads = [h], [GH[nodes]]
            if c.requires_grad:  # cells without a memory cell return a constant empty c
                outputs.append(c)
                grads.append(GC[nodes])
            found = torch.autograd.grad(outputs, (child_h, child_c, *params), grads,
                                        allow_unused=True)
            flat = kids.reshape(-1)
            if found[0] is not None:
                GH.index_add_(0, flat, found[0].reshape(-1, GH.shape[1]))
            if found[1] is not None:
                GC.index_add_(0, flat, found[1].reshape(-1, GC.shape[1]))
            for j, g in enumerate(found[2:]):
                if g is not None:
                    param_grads[j] = g if param_grads[j] is None else param_grads[j] + g
        del ctx.cell_tape
        leaf = schedule.leaf_ids
        return (None, None, GH[leaf], GC[leaf], *param_grads)


def _child_width(cell, k: int) -> int:
    """Child slots a level whose widest node has ``k`` children gets: the cell's fixed arity
    (N-ary cells), else ``k``. Wider nodes are refused here, for every engine."""
    if cell.max_children is None:
        return k
    if k > cell.max_children:
        raise ValueError(f"a node has {k} children but {type(cell).__name__} takes at most "
                         f"{cell.max_children}; binarise the trees")
    return cell.max_children


def _full_width(kids: torch.Tensor, cell, pad: int) -> torch.Tensor:
    """Pad a level's ``[n_l, K]`` child ids to ``[n_l, width]`` with the zero-state row."""
    missing = _child_width(cell, kids.shape[1]) - kids.shape[1]
    return F.pad(kids, (0, missing), value=pad) if missing else kids


class _FusedLevelPropagation(torch.autograd.Function):
    """Internal levels for cells with ``fused_linear``: no autograd inside the loop.

    States live in one buffer in the schedule's level-major layout, so a level's states, and
    their gradients, are a slice; only the children are gathered. Forward per level: one
    ``index_select`` of the children's ``h`` straight into the buffer of composition inputs,
    one of their ``c``, one ``addmm``, the cell's pointwise maths. Backward per level: the
    cell's hand-written pointwise gradient, one matmul for the children's gradient, two
    ``index_add_``. The layer's weight gradient is a single product over all levels at the
    end, on the composition-input and pre-activation-gradient buffers.
    """

    @staticmethod
    def forward(ctx, cell, schedule, leaf_h, leaf_c, weight, bias):
        H, C, tape = _fused_levels(cell, schedule, leaf_h, leaf_c, weight, bias, record=True)
        ctx.set_materialize_grads(False)
        ctx.cell, ctx.schedule, ctx.tape = cell, schedule, tape
        ctx.save_for_backward(weight)
        return H.index_select(0, schedule.rank), C.index_select(0, schedule.rank)

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        cell, s, (Z, levels) = ctx.cell, ctx.schedule, ctx.tape
        (weight,) = ctx.saved_tensors
        n, n_leaves, h_size = s.n_nodes, s.bounds[0], cell.h_size
        GH, GC = (_rows_of(g, s, width, weight) for g, width in
                  ((grad_h, h_size), (grad_c, cell.c_size)))
        G = weight.new_empty(n - n_leaves, weight.shape[0])  # d pre-activation, rows as in Z
        for k in reversed(range(len(levels))):
            lo, hi = s.bounds[k], s.bounds[k + 1]
            kids, child_c, saved = levels[k]
            g_pre, g_child_c = cell.pointwise_backward(saved, child_c, GH[lo:hi], GC[lo:hi],
                                                       out=G[n - hi:n - lo])
            flat = kids.view(-1)
            GH.index_add_(0, flat, torch.mm(g_pre, weight).view(-1, h_size))  # [n_l * N, h]
            if GC.shape[1]:
                GC.index_add_(0, flat, g_child_c.reshape(-1, GC.shape[1]))
        del ctx.tape
        # no internal node (one-word trees only): no bias gradient, as before this layout
        return (None, None, GH[:n_leaves], GC[:n_leaves], G.t() @ Z,
                G.sum(0) if len(G) else None)


def _rows_of(grad, schedule, width, like):
    """A gradient ``[N, width]`` by node id (or ``None``: zero) in level-major rows, plus the
    padding row."""
    rows = like.new_zeros(schedule.n_nodes + 1, width)
    if grad is not None:
        torch.index_select(grad, 0, schedule.order, out=rows[:-1])
    return rows


def _fused_levels(cell, schedule, leaf_h, leaf_c, weight, bias, record):
    """States ``H``, ``C`` in level-major rows (plus the zero padding row at the end), and,
    with ``record``, what the backward needs: ``(Z, [(kids, child_c, saved) per level])``
    where ``Z`` holds every internal node's composition input ``[h_1; ...; h_N]``, the levels
    from the top down (the order in which the backward reaches them, and in which the engine
    concatenated them before this layout: at the sizes checked, SST's x=300 h=150, the
    weight gradient comes out the same bit for bit; at small widths the product of a slice at
    another offset may round differently, within 1e-5)."""
    n, n_leaves = schedule.n_nodes, schedule.bounds[0]
    H = leaf_h.new_empty(n + 1, cell.h_size)
    C = leaf_c.new_empty(n + 1, cell.c_size)
    H[:n_leaves], C[:n_leaves] = leaf_h, leaf_c
    H[n], C[n] = 0, 0
    Z = leaf_h.new_empty(n - n_leaves, cell.max_children * cell.h_size) if record else None
    levels = []
    for k, kids in enumerate(schedule.packed_kids):
        lo, hi = schedule.bounds[k], schedule.bounds[k + 1]
        flat = _full_width(kids, cell, n).reshape(-1)
        if record:
            z = Z[n - hi:n - lo]  # [n_l, N * h], filled by the gather below
            torch.index_select(H, 0, flat, out=z.view(-1, cell.h_size))
        else:
            z = H.index_select(0, flat).view(hi - lo, -1)  # [n_l, N * h]
        # the children's memory cells: [n_l, N, c]
        child_c = C.index_select(0, flat).view(hi - lo, cell.max_children, cell.c_size)
        _, _, saved = cell.pointwise(torch.addmm(bias, z, weight.t()), child_c,
                                     out=(H[lo:hi], C[lo:hi]))
        if record:
            levels.append((flat, child_c, saved))
    return H, C, (Z, levels)


def _levels_forward(cell: TreeCell, schedule: LevelSchedule, leaf_h, leaf_c):
    """The same recurrence as ``_LevelPropagation.forward`` without recording anything."""
    n = schedule.n_nodes
    H = leaf_h.new_zeros(n + 1, cell.h_size)
    C = leaf_c.new_zeros(n + 1, cell.c_size)
    H[schedule.leaf_ids] = leaf_h
    C[schedule.leaf_ids] = leaf_c
    for nodes, kids in schedule.levels:
        h, c = cell(None, H[kids], C[kids])
        H[nodes] = h
        C[nodes] = c
    return H[:n], C[:n]


def fast_engine(cell: TreeCell, batch: Batch, x_leaf: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Level-batched engine: one cell call per tree height for the whole batch."""
    schedule = batch.schedule
    if schedule.leaf_ids.device != x_leaf.device:
        schedule = schedule.to(x_leaf.device)
    leaf_h, leaf_c = cell(x_leaf)  # all leaves at once, recorded by ordinary autograd
    params = tuple(p for p in cell.parameters())
    training = torch.is_grad_enabled() and (leaf_h.requires_grad
                                            or any(p.requires_grad for p in params))
    linear = cell.fused_linear
    if linear is not None:
        if training:
            return _FusedLevelPropagation.apply(cell, schedule, leaf_h, leaf_c, linear.weight,
                                                linear.bias)
        with torch.no_grad():
            H, C, _ = _fused_levels(cell, schedule, leaf_h, leaf_c, linear.weight, linear.bias,
                                    record=False)
        return H.index_select(0, schedule.rank), C.index_select(0, schedule.rank)
    if training:
        return _LevelPropagation.apply(cell, schedule, leaf_h, leaf_c, *params)
    with torch.no_grad():
        return _levels_forward(cell, schedule, leaf_h, leaf_c)


ENGINES: dict[str, Engine] = {"fast": fast_engine, "dgl": dgl_engine}

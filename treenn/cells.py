"""Recursive cells: the per-node maths, independent of how a tree is traversed.

Every cell maps a group of nodes to their states::

    h, c = cell(x)                      # leaves: x [n, x_size]
    h, c = cell(None, child_h, child_c) # internal nodes: child_h [n, K, h_size],
                                        #                 child_c [n, K, c_size]

and returns ``h: [n, h_size]``, ``c: [n, c_size]``. Constituency trees carry words on their
leaves only, so a node gets either ``x`` or children, never both. An absent child is a zero
state; engines pad with zeros, so a unary node in a binary cell and a padded slot in the
Child-Sum cell both contribute nothing beyond the bias. Cells without a memory cell (the
recursive NN and the RNTN) return a zero-width ``c`` so engines treat all cells alike.

References: Tai, Socher & Manning (2015) for the Tree-LSTMs, Socher et al. (2011) for the
recursive NN, Socher et al. (2013) for the RNTN, Shen et al. (2019) and Ray Chowdhury &
Caragea (2021, 2023) for the gated recursive cell.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _tanh_columns(x: torch.Tensor, tanh=torch.tanh) -> torch.Tensor:
    """``tanh`` of a column slice. On the CPU, ``torch.tanh`` of a strided slice takes a slow
    path (about 2x a copy plus ``tanh`` of the copy, with bit-identical results), so copy
    first; :func:`tanh_by_sigmoid` makes its own copy."""
    return tanh(x.contiguous()) if tanh is torch.tanh else tanh(x)


def tanh_by_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``tanh(x) = 2 sigmoid(2x) - 1``, for the latent encoders' compositions (their search,
    and their training paths in :mod:`treenn.latent_train` and :mod:`treenn.latent_carry`): on
    the CPU (torch 2.13, float32) about 4.5x faster than ``torch.tanh``, whose float path is
    not vectorised here; within 2e-7 of the exact value (``torch.tanh``: 3e-8), absolute, not
    relative, near 0."""
    return (x * 2).sigmoid_().mul_(2).sub_(1)


def _lstm_leaf(iou: torch.Tensor, h_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaf of both Tree-LSTMs from pre-activations laid out ``[i, o, u]``: ``[n, 3h]``."""
    gates = torch.sigmoid(iou[:, : 2 * h_size])  # i, o in one call
    c = gates[:, :h_size] * _tanh_columns(iou[:, 2 * h_size:])
    return gates[:, h_size:] * torch.tanh(c), c


class TreeCell(nn.Module):
    """Base class. ``max_children`` is ``None`` when any number of children is allowed."""

    x_size: int
    h_size: int
    c_size: int
    max_children: int | None = None

    def forward(self, x: torch.Tensor | None, child_h: torch.Tensor | None = None,
                child_c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if (x is None) == (child_h is None):
            raise ValueError("a node gets either a word vector x or children, not both")
        if x is not None:
            return self.leaf(x)
        if self.max_children is not None and child_h.shape[1] > self.max_children:
            raise ValueError(f"{type(self).__name__} takes at most {self.max_children} "
                             f"children per node, got {child_h.shape[1]}; binarise the trees")
        return self.compose(child_h, child_c)

    def leaf(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def compose(self, child_h: torch.Tensor, child_c: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    #: Cells whose composition is ``pointwise(linear([h_1; ...; h_N]), child_c)`` set this to
    #: their linear layer and implement ``pointwise`` / ``pointwise_backward``; the fast engine
    #: then skips autograd inside the level loop and computes the layer's weight gradient with
    #: one matrix product per batch. ``compose`` stays the readable reference they must match.
    fused_linear: nn.Linear | None = None

    def pointwise(self, pre: torch.Tensor, child_c: torch.Tensor, tanh=torch.tanh, out=None):
        """``pre: [n, out]`` (the linear layer's output), ``child_c: [n, N, c_size]`` ->
        ``(h, c, saved)``; runs without autograd. ``tanh``: another implementation of it
        (the parser's chart passes :func:`tanh_by_sigmoid`). ``out``: ``(h, c)`` tensors
        to write the results into (an engine's state buffer rows; the fast engine reads them
        there, so a cell must write them, and return them as ``h`` and ``c``)."""
        raise NotImplementedError

    def pointwise_backward(self, saved, child_c: torch.Tensor, grad_h: torch.Tensor,
                           grad_c: torch.Tensor, out=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients ``(d pre, d child_c)`` of :meth:`pointwise`, written by hand; ``out``:
        a ``[n, out]`` tensor to write ``d pre`` into (and return: the engine reads it there)."""
        raise NotImplementedError

    def _pad_children(self, child: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``[n, K, d]`` to ``[n, max_children, d]``."""
        missing = self.max_children - child.shape[1]
        return F.pad(child, (0, 0, 0, missing)) if missing else child


class NaryTreeLSTMCell(TreeCell):
    """N-ary (binary by default) Tree-LSTM of Tai et al. (2015), section 3.2.

    Each child position has its own weights, and each child its own forget gate::

        i, o, u = sigma(W_i x + b), sigma(W_o x + b), tanh(W_u x + b)   # leaves
        [i, o, f_1..f_N, u] = U [h_1; ...; h_N] + b_U                   # internal nodes
        c = i * u + sum_k f_k * c_k,   h = o * tanh(c)

    Gates are laid out so that all sigmoid gates are one contiguous block (one call).
    """

    def __init__(self, x_size: int, h_size: int, n_ary: int = 2):
        super().__init__()
        self.x_size, self.h_size, self.c_size = x_size, h_size, h_size
        self.max_children = n_ary
        self.W_iou = nn.Linear(x_size, 3 * h_size)
        self.U = nn.Linear(n_ary * h_size, (3 + n_ary) * h_size)

    @property
    def fused_linear(self) -> nn.Linear:
        return self.U

    def leaf(self, x):
        return _lstm_leaf(self.W_iou(x), self.h_size)

    def compose(self, child_h, child_c):
        n = child_h.shape[0]
        child_h = self._pad_children(child_h).reshape(n, -1)  # [n, N * h]
        child_c = self._pad_children(child_c)  # [n, N, h]
        h = self.h_size
        pre = self.U(child_h)  # [n, (3 + N) * h] laid out [i, o, f_1..f_N, u]
        gates = torch.sigmoid(pre[:, :-h])  # [n, (2 + N) * h]
        f = gates[:, 2 * h:].view(n, -1, h)  # [n, N, h]
        c = gates[:, :h] * torch.tanh(pre[:, -h:]) + (f * child_c).sum(1)
        return gates[:, h:2 * h] * torch.tanh(c), c

    def pointwise(self, pre, child_c, tanh=torch.tanh, out=None):
        n, h = pre.shape[0], self.h_size
        out_h, out_c = out if out is not None else (None, None)
        gates = torch.sigmoid(pre[:, :-h])  # [n, (2 + N) h]: i, o, f_1..f_N
        u = _tanh_columns(pre[:, -h:], tanh)
        c = torch.addcmul((gates[:, 2 * h:].view(n, -1, h) * child_c).sum(1), gates[:, :h], u,
                          out=out_c)
        tanh_c = tanh(c)
        return torch.mul(gates[:, h:2 * h], tanh_c, out=out_h), c, (gates, u, tanh_c)

    def pointwise_backward(self, saved, child_c, grad_h, grad_c, out=None):
        gates, u, tanh_c = saved
        n, h = gates.shape[0], self.h_size
        i, o, f = gates[:, :h], gates[:, h:2 * h], gates[:, 2 * h:].view(n, -1, h)
        # dL/dc through h = o * tanh(c), plus what arrives from the parent directly
        g_c = torch.addcmul(grad_c, grad_h * o, 1 - tanh_c * tanh_c)  # [n, h]
        # d pre, laid out as pre, written in place: d gates, times sigmoid', then d u
        g_pre = gates.new_empty(n, gates.shape[1] + h) if out is None else out
        g_gates = g_pre[:, :-h]
        torch.mul(g_c, u, out=g_gates[:, :h])
        torch.mul(grad_h, tanh_c, out=g_gates[:, h:2 * h])
        torch.mul(g_c.unsqueeze(1), child_c, out=g_gates[:, 2 * h:].view(n, -1, h))
        g_gates.mul_(gates).mul_(1 - gates)
        torch.mul(g_c * i, 1 - u * u, out=g_pre[:, -h:])
        return g_pre, g_c.unsqueeze(1) * f


class ChildSumTreeLSTMCell(TreeCell):
    """Child-Sum Tree-LSTM of Tai et al. (2015), section 3.1: any number of unordered children.

    ::

        h~ = sum_k h_k
        i, o, u = sigma(U_i h~ + b), sigma(U_o h~ + b), tanh(U_u h~ + b)
        f_k = sigma(U_f h_k + b_f)
        c = i * u + sum_k f_k * c_k,   h = o * tanh(c)
    """

    def __init__(self, x_size: int, h_size: int):
        super().__init__()
        self.x_size, self.h_size, self.c_size = x_size, h_size, h_size
        self.W_iou = nn.Linear(x_size, 3 * h_size)
        self.U_iou = nn.Linear(h_size, 3 * h_size)
        self.U_f = nn.Linear(h_size, h_size)

    def leaf(self, x):
        return _lstm_leaf(self.W_iou(x), self.h_size)

    def compose(self, child_h, child_c):
        h = self.h_size
        pre = self.U_iou(child_h.sum(1))  # [n, 3h] laid out [i, o, u]
        gates = torch.sigmoid(pre[:, : 2 * h])
        f = torch.sigmoid(self.U_f(child_h))  # [n, K, h]: one forget gate per child
        c = gates[:, :h] * torch.tanh(pre[:, 2 * h:]) + (f * child_c).sum(1)
        return gates[:, h:] * torch.tanh(c), c


class RecursiveNNCell(TreeCell):
    """Plain recursive neural network (Socher et al. 2011): ``h = tanh(W [h_l; h_r] + b)``.

    Leaves project the word vector, ``h = tanh(W_x x + b_x)``, so embeddings and hidden
    states may have different sizes.
    """

    def __init__(self, x_size: int, h_size: int, n_ary: int = 2):
        super().__init__()
        self.x_size, self.h_size, self.c_size = x_size, h_size, 0
        self.max_children = n_ary
        self.W_x = nn.Linear(x_size, h_size)
        self.W = nn.Linear(n_ary * h_size, h_size)

    @property
    def fused_linear(self) -> nn.Linear:
        return self.W

    def leaf(self, x):
        h = torch.tanh(self.W_x(x))
        return h, h.new_zeros(h.shape[0], 0)

    def compose(self, child_h, child_c):
        n = child_h.shape[0]
        h = torch.tanh(self.W(self._pad_children(child_h).reshape(n, -1)))  # [n, N*h] -> [n, h]
        return h, h.new_zeros(n, 0)

    def pointwise(self, pre, child_c, tanh=torch.tanh, out=None):
        if out is None:
            h = tanh(pre)
            return h, h.new_zeros(h.shape[0], 0), h
        h = torch.tanh(pre, out=out[0]) if tanh is torch.tanh else out[0].copy_(tanh(pre))
        return h, out[1], h

    def pointwise_backward(self, saved, child_c, grad_h, grad_c, out=None):
        # no memory cell: the children's (zero-width) c get a zero-width gradient
        return torch.mul(grad_h, 1 - saved * saved, out=out), torch.zeros_like(child_c)


class RNTNCell(TreeCell):
    """Recursive neural tensor network (Socher et al. 2013), binary.

    ``h = tanh(z^T V^{[1:d]} z / 2d + W z + b)`` with ``z = [h_l; h_r]``. The tensor is stored
    as ``V: [2d, d, 2d]`` (``V[i, k, j]`` is slice ``k``'s entry ``(i, j)``) so that the
    product below is one matrix multiplication without copying ``V``.

    The bilinear term is divided by ``2d``, a reparameterisation of Socher et al.'s ``V``:
    AdaGrad and Adam move every entry by about the learning rate on their first steps, and
    summed over the ``(2d)^2`` products of an unscaled ``V`` that saturates ``tanh`` at once
    (training then stalls at the majority class).
    """

    def __init__(self, x_size: int, h_size: int):
        super().__init__()
        self.x_size, self.h_size, self.c_size = x_size, h_size, 0
        self.max_children = 2
        self.W_x = nn.Linear(x_size, h_size)
        self.W = nn.Linear(2 * h_size, h_size)
        # Small, as Socher et al. initialise it: training starts close to the recursive NN.
        self.V = nn.Parameter(torch.empty(2 * h_size, h_size, 2 * h_size))
        bound = 1 / math.sqrt(2 * h_size)
        nn.init.uniform_(self.V, -bound, bound)

    def leaf(self, x):
        h = torch.tanh(self.W_x(x))
        return h, h.new_zeros(h.shape[0], 0)

    def compose(self, child_h, child_c):
        n, d = child_h.shape[0], self.h_size
        z = self._pad_children(child_h).reshape(n, 2 * d)  # [n, 2d]
        # z^T V_k z for every output k: [n, 2d] @ [2d, d*2d] -> [n, d, 2d], then dot with z.
        zv = (z @ self.V.view(2 * d, d * 2 * d)).view(n, d, 2 * d)
        bilinear = torch.bmm(zv, z.unsqueeze(2)).squeeze(2) / (2 * d)  # [n, d]
        h = torch.tanh(bilinear + self.W(z))
        return h, h.new_zeros(n, 0)


class GatedRecursiveCell(TreeCell):
    """Gated recursive cell (GRC), binary: the cell of Ordered Memory (Shen et al. 2019) as
    CRvNN and BT-Cell use it (Ray Chowdhury & Caragea 2021, 2023), GELU inside::

        h = LN_x(W_x x + b_x)                                      # leaves
        [f_l, f_r, i, u] = W_2 GELU(W_1 [h_l; h_r] + b_1) + b_2    # W_1: 2h -> 4h, W_2: 4h -> 4h
        h = LN(sigma(f_l) * h_l + sigma(f_r) * h_r + sigma(i) * u)

    No memory cell (``c`` is zero-width); the layer norms keep every node's state at one scale
    however deep the tree, which the Tree-LSTM's summed memory cells are not. The papers' cells
    also drop out inside ``W_1``'s output; here only the classifier's input and output dropout
    apply, as for the other cells.
    """

    def __init__(self, x_size: int, h_size: int):
        super().__init__()
        self.x_size, self.h_size, self.c_size = x_size, h_size, 0
        self.max_children = 2
        self.W_x = nn.Linear(x_size, h_size)
        self.leaf_norm = nn.LayerNorm(h_size)
        self.W_1 = nn.Linear(2 * h_size, 4 * h_size)
        self.W_2 = nn.Linear(4 * h_size, 4 * h_size)
        self.norm = nn.LayerNorm(h_size)

    def leaf(self, x):
        h = self.leaf_norm(self.W_x(x))
        return h, h.new_zeros(h.shape[0], 0)

    def compose(self, child_h, child_c):
        n = child_h.shape[0]
        kids = self._pad_children(child_h)  # [n, 2, h]
        pre = self.W_2(F.gelu(self.W_1(kids.reshape(n, -1))))  # [n, 4h]: f_l, f_r, i, u
        gates = torch.sigmoid(pre[:, :3 * self.h_size]).view(n, 3, -1)
        mixed = (gates[:, :2] * kids).sum(1) + gates[:, 2] * pre[:, 3 * self.h_size:]
        h = self.norm(mixed)
        return h, h.new_zeros(n, 0)

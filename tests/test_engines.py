"""Every engine against the recursive reference: node states and parameter gradients."""

import random

import pytest
import torch

from data.graphs import collate, tree_to_graph
from data.vocab import Vocab
from tests.reference import WORDS, chain_tree, random_tree, recursive_states
from treenn.cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell, RecursiveNNCell, RNTNCell
from treenn.engines import ENGINES

X, H = 5, 4
CELLS = {
    "tree-lstm": (lambda: NaryTreeLSTMCell(X, H), 2),
    "childsum-tree-lstm": (lambda: ChildSumTreeLSTMCell(X, H), 4),
    "recnn": (lambda: RecursiveNNCell(X, H), 2),
    "rntn": (lambda: RNTNCell(X, H), 2),
}
VOCAB = Vocab.build([WORDS + [f"w{i}" for i in range(64)]])


def _trees(max_arity, seed=0):
    rng = random.Random(seed)
    trees = [random_tree(rng, rng.randint(1, 12), max_arity, unary_p=0.2) for _ in range(6)]
    return trees + [chain_tree(7, left=True), chain_tree(5, left=False)]


def _run(engine, cell, emb, trees):
    batch = collate([tree_to_graph(t, VOCAB, int) for t in trees])
    x_leaf = emb[batch.words[batch.schedule.leaf_ids]]
    return ENGINES[engine](cell, batch, x_leaf)


def _grads(params, loss):
    return torch.autograd.grad(loss, params, allow_unused=True)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("name", sorted(CELLS))
def test_engine_matches_recursive_reference(engine, name):
    make, arity = CELLS[name]
    cell = make().double()
    emb = torch.randn(len(VOCAB), X, dtype=torch.double, requires_grad=True)
    trees = _trees(arity)
    params = [emb, *cell.parameters()]

    h, c = _run(engine, cell, emb, trees)
    ref = [recursive_states(cell, t, VOCAB, emb) for t in trees]
    ref_h = torch.cat([r[0] for r in ref])
    ref_c = torch.cat([r[1] for r in ref])
    torch.testing.assert_close(h, ref_h, atol=1e-5, rtol=0)
    torch.testing.assert_close(c, ref_c, atol=1e-5, rtol=0)

    # A loss touching every node with different weights, so every gradient path matters.
    w = torch.randn_like(h)
    got = _grads(params, (h * w).sum() + (c ** 2).sum())
    want = _grads(params, (ref_h * w).sum() + (ref_c ** 2).sum())
    for g, r, p in zip(got, want, params, strict=True):
        g = torch.zeros_like(p) if g is None else g
        r = torch.zeros_like(p) if r is None else r
        torch.testing.assert_close(g, r, atol=1e-5, rtol=0)

"""Every engine against the recursive reference: node states and parameter gradients."""

import random

import pytest
import torch

from tests.reference import WORDS, chain_tree, random_tree, recursive_states
from treenn.cells import (
    ChildSumTreeLSTMCell,
    GatedRecursiveCell,
    NaryTreeLSTMCell,
    RecursiveNNCell,
    RNTNCell,
)
from treenn.data.graphs import collate, tree_to_graph
from treenn.data.vocab import Vocab
from treenn.engines import ENGINES

X, H = 5, 4
CELLS = {
    "tree-lstm": (lambda: NaryTreeLSTMCell(X, H), 2),
    "childsum-tree-lstm": (lambda: ChildSumTreeLSTMCell(X, H), 4),
    "recnn": (lambda: RecursiveNNCell(X, H), 2),
    "rntn": (lambda: RNTNCell(X, H), 2),
    "grc": (lambda: GatedRecursiveCell(X, H), 2),  # the beam-tree-grc models' cell
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


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("name", sorted(CELLS))
def test_inference_path_matches_recursive_reference(engine, name):
    """Without gradients the fast engine takes a different code path (no tape)."""
    make, arity = CELLS[name]
    cell = make().double()
    emb = torch.randn(len(VOCAB), X, dtype=torch.double)
    trees = _trees(arity, seed=1)
    with torch.no_grad():
        h, c = _run(engine, cell, emb, trees)
        ref = [recursive_states(cell, t, VOCAB, emb) for t in trees]
    torch.testing.assert_close(h, torch.cat([r[0] for r in ref]), atol=1e-5, rtol=0)
    torch.testing.assert_close(c, torch.cat([r[1] for r in ref]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_batch_of_single_word_trees(engine):
    from nltk import Tree

    cell = NaryTreeLSTMCell(X, H).double()
    emb = torch.randn(len(VOCAB), X, dtype=torch.double, requires_grad=True)
    trees = [Tree("1", ["a"]), Tree("2", ["b"]), Tree("3", ["a"])]
    h, _ = _run(engine, cell, emb, trees)
    want = torch.cat([recursive_states(cell, t, VOCAB, emb)[0] for t in trees])
    torch.testing.assert_close(h, want, atol=1e-5, rtol=0)
    h.sum().backward()
    assert emb.grad[VOCAB.id("a")].abs().sum() > 0


def test_fast_engine_runs_a_10001_node_chain_forward_and_backward():
    cell = NaryTreeLSTMCell(4, 4)
    emb = torch.randn(len(VOCAB), 4, requires_grad=True)
    h, c = _run("fast", cell, emb, [chain_tree(5001)])
    assert h.shape == (10001, 4)
    h[-1].sum().backward()  # the root depends on every leaf through 5000 levels
    assert torch.isfinite(emb.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in cell.parameters())


@pytest.mark.parametrize("name", ["tree-lstm", "recnn", "rntn"])
def test_binary_cells_refuse_wider_nodes(name):
    from nltk import Tree

    from treenn.data.graphs import tree_to_arrays
    from treenn.errors import DataError
    from treenn.models import Classifier, ModelConfig
    from treenn.training import check_arity

    model = Classifier(ModelConfig(name, len(VOCAB), 5, x_size=4, h_size=4))
    wide = Tree("2", [Tree("2", ["a"]), Tree("2", ["b"]), Tree("2", ["c"])])
    binary = random_tree(random.Random(0), 3)
    with pytest.raises(DataError, match="tree 2: a node has 3 children"):
        check_arity(model, [tree_to_arrays(t, VOCAB, int) for t in (binary, wide)], "the input")
    check_arity(Classifier(ModelConfig("childsum-tree-lstm", len(VOCAB), 5, x_size=4,
                                       h_size=4)), [tree_to_arrays(wide, VOCAB, int)], "x")
    # past the entry-point check, every engine refuses too (the fused path used to crop)
    from treenn.data.graphs import collate_arrays

    batch = collate_arrays([tree_to_arrays(wide, VOCAB, int)])
    for engine in sorted(ENGINES):
        model.set_engine(engine)
        with pytest.raises(Exception, match="at most 2"):
            model(batch, torch.arange(batch.graph.num_nodes()))

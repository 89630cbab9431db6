"""The fast engine's cost per node by tree shape and height, on synthetic trees (balanced
binary trees and left-branching chains), and one very long chain forward and backward; part
of ``python -m treenn.bench``."""

from __future__ import annotations

import math
import time

import torch
from nltk import Tree

from treenn.cells import NaryTreeLSTMCell
from treenn.data.graphs import collate_arrays, tree_to_arrays
from treenn.data.vocab import Vocab
from treenn.engines import fast_engine


def balanced_tree(height: int) -> Tree:
    """A complete binary tree with ``height`` nodes on every root-to-word path."""
    level = [Tree("2", [f"w{i % 64}"]) for i in range(2 ** (height - 1))]
    while len(level) > 1:
        level = [Tree("2", level[i:i + 2]) for i in range(0, len(level), 2)]
    return level[0]


def left_chain(height: int) -> Tree:
    """A left-branching chain: ``height`` words, ``2 * height - 1`` nodes."""
    tree = Tree("2", ["w0"])
    for i in range(1, height):
        tree = Tree("2", [tree, Tree("2", [f"w{i % 64}"])])
    return tree


def height_table(device: torch.device, trees_per_batch: int, repeats: int) -> list[dict]:
    """Forward + backward time per node of the fast engine by tree shape and height.

    Each batch holds ``trees_per_batch`` copies of the tree, so the work per level is fixed
    by the shape and any growth of the per-node cost with height would show up directly.
    """
    vocab = Vocab.build([[f"w{i}" for i in range(64)]])
    cell = NaryTreeLSTMCell(300, 150).to(device)
    rows = []
    shapes = [("balanced", h) for h in (4, 6, 8, 10, 12)]
    shapes += [("chain", h) for h in (8, 32, 128, 512, 1024)]
    for shape, h in shapes:
        tree = balanced_tree(h) if shape == "balanced" else left_chain(h)
        arrays = tree_to_arrays(tree, vocab, int)
        batch = collate_arrays([arrays] * trees_per_batch).to(device)
        n_leaves = len(batch.schedule.leaf_ids)
        x = torch.randn(n_leaves, 300, device=device, requires_grad=True)

        def step(batch=batch, x=x):
            hs, cs = fast_engine(cell, batch, x)
            (hs.sum() + cs.sum()).backward()

        step()
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        nodes = batch.graph.num_nodes()
        rows.append({"shape": shape, "height": h, "nodes": nodes, "levels": h,
                     "seconds": best, "us_per_node": 1e6 * best / nodes})
    return rows


def long_chain_check(device: torch.device, words: int = 5001) -> dict:
    """Forward and backward through one chain of ``2 * words - 1`` nodes."""
    vocab = Vocab.build([[f"w{i}" for i in range(64)]])
    batch = collate_arrays([tree_to_arrays(left_chain(words), vocab, int)]).to(device)
    cell = NaryTreeLSTMCell(300, 150).to(device)
    x = torch.randn(words, 300, device=device, requires_grad=True)
    t0 = time.perf_counter()
    hs, cs = fast_engine(cell, batch, x)
    (hs[-1].sum()).backward()
    return {"nodes": batch.graph.num_nodes(), "seconds": time.perf_counter() - t0,
            "grad_finite": bool(torch.isfinite(x.grad).all())}

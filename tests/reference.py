"""Plain recursive per-tree reference: the oracle every engine is tested against.

One cell call per node, children first, exactly as the model equations are written.
"""

from __future__ import annotations

import random

import torch
from nltk import Tree

from treenn.data.vocab import Vocab


def recursive_states(cell, tree: Tree, vocab: Vocab, embedding: torch.Tensor):
    """States of every node of ``tree`` in graph node-id order (leaves, then post-order).

    Returns:
        h: [n_nodes, h_size], c: [n_nodes, c_size]
    """
    leaves, internal = [], []

    def visit(node):
        if isinstance(node, str) or (len(node) == 1 and isinstance(node[0], str)):
            word = node if isinstance(node, str) else node[0]
            x = embedding[vocab.id(word)].unsqueeze(0)
            state = cell(x)
            leaves.append(state)
            return state
        kids = [visit(child) for child in node]
        child_h = torch.stack([h[0] for h, _ in kids]).unsqueeze(0)  # [1, K, h]
        child_c = torch.stack([c[0] for _, c in kids]).unsqueeze(0)
        state = cell(None, child_h, child_c)
        internal.append(state)
        return state

    visit(tree)
    states = leaves + internal
    return torch.cat([h for h, _ in states]), torch.cat([c for _, c in states])


WORDS = ["a", "b", "c", "d", "e", "f", "g"]


def random_tree(rng: random.Random, n_words: int, max_arity: int = 2,
                unary_p: float = 0.0) -> Tree:
    """A random tree over ``n_words`` words, labels 0-4, arity 1..max_arity.

    Built by repeatedly merging a random run of adjacent subtrees; with ``unary_p`` a subtree
    sometimes gets a unary parent.
    """
    items: list = [Tree(str(rng.randrange(5)), [rng.choice(WORDS)]) for _ in range(n_words)]
    while len(items) > 1:
        k = rng.randint(2, min(max_arity, len(items)))
        i = rng.randrange(len(items) - k + 1)
        items[i:i + k] = [Tree(str(rng.randrange(5)), items[i:i + k])]
        if rng.random() < unary_p:
            j = rng.randrange(len(items))
            items[j] = Tree(str(rng.randrange(5)), [items[j]])
    return items[0]


def chain_tree(n_words: int, left: bool = True) -> Tree:
    """A left- (or right-) branching chain: height n_words, built without recursion."""
    tree = Tree("2", ["w0"])
    for i in range(1, n_words):
        leaf = Tree("2", [f"w{i}"])
        tree = Tree("2", [tree, leaf] if left else [leaf, tree])
    return tree

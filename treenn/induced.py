"""The trees a latent-tree model builds for itself, as nltk trees like any other.

A latent-tree classifier (``gumbel-tree-lstm``; ``beam-tree-lstm``, ``beam-tree-grc`` and their
``gumbel-`` variants) reads only the words and merges two adjacent nodes at a time;
:class:`treenn.latent.LatentOutput` records the merges.
Here they become a binary tree over the words (:func:`treenn.latent.merges_to_tree`), in the
form every tree of treenn has: a word sits under a preterminal, ``(label word)``, so
pictures, ``relabel`` and the graph conversion treat induced trees as they treat treebank
trees. Each node's class probabilities come from the classifier's head applied to that
node's state; the root's are the model's output (for the beam model, the beams' weighted
root rather than the best beam's).
"""

from __future__ import annotations

import math

import torch
from nltk import Tree
from tqdm import tqdm

from treenn.checkpoints import check_arity, load_model, trees_dataset
from treenn.data.graphs import TreeArrays
from treenn.data.trees import leaves, rebuild
from treenn.datasets import Dataset, batches
from treenn.errors import TreennError
from treenn.evaluation import predict_nodes
from treenn.latent import merges_to_tree
from treenn.models import Classifier


def _build(words: list[str], merges: list[int], first_merge: int) -> tuple[Tree, list[int]]:
    """The tree (labels: node numbers as strings) and its node numbers in graph order
    (leaves left to right, then internal nodes in post-order), numbered as
    :class:`treenn.latent.LatentOutput` numbers them: word ``i`` is node ``i``, the merge of
    step ``s`` is node ``first_merge + s`` (the batch's padded length plus ``s``)."""
    n = len(words)
    labels = [str(i) for i in range(n)] + [str(first_merge + s) for s in range(n - 1)]
    root = merges_to_tree(words, merges[:n - 1], labels)
    return root, list(range(n)) + _post_order(root)


def _post_order(root: Tree) -> list[int]:
    out, stack = [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if isinstance(node[0], str):
            continue
        if done:
            out.append(int(node.label()))
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node))
    return out


@torch.no_grad()
def induce(model: Classifier, data: Dataset, batch_size: int = 64,
           words: list[list[str]] | None = None, root_labels: list[str] | None = None,
           progress: bool = False) -> tuple[list[Tree], list[torch.Tensor]]:
    """Each sentence's induced tree over its words and the class probabilities
    ``[n_nodes, n_classes]`` of its nodes in graph order (leaves, then post-order).

    Nodes are unlabelled (``""``) except the root, which gets ``root_labels[i]`` when given
    (the gold label of the sentence: no other node of an induced tree has one).
    ``words``: the sentences' words (default: the leaves of ``data.trees``).
    """
    if not model.cfg.is_latent:
        raise TreennError(f"{model.cfg.model} reads given trees; it induces none")
    if words is None:
        if data.trees is None:
            raise TreennError("induced trees need the sentences' words")
        words = [leaves(t) for t in data.trees]
    model.eval()
    device = next(model.parameters()).device
    trees: list[Tree] = []
    probs: list[torch.Tensor] = []
    bar = tqdm(batches(data, batch_size), total=math.ceil(len(data) / batch_size),
               desc="induce", leave=False, disable=not progress, mininterval=0.5)
    for batch in bar:
        roots = batch.roots.to(device)
        out = model.encoder.parse(batch.to(device), model.embed, roots)
        node_probs = torch.softmax(model.head(out.node_h), dim=-1).float().cpu()
        # the prediction is the root state's (for the beam model the beams' weighted sum,
        # not the best beam's root): the same as evaluation's
        root_probs = torch.softmax(model.head(out.root_h), dim=-1).float().cpu()
        merges = out.merges.cpu().tolist()
        for row, i in enumerate(batch.index):
            n = len(words[i])
            numbered, order = _build(words[i], merges[row][:n - 1], out.merges.shape[1] + 1)
            tree = rebuild(numbered, lambda t: "", lambda t: "")
            if root_labels is not None:
                tree.set_label(root_labels[i])
            trees.append(tree)
            p = node_probs[row, torch.tensor(order)]
            p[-1] = root_probs[row]
            probs.append(p)
    return trees, probs


def gold_shape(arrays: TreeArrays) -> Tree:
    """The shape of a tree from its arrays (words: their positions, ``"0"``, ``"1"``, ...;
    inner nodes ``X``, leaves ``XX``), for bracket scoring without the original trees."""
    kids: list[list[int]] = [[] for _ in range(arrays.n_nodes)]
    for k in sorted(range(arrays.n_nodes), key=lambda k: arrays.pos[k]):
        if arrays.parent[k] >= 0:
            kids[arrays.parent[k]].append(k)
    nodes: list[Tree] = []
    for k in range(arrays.n_nodes):  # ids are leaves then post-order: children come first
        nodes.append(Tree("XX", [str(k)]) if k < arrays.n_leaves
                     else Tree("X", [nodes[c] for c in kids[k]]))
    return nodes[-1]


def predict_with_trees(run_dir, trees: list[Tree], which: str = "best"
                       ) -> tuple[list[Tree], list[torch.Tensor]]:
    """What ``predict`` and ``show`` draw: the input trees, or for a latent-tree run the
    trees it induces over their words (root labelled as the input's root), with the class
    probabilities of every node."""
    model, ckpt = load_model(run_dir, which)  # once, for either kind of model
    _, data = trees_dataset(ckpt, trees)
    if not model.cfg.is_latent:
        check_arity(model, data.arrays, "the input")
        return trees, predict_nodes(model, data, 64, labelled_only=False)
    return induce(model, data, 64, root_labels=[t.label() for t in trees])

"""nltk trees -> DGL graphs, batching, the level schedule and the sequence view.

Conversion rules (one place for all tasks):

* A node whose only child is a word (an SST ``(2 The)`` or a PTB preterminal ``(NN dog)``)
  is one *leaf* node carrying that word and the node's label.
* Any other word child (ListOps ``( [MAX 2 )``) becomes an unlabelled leaf of its own.
* Edges go child -> parent. ``edata['pos']`` is the child's position under its parent.
* Node ids: leaves first, left to right (``0 .. n_leaves-1``), then internal nodes in
  post-order, so the root is the last node and the leaves double as the sentence.

``ndata``: ``word`` (vocab id, ``PAD_ID`` on internal nodes), ``label`` (class id, ``-1`` when
unlabelled), ``height`` (0 on leaves, 1 + max over children), ``start``/``end`` (the node's
span as leaf positions, ``end`` exclusive).

>>> from data.vocab import Vocab
>>> from data.trees import parse_tree
>>> tree = parse_tree("(3 (2 a) (4 (2 b) (1 c)))")
>>> g = tree_to_graph(tree, Vocab.build([["a", "b", "c"]]), int)
>>> g.ndata["word"].tolist(), g.ndata["label"].tolist(), g.ndata["height"].tolist()
([2, 3, 4, 0, 0], [2, 2, 1, 4, 3], [0, 0, 0, 1, 2])
>>> [tuple(e) for e in zip(*(t.tolist() for t in g.edges()))]
[(0, 4), (1, 3), (2, 3), (3, 4)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dgl
import numpy as np
import torch
from nltk import Tree

from data.vocab import PAD_ID, Vocab

#: Maps a node's label string to a class id, or -1 for "no label"; raises ValueError if bad.
LabelFn = Callable[[str], int]


def _is_preterminal(node: Tree) -> bool:
    return len(node) == 1 and isinstance(node[0], str)


@dataclass
class TreeArrays:
    """The flat arrays of one tree (what the graph is built from)."""

    word: np.ndarray    # [n] int64
    label: np.ndarray   # [n] int64
    parent: np.ndarray  # [n] int64, -1 at the root
    pos: np.ndarray     # [n] int64, child position under the parent (0 at the root)
    height: np.ndarray  # [n] int64
    start: np.ndarray   # [n] int64
    end: np.ndarray     # [n] int64
    n_leaves: int

    @property
    def n_nodes(self) -> int:
        return len(self.word)


def _walk(tree: Tree | str):
    """Post-order walk: yields ``(word, label, n_children)``; ``word`` is None on inner nodes.

    Iterative, so chains of any length work. A node's children are the ``n_children``
    entries finished just before it.
    """
    stack: list[tuple[Tree | str, bool]] = [(tree, False)]
    while stack:
        item, expanded = stack.pop()
        if isinstance(item, str):
            yield item, "", 0
        elif _is_preterminal(item):
            yield item[0], item.label(), 0
        elif expanded:
            yield None, item.label(), len(item)
        else:
            if len(item) == 0:
                raise ValueError(f"empty tree: node '{item.label()}' has no children")
            stack.append((item, True))
            stack.extend((child, False) for child in reversed(item))


def tree_to_arrays(tree: Tree | str, vocab: Vocab, label_of: LabelFn) -> TreeArrays:
    """Flatten ``tree`` into per-node arrays (iteratively: chains of any length work)."""
    words: list[str | None] = []
    labels: list[str] = []
    children: list[list[int]] = []
    pending: list[int] = []  # finished nodes waiting for their parent
    for word, label, n_children in _walk(tree):
        words.append(word)
        labels.append(label)
        if n_children:
            children.append(pending[-n_children:])
            del pending[-n_children:]
        else:
            children.append([])
        pending.append(len(words) - 1)

    n = len(words)
    is_leaf = np.array([w is not None for w in words])
    n_leaves = int(is_leaf.sum())
    # Renumber: leaves keep their left-to-right order, internal nodes their post-order.
    new_id = np.empty(n, dtype=np.int64)
    new_id[is_leaf] = np.arange(n_leaves)
    new_id[~is_leaf] = np.arange(n_leaves, n)

    word = np.full(n, PAD_ID, dtype=np.int64)
    label = np.empty(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    pos = np.zeros(n, dtype=np.int64)
    hgt = np.zeros(n, dtype=np.int64)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    for old in range(n):  # post-order: children are final before their parent
        i = new_id[old]
        label[i] = label_of(labels[old])
        if words[old] is not None:
            word[i] = vocab.id(words[old])
            start[i], end[i] = i, i + 1
            continue
        kids = new_id[children[old]]
        parent[kids] = i
        pos[kids] = np.arange(len(kids))
        hgt[i] = hgt[kids].max() + 1
        start[i], end[i] = start[kids[0]], end[kids[-1]]
    return TreeArrays(word, label, parent, pos, hgt, start, end, n_leaves)


def relabel(tree: Tree | str, labels: Sequence[str]) -> Tree:
    """A copy of ``tree`` whose node ``i`` (graph numbering) is labelled ``labels[i]``.

    Every word becomes a preterminal ``(label word)``, so each graph node has a label.

    >>> relabel(Tree("", [Tree("", ["[MAX", "2"]), "]"]), ["a", "b", "c", "d", "e"])
    Tree('e', [Tree('d', [Tree('a', ['[MAX']), Tree('b', ['2'])]), Tree('c', [']'])])
    """
    entries = list(_walk(tree))
    n_leaves = sum(word is not None for word, _, _ in entries)
    leaf_i, inner_i = 0, n_leaves
    built: list[Tree] = []
    for word, _, n_children in entries:
        if word is not None:
            built.append(Tree(labels[leaf_i], [word]))
            leaf_i += 1
        else:
            kids = built[-n_children:]
            del built[-n_children:]
            built.append(Tree(labels[inner_i], kids))
            inner_i += 1
    return built[0]


def arrays_to_graph(arrays: TreeArrays) -> dgl.DGLGraph:
    """Build the DGL graph (edges child -> parent) carrying the arrays as node/edge data."""
    child = np.flatnonzero(arrays.parent >= 0)
    g = dgl.graph((torch.from_numpy(child), torch.from_numpy(arrays.parent[child])),
                  num_nodes=arrays.n_nodes, idtype=torch.int64)
    g.ndata["word"] = torch.from_numpy(arrays.word)
    g.ndata["label"] = torch.from_numpy(arrays.label)
    g.ndata["height"] = torch.from_numpy(arrays.height)
    g.ndata["start"] = torch.from_numpy(arrays.start)
    g.ndata["end"] = torch.from_numpy(arrays.end)
    g.edata["pos"] = torch.from_numpy(arrays.pos[child])
    return g


def tree_to_graph(tree: Tree | str, vocab: Vocab, label_of: LabelFn) -> dgl.DGLGraph:
    """Convert an nltk tree to a DGL graph (see the module docstring for the layout)."""
    return arrays_to_graph(tree_to_arrays(tree, vocab, label_of))


@dataclass
class LevelSchedule:
    """Nodes grouped by height, for engines that process one level at a time.

    ``levels[k] = (nodes, children)`` for height ``k + 1``: ``nodes`` ``[n_k]`` and
    ``children`` ``[n_k, K_k]``, where a missing child points at the padding row ``n_nodes``.
    """

    n_nodes: int
    leaf_ids: torch.Tensor
    levels: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def from_graph(cls, graph: dgl.DGLGraph) -> LevelSchedule:
        n = graph.num_nodes()
        hgt = graph.ndata["height"].numpy()
        src, dst = (t.numpy() for t in graph.edges())
        pos = graph.edata["pos"].numpy()
        width = int(pos.max()) + 1 if len(pos) else 0
        child = np.full((n, max(width, 1)), n, dtype=np.int64)
        child[dst, pos] = src
        arity = np.zeros(n, dtype=np.int64)
        np.maximum.at(arity, dst, pos + 1)
        order = np.argsort(hgt, kind="stable")
        bounds = np.cumsum(np.bincount(hgt, minlength=1))
        levels = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            nodes = order[lo:hi]
            k = int(arity[nodes].max())
            levels.append((torch.from_numpy(nodes), torch.from_numpy(child[nodes, :k].copy())))
        return cls(n, torch.from_numpy(order[: bounds[0]].copy()), levels)

    def to(self, device: torch.device | str) -> LevelSchedule:
        return LevelSchedule(
            self.n_nodes, self.leaf_ids.to(device),
            [(nodes.to(device), kids.to(device)) for nodes, kids in self.levels])


@dataclass
class Batch:
    """A batch of trees: one batched DGL graph plus what every encoder needs from it.

    Attributes:
        graph: the batched graph (always on the CPU: DGL from PyPI is CPU-only).
        roots: ``[B]`` node id of each tree's root.
        labels: ``[N]`` class id per node, ``-1`` when unlabelled.
        words: ``[N]`` vocab id per node (``PAD_ID`` on internal nodes).
        offsets: ``[N]`` id of the first node of the node's tree (to turn spans into ids).
        schedule: the level schedule for the fast engine.
    """

    graph: dgl.DGLGraph
    roots: torch.Tensor
    labels: torch.Tensor
    words: torch.Tensor
    offsets: torch.Tensor
    schedule: LevelSchedule
    index: list[int] = field(default_factory=list)

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def to(self, device: torch.device | str) -> Batch:
        """Move the tensors the engines use; the DGL graph stays on the CPU."""
        return Batch(self.graph, self.roots.to(device), self.labels.to(device),
                     self.words.to(device), self.offsets.to(device),
                     self.schedule.to(device), self.index)


def collate(graphs: Sequence[dgl.DGLGraph], index: Sequence[int] = ()) -> Batch:
    """Batch per-tree graphs with ``dgl.batch`` and derive the level schedule."""
    graph = dgl.batch(list(graphs))
    sizes = graph.batch_num_nodes()
    first = torch.cumsum(sizes, 0) - sizes
    return Batch(
        graph=graph,
        roots=first + sizes - 1,  # the root is the last node of each tree
        labels=graph.ndata["label"],
        words=graph.ndata["word"],
        offsets=torch.repeat_interleave(first, sizes),
        schedule=LevelSchedule.from_graph(graph),
        index=list(index),
    )


def sequence_view(batch: Batch, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The words under each of ``nodes`` as padded sequences (the sequence baselines' input).

    Returns:
        tokens: ``[n, T]`` vocab ids, ``PAD_ID`` after each sequence's end.
        lengths: ``[n]`` number of words under each node.
    """
    g = batch.graph
    start = g.ndata["start"].to(nodes.device)[nodes] + batch.offsets[nodes]  # [n] leaf node id
    lengths = (g.ndata["end"].to(nodes.device)[nodes] - g.ndata["start"].to(nodes.device)[nodes])
    steps = torch.arange(int(lengths.max()), device=nodes.device)
    ids = start[:, None] + steps[None, :]  # [n, T] node ids of the words
    valid = steps[None, :] < lengths[:, None]
    tokens = torch.where(valid, batch.words[ids.clamp(max=len(batch.words) - 1)],
                         torch.full_like(ids, PAD_ID))
    return tokens, lengths

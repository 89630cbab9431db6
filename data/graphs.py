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

>>> from treenn.data.vocab import Vocab
>>> from treenn.data.trees import parse_tree
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

from treenn.data.trees import is_preterminal
from treenn.data.vocab import PAD_ID, Vocab

#: Maps a node's label string to a class id, or -1 for "no label"; raises ValueError if bad.
LabelFn = Callable[[str], int]


def n_graph_nodes(tree: Tree) -> int:
    """Nodes of the graph ``tree`` becomes (a preterminal is one node, a bare word another).

    >>> n_graph_nodes(Tree.fromstring("(3 (2 a) (4 b c))"))
    5
    """
    return sum(1 for _ in _walk(tree))


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
        elif is_preterminal(item):
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
    word: list[int] = []
    label: list[int] = []
    parent: list[int] = []
    pos: list[int] = []
    hgt: list[int] = []
    start: list[int] = []
    end: list[int] = []
    pending: list[int] = []  # finished nodes (post-order ids) waiting for their parent
    n_leaves = 0
    for text, tag, n_children in _walk(tree):
        idx = len(word)
        label.append(label_of(tag))
        parent.append(-1)
        pos.append(0)
        if text is not None:
            word.append(vocab.id(text))
            hgt.append(0)
            start.append(n_leaves)
            end.append(n_leaves + 1)
            n_leaves += 1
        else:
            kids = pending[-n_children:]
            del pending[-n_children:]
            for j, kid in enumerate(kids):
                parent[kid] = idx
                pos[kid] = j
            word.append(PAD_ID)
            hgt.append(1 + max(hgt[kid] for kid in kids))
            start.append(start[kids[0]])
            end.append(end[kids[-1]])
        pending.append(idx)

    # Renumber post-order ids: leaves keep their left-to-right order and come first.
    height = np.asarray(hgt, dtype=np.int64)
    is_leaf = height == 0
    n = len(word)
    new_id = np.empty(n, dtype=np.int64)
    new_id[is_leaf] = np.arange(n_leaves)
    new_id[~is_leaf] = np.arange(n_leaves, n)
    order = np.argsort(new_id)  # order[i] = post-order id of new node i

    def renumbered(values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)[order]

    old_parent = renumbered(parent)
    new_parent = np.where(old_parent >= 0, new_id[np.maximum(old_parent, 0)], -1)
    return TreeArrays(renumbered(word), renumbered(label), new_parent, renumbered(pos),
                      height[order], renumbered(start), renumbered(end), n_leaves)


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

    The same schedule in *level-major* layout, for engines that keep states in one buffer
    whose rows are the nodes sorted by height (leaves first, then each level in turn):
    ``order`` ``[N]`` is the node id at each row and ``rank`` ``[N]`` each node's row;
    ``bounds[k]`` is where height ``k + 1`` starts (``bounds[0]`` = the number of leaves,
    ``bounds[-1]`` = ``n_nodes``), so a level's states are the slice
    ``bounds[k]:bounds[k + 1]``; ``packed_kids[k]`` is ``children`` as rows (padding: row
    ``n_nodes``).
    """

    n_nodes: int
    leaf_ids: torch.Tensor
    levels: list[tuple[torch.Tensor, torch.Tensor]]
    order: torch.Tensor
    rank: torch.Tensor
    bounds: list[int]
    packed_kids: list[torch.Tensor]

    @classmethod
    def from_graph(cls, graph: dgl.DGLGraph) -> LevelSchedule:
        src, dst = (t.numpy() for t in graph.edges())
        return cls.from_arrays(graph.ndata["height"].numpy(), src, dst,
                               graph.edata["pos"].numpy())

    @classmethod
    def from_arrays(cls, hgt: np.ndarray, src: np.ndarray, dst: np.ndarray, pos: np.ndarray
                    ) -> LevelSchedule:
        """Schedule from node heights and the edges ``src -> dst`` at child position ``pos``."""
        n = len(hgt)
        width = int(pos.max()) + 1 if len(pos) else 0
        child = np.full((n, max(width, 1)), n, dtype=np.int64)
        child[dst, pos] = src
        arity = np.zeros(n, dtype=np.int64)
        np.maximum.at(arity, dst, pos + 1)
        order = np.argsort(hgt, kind="stable")
        bounds = np.cumsum(np.bincount(hgt, minlength=1))
        rank = np.empty(n + 1, dtype=np.int64)  # row of each node; the padding row stays n
        rank[order] = np.arange(n)
        rank[n] = n
        levels, packed = [], []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            nodes = order[lo:hi]
            kids = child[nodes, : int(arity[nodes].max())]
            levels.append((torch.from_numpy(nodes), torch.from_numpy(kids.copy())))
            packed.append(torch.from_numpy(rank[kids]))
        return cls(n, torch.from_numpy(order[: bounds[0]].copy()), levels,
                   torch.from_numpy(order), torch.from_numpy(rank[:n].copy()),
                   bounds.tolist(), packed)

    def to(self, device: torch.device | str) -> LevelSchedule:
        return LevelSchedule(
            self.n_nodes, self.leaf_ids.to(device),
            [(nodes.to(device), kids.to(device)) for nodes, kids in self.levels],
            self.order.to(device), self.rank.to(device), self.bounds,
            [kids.to(device) for kids in self.packed_kids])


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


def collate_arrays(items: Sequence[TreeArrays], index: Sequence[int] = ()) -> Batch:
    """Batch trees given as arrays: one ``dgl.graph`` call for the whole batch.

    Gives the same batched graph as ``collate([arrays_to_graph(a) for a in items])`` (node
    and edge order, features, batch sizes) at a fraction of the cost of building a graph per
    tree and merging them with ``dgl.batch``.
    """
    sizes = np.fromiter((a.n_nodes for a in items), dtype=np.int64, count=len(items))
    first = np.cumsum(sizes) - sizes
    parent = np.concatenate([a.parent for a in items])
    child = np.flatnonzero(parent >= 0)
    offsets = np.repeat(first, sizes)
    dst = parent[child] + offsets[child]
    height = np.concatenate([a.height for a in items])
    pos = np.concatenate([a.pos for a in items])[child]
    graph = dgl.graph((torch.from_numpy(child), torch.from_numpy(dst)),
                      num_nodes=int(sizes.sum()), idtype=torch.int64)
    for name in ("word", "label", "start", "end"):
        graph.ndata[name] = torch.from_numpy(np.concatenate([getattr(a, name) for a in items]))
    graph.ndata["height"] = torch.from_numpy(height)
    graph.edata["pos"] = torch.from_numpy(pos)
    sizes_t = torch.from_numpy(sizes)
    graph.set_batch_num_nodes(sizes_t)
    graph.set_batch_num_edges(sizes_t - 1)
    first_t = torch.from_numpy(first)
    return Batch(graph=graph, roots=first_t + sizes_t - 1, labels=graph.ndata["label"],
                 words=graph.ndata["word"], offsets=torch.from_numpy(offsets),
                 schedule=LevelSchedule.from_arrays(height, child, dst, pos), index=list(index))


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
    span_start = batch.graph.ndata["start"].to(nodes.device)[nodes]  # leaf position in its tree
    lengths = batch.graph.ndata["end"].to(nodes.device)[nodes] - span_start
    start = span_start + batch.offsets[nodes]  # [n] node id of the first word
    steps = torch.arange(int(lengths.max()), device=nodes.device)
    ids = start[:, None] + steps[None, :]  # [n, T] node ids of the words
    valid = steps[None, :] < lengths[:, None]
    tokens = torch.where(valid, batch.words[ids.clamp(max=len(batch.words) - 1)],
                         torch.full_like(ids, PAD_ID))
    return tokens, lengths

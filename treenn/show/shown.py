"""The model side of a picture: every node of an input tree paired with its prediction.

>>> from treenn.data.tasks import get_task
>>> from treenn.data.trees import parse_tree
>>> shown = build_shown_tree(get_task("sst2"), parse_tree("(4 (3 good) (2 fun))"),
...                          [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
>>> [(n.word, n.gold, n.pred) for n in shown.nodes]
[('good', 1, 1), ('fun', -1, 0), (None, 1, 1)]
>>> shown.root_error, shown.node_errors
(False, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

from nltk import Tree

from treenn.show.palette import task_colors, task_short_names


@dataclass
class ShownNode:
    """One node as drawn. ``gold``/``pred`` are class ids, ``-1`` when there is none to show."""

    children: list[int]
    word: str | None
    gold: int
    pred: int
    probs: list[float]
    depth: int = 0

    @property
    def wrong(self) -> bool:
        return self.gold >= 0 and self.pred >= 0 and self.gold != self.pred


@dataclass
class ShownTree:
    """A tree with its predictions; ``nodes`` in graph order (leaves first, root last)."""

    nodes: list[ShownNode]
    class_names: tuple[str, ...]
    short_names: tuple[str, ...]
    colors: tuple[str, ...]
    listops: bool = False

    @property
    def root(self) -> ShownNode:
        return self.nodes[-1]

    @property
    def words(self) -> list[str]:
        return [n.word for n in self.nodes if n.word is not None]

    @property
    def root_error(self) -> bool | None:
        """Whether the root prediction is wrong; ``None`` without a gold root label."""
        return None if self.root.gold < 0 or self.root.pred < 0 else self.root.wrong

    @property
    def node_errors(self) -> int:
        return sum(n.wrong for n in self.nodes)

    @property
    def n_scored(self) -> int:
        """Nodes with both a gold label and a prediction."""
        return sum(n.gold >= 0 and n.pred >= 0 for n in self.nodes)

    @property
    def has_gold(self) -> bool:
        return any(n.gold >= 0 for n in self.nodes)


def _leaf_node(task, orig: Tree | str, row: list[float], pred: int, depth: int) -> ShownNode:
    """A word (bare, or under its preterminal) with its gold label where it has one."""
    from treenn.data import listops

    word = orig if isinstance(orig, str) else orig[0]
    gold = -1 if isinstance(orig, str) else task.gold_or_none(orig.label())
    if task.expression_values and depth > 0:
        gold = pred = -1  # a token inside an expression has no value of its own
    elif task.expression_values:
        gold = int(word) if word in listops.DIGITS else -1
    return ShownNode([], word, gold, pred, row, depth)


def _listops_value(orig: Tree) -> int:
    """The true value of a ListOps sub-tree, ``-1`` when it is not a complete expression."""
    from treenn.data import listops
    from treenn.data.trees import leaves

    try:
        return listops.evaluate_tokens(leaves(orig))
    except ValueError:
        return -1


def build_shown_tree(task, tree: Tree, probs) -> ShownTree:
    """Pair the nodes of ``tree`` with their predicted distributions.

    Args:
        task: the run's :class:`treenn.data.tasks.Task`.
        tree: an input tree; node labels are gold labels where ``task`` can read them.
        probs: ``[n_nodes, n_classes]`` class probabilities in graph node order (as
            :func:`treenn.training.predict_trees` returns them); a tensor or nested lists.

    Returns:
        The tree as drawn; for ListOps only complete sub-expressions with an operator (and a
        lone digit at the root) carry a prediction, and their gold label is the true value.
    """
    from treenn.data.graphs import n_graph_nodes, relabel

    rows = probs.tolist() if hasattr(probs, "tolist") else [list(r) for r in probs]
    n = n_graph_nodes(tree)
    if len(rows) != n:
        raise ValueError(f"{len(rows)} rows of probabilities for a tree of {n} nodes")
    is_listops = task.expression_values
    numbered = relabel(tree, [str(i) for i in range(n)])
    nodes: list[ShownNode | None] = [None] * n
    # Walk the input tree and its numbered copy together (iteratively: deep trees are fine).
    stack: list[tuple[Tree | str, Tree, int]] = [(tree, numbered, 0)]
    while stack:
        orig, num, depth = stack.pop()
        i = int(num.label())
        row = rows[i]
        pred = max(range(len(row)), key=row.__getitem__)
        if isinstance(orig, str) or (len(orig) == 1 and isinstance(orig[0], str)):
            nodes[i] = _leaf_node(task, orig, row, pred, depth)
            continue
        gold = task.gold_or_none(orig.label())
        if is_listops:
            # The true value, computed (a label in the input is the same value, if right).
            gold = _listops_value(orig)
            pred = -1 if gold < 0 else pred
        nodes[i] = ShownNode([int(c.label()) for c in num], None, gold, pred, row, depth)
        stack.extend((o, c, depth + 1) for o, c in zip(orig, num, strict=True))
    return ShownTree(nodes, tuple(task.class_names), task_short_names(task), task_colors(task),
                     listops=is_listops)

"""A latent-tree classifier as a parser, and how close its trees come to gold trees.

A latent-tree run (``gumbel-tree-lstm``, ``beam-tree-lstm``, ``gumbel-beam-tree-lstm``) learns
to build trees from a downstream task alone (sentiment, the value of a ListOps expression);
:class:`LatentTreeParser` turns it into a parser like any other, so the trees it induces can be
drawn, parsed from raw text and scored. :func:`score_induced` compares them with gold trees as
grammar-induction work does (unlabelled spans of two or more words, the whole sentence left
out, corpus-level F1; :func:`treenn.parsers.evalb.binary_unlabelled`), next to right- and
left-branching trees over the same words. Against a treebank with punctuation tags, use evalb's
own scores (:class:`treenn.parsers.evalb.Scores`), as ``score_induced(..., evalb=True)`` does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from nltk import Tree

from treenn.checkpoints import check_arity
from treenn.data.graphs import tree_to_arrays
from treenn.data.trees import leaves, relabel_uniform
from treenn.data.vocab import Vocab
from treenn.datasets import Dataset
from treenn.errors import TreennError
from treenn.evaluation import predict_nodes
from treenn.induced import gold_shape, induce
from treenn.models import Classifier, gold_tree_twin
from treenn.parsers import Parser
from treenn.parsers.baselines import LeftBranching, RightBranching
from treenn.parsers.evalb import Scores, binary_unlabelled


class LatentTreeParser(Parser):
    """Parse with the trees a latent-tree classifier induces (inner nodes ``X``, words
    tagged ``XX``). Words outside the run's vocabulary are read as ``<unk>``."""

    name = "latent"

    def __init__(self, model: Classifier, vocab: Vocab, batch_size: int = 64):
        if not model.cfg.is_latent:
            raise TreennError(f"a {model.cfg.model} run reads given trees; only latent-tree "
                              "runs (gumbel-tree-lstm, beam-tree-lstm, "
                              "gumbel-beam-tree-lstm) parse")
        self.model, self.vocab, self.batch_size = model, vocab, batch_size

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best") -> LatentTreeParser:
        from treenn.training import load_model

        model, ckpt = load_model(run_dir, which)
        return cls(model, Vocab.from_dict(ckpt["vocab"]))

    def parse(self, tokens: list[str]) -> Tree:
        self.check(tokens)
        return self.parse_all([tokens])[0]

    def parse_all(self, sentences: list[list[str]]) -> list[Tree]:
        for tokens in sentences:
            self.check(tokens)
        # the model reads only the words: any tree over them will do as the carrier
        carriers = [RightBranching().parse(tokens) for tokens in sentences]
        data = Dataset([tree_to_arrays(t, self.vocab, lambda label: -1) for t in carriers])
        trees, _ = induce(self.model, data, self.batch_size, words=sentences)
        return [relabel_uniform(t) for t in trees]


def score_induced(gold: list[Tree], induced: list[Tree], evalb: bool = False) -> dict:
    """Unlabelled F1 (in [0, 1]) of ``induced`` and of right- and left-branching trees
    against ``gold``, over the gold trees' words. One-word sentences carry no span
    (``sentences`` counts them all)."""
    words = [leaves(t) for t in gold]
    out: dict = {"sentences": len(gold), "metric": "evalb" if evalb else "binary-spans",
                 "induced": _f1(gold, induced, evalb)}
    for baseline in (RightBranching(), LeftBranching()):
        out[baseline.name] = _f1(gold, baseline.parse_all(words), evalb)
    return out


def induced_tree_scores(model: Classifier, data: Dataset, batch_size: int = 128
                        ) -> tuple[dict, list[torch.Tensor] | None]:
    """``({"induced_trees": score_induced(...), "on_gold_trees": ...}, probs)`` of a
    latent-tree model on a split, against the split's gold trees; ``({}, None)`` for other
    models (they induce no tree). ``on_gold_trees`` (:func:`on_gold_trees`) is left out where
    no gold-tree model is registered for the cell, or the gold trees are wider than it takes.

    ``probs`` are the class probabilities of the same pass in the layout of
    :func:`treenn.evaluation.predict_nodes` (one ``[n_nodes, n_classes]`` tensor per gold
    tree, NaN except at a labelled root), so that scoring the model's labels needs no second
    pass. With the same ``batch_size`` as that function the batches are the same, and so
    are the numbers."""
    if not model.cfg.is_latent:
        return {}, None
    gold = [gold_shape(a) for a in data.arrays]
    induced, node_probs = induce(model, data, batch_size, words=[leaves(t) for t in gold],
                                 progress=True)
    probs = []
    for arrays, p in zip(data.arrays, node_probs, strict=True):
        row = torch.full((arrays.n_nodes, p.shape[1]), float("nan"))
        if arrays.label[-1] >= 0:  # the root, last in graph order
            row[-1] = p[-1]
        probs.append(row)
    scores = {"induced_trees": score_induced(gold, induced)}
    try:
        scores["on_gold_trees"] = on_gold_trees(model, data, batch_size)
    except TreennError:  # no gold-tree model for the cell, or a gold node too wide for it
        pass
    return scores, probs


def on_gold_trees(model: Classifier, data: Dataset, batch_size: int = 128) -> dict:
    """Root accuracy of a latent-tree model made to read the split's gold trees instead of
    building its own (:func:`treenn.models.gold_tree_twin`: the same embeddings, cell and
    head): ``{"model": the gold-tree model's name, "root_accuracy", "n"}``, over the trees
    with a gold root label. Beside the model's accuracy on its own trees, it separates the two
    things it learns: which tree to build, and what to compute along a tree.

    Raises:
        TreennError: no gold-tree model is registered for the cell.
        DataError: a gold tree has a node wider than the cell takes.
    """
    twin = gold_tree_twin(model)
    check_arity(twin, data.arrays, "the gold trees")
    probs = predict_nodes(twin, data, batch_size, labelled_only=True)
    right = n = 0
    for arrays, p in zip(data.arrays, probs, strict=True):
        if arrays.label[-1] >= 0:  # the root, last in graph order
            n += 1
            right += int(p[-1].argmax()) == int(arrays.label[-1])
    return {"model": twin.cfg.model, "root_accuracy": right / n if n else 0.0, "n": n}


def _f1(gold: list[Tree], test: list[Tree], evalb: bool) -> dict:
    if evalb:
        scores = Scores()
        for g, t in zip(gold, test, strict=True):
            scores.add(g, t)
        return scores.unlabelled.to_dict()
    matched = n_gold = n_test = 0
    for g, t in zip(gold, test, strict=True):
        m, a, b = binary_unlabelled(relabel_uniform(g), t)
        matched, n_gold, n_test = matched + m, n_gold + a, n_test + b
    precision = matched / n_test if n_test else 0.0
    recall = matched / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "matched": matched,
            "gold": n_gold, "test": n_test}

"""A classifier's predictions and scores on a split: one ``evaluate`` serves dev, test and any
other split, during training and on a finished run."""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from treenn import distributed
from treenn.data.tasks import Task
from treenn.data.vocab import Vocab
from treenn.datasets import Dataset, batches
from treenn.metrics import Scores
from treenn.models import Classifier


@torch.no_grad()
def predict_nodes(model: Classifier, data: Dataset, batch_size: int, labelled_only: bool,
                  progress: bool = False, shard: tuple[int, int] = (0, 1)
                  ) -> list[torch.Tensor | None]:
    """Class probabilities per tree: ``[n_nodes, n_classes]`` (all nodes of each tree) in
    graph node order. With ``labelled_only``, sequence models skip unlabelled nodes (rows
    left as NaN) since each node costs them a separate sequence. Latent-tree models score
    roots only (labelled ones with ``labelled_only``; a phrase would cost them its own
    O(n^2) search; their "all" scores are then over sentences, and their per-node
    predictions come from :func:`treenn.induced.induce`). ``shard=(rank, size)``
    computes batches ``rank``, ``rank + size``, ... only (the trees of the others are None):
    each tree sits in the same batch as without it, so its numbers are the same."""
    model.eval()
    device = next(model.parameters()).device
    out: list[torch.Tensor | None] = []
    rank, size = shard
    bar = tqdm(batches(data, batch_size), total=math.ceil(len(data) / batch_size),
               desc="predict", leave=False, disable=not progress, mininterval=0.5)
    for b, batch in enumerate(bar):
        if b % size != rank:
            out.extend([None] * batch.n_trees)
            continue
        n = batch.graph.num_nodes()
        if model.cfg.is_latent:  # sentences only: each phrase would be its own O(n^2) search
            roots = batch.roots
            nodes = roots[batch.labels[roots] >= 0] if labelled_only else roots
        elif labelled_only and not model.cfg.is_tree:
            nodes = torch.nonzero(batch.labels >= 0).squeeze(1)
        else:
            nodes = torch.arange(n)
        probs = torch.full((n, model.cfg.n_classes), float("nan"))
        if len(nodes):
            with torch.inference_mode():  # no autograd bookkeeping at all
                logits = model(batch.to(device), nodes.to(device))
            # out of inference mode: callers get ordinary tensors, which they may change
            probs[nodes] = torch.softmax(logits, dim=-1).float().cpu()
        out.extend(torch.split(probs, batch.graph.batch_num_nodes().tolist()))
    return out


def _counts(task: Task, data: Dataset, probs: list[torch.Tensor | None],
            roots_only: bool = False) -> dict:
    """The confusion matrices (``[gold, predicted]``) of the trees scored in ``probs`` (the
    others are None), and each scored tree's predicted root label (0 for the others)."""
    k = task.n_classes
    counts = {name: torch.zeros(n, n, dtype=torch.int64)
              for name, n in (("root", k), ("all", k), ("collapsed_all", 2),
                              ("collapsed_root", 2))}
    counts["pred"] = torch.zeros(len(data), dtype=torch.int64)
    for i, (arrays, p) in enumerate(zip(data.arrays, probs, strict=True)):
        if p is None:
            continue
        labels = torch.from_numpy(arrays.label)
        mask = labels >= 0
        if roots_only:  # latent-tree models: the other rows are unscored (NaN)
            mask &= ~p[:, 0].isnan()
        pred = p.argmax(-1)
        root = arrays.n_nodes - 1
        counts["pred"][i] = pred[root]
        counts["all"] += _confusion(labels[mask], pred[mask], k)
        if labels[root] >= 0:
            counts["root"][labels[root], pred[root]] += 1
        if task.polarity is not None:  # e.g. SST-5: 0-1 negative, 3-4 positive
            mid = task.polarity
            polar = mask & (labels != mid)
            pos = (p[:, mid + 1:].sum(-1) > p[:, :mid].sum(-1)).long()
            gold = (labels > mid).long()
            counts["collapsed_all"] += _confusion(gold[polar], pos[polar], 2)
            if polar[root]:
                counts["collapsed_root"][gold[root], pos[root]] += 1
    return counts


def _confusion(gold: torch.Tensor, pred: torch.Tensor, k: int) -> torch.Tensor:
    """``[k, k]`` counts of (gold, predicted) pairs."""
    return torch.bincount(gold * k + pred, minlength=k * k).view(k, k)


def evaluate(model: Classifier, task: Task, data: Dataset, split: str,
             batch_size: int = 128, progress: bool = False, sharded: bool = False,
             probs: list[torch.Tensor] | None = None, vocab: Vocab | None = None) -> dict:
    """Root and all-node scores for one split (the same code serves dev and test).

    Returns a JSON-ready dict with ``task``, ``split``, ``root`` and ``all`` (each with
    ``accuracy``, ``n``, ``confusion``, ``per_class``), ``collapsed`` for 5-class SST, and
    ``per_sentence`` (length, height, gold and predicted root label; with ``vocab``, for a
    task with a ``group_name``, also each sentence's ``group``, such as a ListOps
    expression's root operator) for reports.

    ``sharded``: in a process group every process scores its share of the batches and the
    counts are summed over the processes, so each gets the whole split's result, equal to
    one process's.

    ``probs``: :func:`predict_nodes`'s result (``labelled_only=True``) when the caller has it
    already, e.g. from a pass that also gave a latent-tree model's trees; not with ``sharded``.
    """
    if probs is not None and sharded:  # every process would count every tree
        raise ValueError("evaluate: give probs or sharded, not both")
    where = distributed.world() if sharded else distributed.World()
    if probs is None:
        probs = predict_nodes(model, data, batch_size, labelled_only=True, progress=progress,
                              shard=(where.rank, where.size))
    counts = _counts(task, data, probs, roots_only=model.cfg.is_latent)
    if where.size > 1:
        names = list(counts)
        flat = distributed.all_reduce(torch.cat([counts[n].flatten() for n in names]))
        counts = dict(zip(names, (part.view_as(counts[n]) for n, part in zip(
            names, flat.split([counts[n].numel() for n in names]), strict=True)), strict=True))
    roots = [a.n_nodes - 1 for a in data.arrays]
    result = {
        "task": task.name,
        "split": split,
        "root": Scores(counts["root"].tolist()).to_dict(),
        "all": Scores(counts["all"].tolist()).to_dict(),
        "per_sentence": {
            "length": [a.n_leaves for a in data.arrays],
            "height": [int(a.height[r]) + 1 for a, r in zip(data.arrays, roots, strict=True)],
            "gold": [int(a.label[r]) for a, r in zip(data.arrays, roots, strict=True)],
            "pred": counts["pred"].tolist()},
    }
    if vocab is not None and task.group_name:
        words = vocab.words
        result["per_sentence"]["group"] = [
            task.sentence_group([words[i] for i in a.word[:a.n_leaves]]) for a in data.arrays]
    if task.polarity is not None and len(data):
        result["collapsed"] = {"all": Scores(counts["collapsed_all"].tolist()).to_dict(),
                               "root": Scores(counts["collapsed_root"].tolist()).to_dict()}
    return result

"""A classifier's predictions and scores on a split: one ``evaluate`` serves dev, test and any
other split, during training and on a finished run."""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from treenn.data.tasks import Task
from treenn.datasets import Dataset, batches
from treenn.metrics import Scores
from treenn.models import Classifier


@torch.no_grad()
def predict_nodes(model: Classifier, data: Dataset, batch_size: int, labelled_only: bool,
                  progress: bool = False) -> list[torch.Tensor]:
    """Class probabilities per tree: ``[n_nodes, n_classes]`` (all nodes of each tree) in
    graph node order. With ``labelled_only``, sequence models skip unlabelled nodes (rows
    left as NaN) since each node costs them a separate sequence."""
    model.eval()
    device = next(model.parameters()).device
    out: list[torch.Tensor] = []
    bar = tqdm(batches(data, batch_size), total=math.ceil(len(data) / batch_size),
               desc="predict", leave=False, disable=not progress, mininterval=0.5)
    for batch in bar:
        n = batch.graph.num_nodes()
        if labelled_only and not model.cfg.is_tree:
            nodes = torch.nonzero(batch.labels >= 0).squeeze(1)
        else:
            nodes = torch.arange(n)
        probs = torch.full((n, model.cfg.n_classes), float("nan"))
        if len(nodes):
            logits = model(batch.to(device), nodes.to(device))
            probs[nodes] = torch.softmax(logits, dim=-1).float().cpu()
        out.extend(torch.split(probs, batch.graph.batch_num_nodes().tolist()))
    return out


def evaluate(model: Classifier, task: Task, data: Dataset, split: str,
             batch_size: int = 128, progress: bool = False) -> dict:
    """Root and all-node scores for one split (the same code serves dev and test).

    Returns a JSON-ready dict with ``task``, ``split``, ``root`` and ``all`` (each with
    ``accuracy``, ``n``, ``confusion``, ``per_class``), ``collapsed`` for 5-class SST, and
    ``per_sentence`` (length, height, gold and predicted root label) for reports.
    """
    probs = predict_nodes(model, data, batch_size, labelled_only=True, progress=progress)
    gold_all, pred_all, gold_root, pred_root = [], [], [], []
    coll = {"all": [[], []], "root": [[], []]}
    per_sentence = {"length": [], "height": [], "gold": [], "pred": []}
    for arrays, p in zip(data.arrays, probs, strict=True):
        labels = torch.from_numpy(arrays.label)
        mask = labels >= 0
        pred = p.argmax(-1)
        gold_all.append(labels[mask])
        pred_all.append(pred[mask])
        root = arrays.n_nodes - 1
        per_sentence["length"].append(arrays.n_leaves)
        per_sentence["height"].append(int(arrays.height[root]) + 1)  # nodes on the longest path
        per_sentence["gold"].append(int(labels[root]))
        per_sentence["pred"].append(int(pred[root]))
        if labels[root] >= 0:
            gold_root.append(int(labels[root]))
            pred_root.append(int(pred[root]))
        if task.polarity is not None:  # e.g. SST-5: 0-1 negative, 3-4 positive
            mid = task.polarity
            polar = mask & (labels != mid)
            pos = p[:, mid + 1:].sum(-1) > p[:, :mid].sum(-1)
            coll["all"][0].append((labels[polar] > mid).long())
            coll["all"][1].append(pos[polar].long())
            if polar[root]:
                coll["root"][0].append(int(labels[root] > mid))
                coll["root"][1].append(int(pos[root]))
    k = task.n_classes
    result = {
        "task": task.name,
        "split": split,
        "root": Scores.from_predictions(gold_root, pred_root, k).to_dict(),
        "all": Scores.from_predictions(torch.cat(gold_all).tolist(),
                                       torch.cat(pred_all).tolist(), k).to_dict(),
        "per_sentence": per_sentence,
    }
    if coll["all"][0]:
        result["collapsed"] = {
            "all": Scores.from_predictions(torch.cat(coll["all"][0]).tolist(),
                                           torch.cat(coll["all"][1]).tolist(), 2).to_dict(),
            "root": Scores.from_predictions(coll["root"][0], coll["root"][1], 2).to_dict(),
        }
    return result

"""Accuracy, confusion matrices, per-class precision/recall/F1 and the printed summary.

Confusion matrices are indexed ``[gold][predicted]``.

>>> s = Scores.from_predictions([0, 1, 1, 2], [0, 1, 2, 2], 3)
>>> s.accuracy, s.n, s.confusion
(0.75, 4, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
>>> [round(x["f1"], 3) for x in s.per_class()]
[1.0, 0.667, 0.667]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Scores:
    confusion: list[list[int]]

    @classmethod
    def from_predictions(cls, gold: Sequence[int], pred: Sequence[int], n_classes: int
                         ) -> Scores:
        matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(matrix, (np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)),
                  1)
        return cls(matrix.tolist())

    @property
    def n(self) -> int:
        return int(np.sum(self.confusion))

    @property
    def accuracy(self) -> float:
        m = np.asarray(self.confusion)
        return float(np.trace(m) / m.sum()) if m.sum() else float("nan")

    def per_class(self) -> list[dict]:
        m = np.asarray(self.confusion, dtype=np.float64)
        rows = []
        for k in range(len(m)):
            tp, predicted, gold = m[k, k], m[:, k].sum(), m[k].sum()
            p = tp / predicted if predicted else 0.0
            r = tp / gold if gold else 0.0
            f = 2 * p * r / (p + r) if p + r else 0.0
            rows.append({"precision": float(p), "recall": float(r), "f1": float(f),
                         "support": int(gold)})
        return rows

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "n": self.n, "confusion": self.confusion,
                "per_class": self.per_class()}


def format_confusion(scores: Scores, names: Sequence[str]) -> str:
    width = max(6, *(len(n) for n in names)) + 1
    lines = ["gold \\ pred".ljust(width) + "".join(n[:width - 1].rjust(width) for n in names)]
    for name, row in zip(names, scores.confusion, strict=True):
        lines.append(name[:width - 1].ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def format_per_class(scores: Scores, names: Sequence[str]) -> str:
    width = max(8, *(len(n) for n in names)) + 1
    lines = ["class".ljust(width) + "precision    recall        F1   support"]
    for name, row in zip(names, scores.per_class(), strict=True):
        lines.append(f"{name.ljust(width)}{row['precision']:9.4f} {row['recall']:9.4f} "
                     f"{row['f1']:9.4f} {row['support']:9d}")
    return "\n".join(lines)


def format_summary(result: dict, names: Sequence[str], group_name: str | None = None) -> str:
    """A CoreNLP-style evaluation report for ``evaluate``'s result dictionary; with
    ``group_name``, root accuracy by the sentence groups the result has (ListOps: by root
    operator)."""
    out = [f"EVALUATION SUMMARY  task={result['task']}  split={result['split']}  "
           f"sentences={result['root']['n']}"]
    for key, title in (("all", "All labelled nodes"), ("root", "Root (sentence) labels")):
        s = Scores(result[key]["confusion"])
        out += ["", f"{title}: accuracy {100 * s.accuracy:.2f}% ({s.n} nodes)",
                format_confusion(s, names), "", format_per_class(s, names)]
    if "collapsed" in result:
        c = result["collapsed"]
        out += ["", "Collapsed negative/positive (gold neutral excluded; prediction by summed "
                "probability of the negative vs positive classes):",
                f"  all nodes {100 * c['all']['accuracy']:.2f}% ({c['all']['n']})   "
                f"root {100 * c['root']['accuracy']:.2f}% ({c['root']['n']})"]
    per = result.get("per_sentence", {})
    if group_name and "group" in per:
        gold, pred = np.asarray(per["gold"]), np.asarray(per["pred"])
        keep = gold >= 0
        by = accuracy_by_group(np.asarray(per["group"], dtype=object)[keep],
                               (gold == pred)[keep])
        out += ["", f"Root accuracy by {group_name}: " + ", ".join(
            f"{g} {100 * acc:.2f}% ({n})" for g, (acc, n) in by.items())]
    return "\n".join(out)


def accuracy_by_group(groups: np.ndarray, correct: np.ndarray) -> dict[str, tuple[float, int]]:
    """Mean of ``correct`` (per sentence; fractions too) and the number of sentences for each
    group, in sorted order: the printed summary's and ``compare``'s "root accuracy by"."""
    return {g: (float(correct[groups == g].mean()), int(np.sum(groups == g)))
            for g in sorted(set(groups))}

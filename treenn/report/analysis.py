"""Runs grouped into models (seeds of one variant on one task and test set) and paired tests
of tree models against sequence models."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from treenn.report.collect import RunInfo
from treenn.report.stats import (
    ALPHA,
    N_BOOTSTRAP,
    format_p,
    mcnemar_exact,
    mean_std,
    paired_bootstrap,
)


@dataclass
class Group:
    """The runs (seeds) of one model on one task and test set."""

    task_key: str
    task: str
    label: str
    is_tree: bool
    runs: list[RunInfo]

    def stat(self, get: Callable[[RunInfo], float | None]) -> tuple[float, float] | None:
        values = [v for v in map(get, self.runs) if v is not None]
        return mean_std(values) if values else None

    @property
    def dev_root_acc(self) -> float:
        """Mean dev root accuracy (of the kept epochs): what chooses between models, so that
        the test set is not used for the choice it then judges."""
        return self.stat(lambda r: max(m["dev_root_acc"] for m in r.metrics))[0]

    def mean_correct(self) -> np.ndarray:
        """``[n]`` per-sentence root correctness averaged over seeds."""
        return np.mean([r.sentences["correct"] for r in self.runs], axis=0)


@dataclass
class Comparison:
    """A tree model against the best sequence model of the same task, on the same sentences."""

    task_key: str
    tree: str
    sequence: str
    n: int
    seeds: int
    diff: float
    low: float
    high: float
    p: float
    pairs: int
    significant: int  # +1 tree better, -1 sequence better, 0 neither

    def sentence(self) -> str:
        ci = f"95% CI [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        mc = f"McNemar {format_p(self.p)}"
        if self.pairs > 1:
            mc += f", the largest over {self.pairs} seed pairs"
        if self.significant > 0:
            head = f"{self.tree} beats {self.sequence} by {100 * self.diff:.1f} points"
        elif self.significant < 0:
            head = (f"{self.tree} is beaten by {self.sequence} by {-100 * self.diff:.1f} "
                    "points")
        else:
            head = (f"{self.tree} does not significantly beat {self.sequence} "
                    f"(difference {100 * self.diff:+.1f} points")
            return f"{head}, {ci}, {mc})."
        return f"{head}, {ci}, {mc}."


def group_runs(runs: Sequence[RunInfo]) -> tuple[list[Group], list[str]]:
    """Groups by (task, test set, model variant), and notes on tasks split by test set."""
    by_task: dict[str, list[str]] = {}
    for r in runs:
        keys = by_task.setdefault(r.task, [])
        if r.test_set_key not in keys:
            keys.append(r.test_set_key)
    notes = []
    for task, keys in by_task.items():
        if len(keys) > 1:
            notes.append(f"{task}: the runs were tested on {len(keys)} different test sets; "
                         "each gets its own tables and runs on different test sets are not "
                         "paired.")
    groups: dict[tuple[str, str], Group] = {}
    for r in runs:
        keys = by_task[r.task]
        task_key = (r.task if len(keys) == 1
                    else f"{r.task} (test set {keys.index(r.test_set_key) + 1})")
        variant = json.dumps(r.variant, sort_keys=True)
        g = groups.setdefault((task_key, variant),
                              Group(task_key, r.task, r.label, r.is_tree, []))
        g.runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: (r.seed, str(r.path)))
    _tell_apart_same_names(groups.values())
    ordered = sorted(groups.values(), key=lambda g: (g.task_key, not g.is_tree, g.label))
    return ordered, notes


def _tell_apart_same_names(groups: Iterable[Group]) -> None:
    """Variants that share a name are told apart by the settings in which they differ."""
    same_name: dict[tuple[str, str], list[Group]] = {}
    for g in groups:
        same_name.setdefault((g.task_key, g.label), []).append(g)
    for clash in same_name.values():
        if len(clash) < 2:
            continue
        variants = [g.runs[0].variant for g in clash]
        differ = sorted(k for k in set().union(*variants)
                        if len({json.dumps(v.get(k), sort_keys=True) for v in variants}) > 1)
        for g, v in zip(clash, variants, strict=True):
            g.label += " [" + ", ".join(f"{k}={v.get(k)}" for k in differ) + "]"


def _seed_pairs(a: Group, b: Group) -> list[tuple[RunInfo, RunInfo]]:
    """Runs of ``a`` and ``b`` paired by seed where the seeds match, else in seed order."""
    seeds_b = {r.seed: r for r in b.runs}
    matched = [(r, seeds_b[r.seed]) for r in a.runs if r.seed in seeds_b]
    if len(matched) == min(len(a.runs), len(b.runs)):
        return matched
    return list(zip(a.runs, b.runs, strict=False))


def compare_groups(tree: Group, seq: Group, n_boot: int = N_BOOTSTRAP) -> Comparison:
    """Paired bootstrap CI of the root accuracy difference and McNemar's exact test."""
    diff, low, high = paired_bootstrap(tree.mean_correct(), seq.mean_correct(), n_boot)
    ps = []
    pairs = _seed_pairs(tree, seq)
    for a, b in pairs:
        ca, cb = a.sentences["correct"], b.sentences["correct"]
        ps.append(mcnemar_exact(int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))))
    p = max(ps)
    significant = 0
    if p < ALPHA and low > 0:
        significant = 1
    elif p < ALPHA and high < 0:
        significant = -1
    return Comparison(tree.task_key, tree.label, seq.label, len(tree.mean_correct()),
                      min(len(tree.runs), len(seq.runs)), diff, low, high, p, len(pairs),
                      significant)

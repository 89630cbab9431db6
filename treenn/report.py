"""``train.py compare``: tree models against sequence models, as ``report.md`` and ``report.html``.

Given finished run directories (or a grid of tasks x models x seeds to train first), the
report holds, per task:

* accuracy (root, all labelled phrases, and for 5-class SST the collapsed binary accuracy)
  as mean ± standard deviation over seeds, with training speed and parameter counts;
* root accuracy by sentence length and by tree depth;
* confusion matrices (root labels, summed over seeds) and learning curves;
* for each tree model against the best sequence model of the same task, a paired test on the
  same test sentences: a bootstrap confidence interval of the accuracy difference and
  McNemar's exact test.

Runs of different tasks are never mixed in one row, runs whose test sets differ are never
paired, and unfinished runs are skipped with the reason printed and listed in the report.

Statistics use numpy only:

>>> round(mcnemar_exact(1, 9), 4)  # 1 vs 9 discordant pairs: 2 * P(X <= 1), X ~ B(10, 1/2)
0.0215
>>> paired_bootstrap([1, 1, 0, 1], [1, 1, 0, 1])
(0.0, 0.0, 0.0)
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

#: How the report names models.
DISPLAY_NAMES = {"tree-lstm": "Tree-LSTM", "childsum-tree-lstm": "Child-Sum Tree-LSTM",
                 "recnn": "RecNN", "rntn": "RNTN", "rnn": "RNN", "lstm": "LSTM", "gru": "GRU",
                 "bilstm": "BiLSTM"}
N_BOOTSTRAP = 10_000
BOOTSTRAP_SEED = 0
ALPHA = 0.05


# ----------------------------------------------------------------------------- statistics


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    x = np.asarray(values, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test from the discordant counts.

    Args:
        b: items the first model gets right and the second wrong.
        c: items the second model gets right and the first wrong.

    Returns:
        ``min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)`` (1 when
        ``b + c == 0``), computed with exact integers.

    >>> mcnemar_exact(0, 5), mcnemar_exact(3, 3), mcnemar_exact(0, 0)
    (0.0625, 1.0, 1.0)
    """
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2 ** n)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOTSTRAP,
                     seed: int = BOOTSTRAP_SEED, alpha: float = ALPHA
                     ) -> tuple[float, float, float]:
    """Accuracy difference ``mean(a) - mean(b)`` with a paired percentile bootstrap interval.

    Args:
        a, b: ``[n]`` per-item correctness of two models on the same items (0/1, or the mean
            over seeds); item ``i`` of ``a`` and ``b`` is the same sentence.
        n_boot: resamples of the items (with replacement, the same items for both models).
        seed: seed of the resampling (fixed, so a report is reproducible).
        alpha: ``1 - alpha`` is the interval's coverage.

    Returns:
        ``(difference, low, high)`` as fractions (multiply by 100 for points).
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)  # [n]
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("paired_bootstrap needs two equally long, non-empty sequences")
    rng = np.random.default_rng(seed)
    n = len(d)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)  # bounded memory: [chunk, n] indices at a time
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))  # [size, n]
        means[start:start + size] = d[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(d.mean()), float(low), float(high)


def bucket_edges(values: Sequence[int], max_buckets: int = 6, min_count: int | None = None
                 ) -> list[int]:
    """Lower edges of equal-width buckets over positive integers, sparse tail buckets merged.

    The width is the smallest of 1, 2, 3, 5, 10, 15, 20, 25, 50, 100, ... giving at most
    ``max_buckets`` buckets (aligned as 1-10, 11-20, ... and starting at the bucket of the
    smallest value); trailing buckets holding fewer than ``min_count``
    values (default: 2% of them, at least 5) are merged into the one before.

    >>> bucket_edges([1, 4, 8, 12, 19, 25, 30, 33, 35, 37, 38, 39, 40] * 10)
    [1, 11, 21, 31]
    >>> bucket_edges([7, 9, 12, 30, 31], min_count=1)
    [6, 11, 16, 21, 26, 31]
    """
    x = np.asarray(values, dtype=np.int64)
    top = int(x.max()) if len(x) else 1
    low = int(x.min()) if len(x) else 1
    widths = [1, 2, 3, 5, 10, 15, 20, 25] + [50 * 2 ** i for i in range(20)]
    width = next(w for w in widths
                 if math.ceil((top - ((low - 1) // w) * w) / w) <= max_buckets)
    start = ((low - 1) // width) * width + 1  # buckets stay aligned: 1-10, 11-20, ...
    edges = list(range(start, top + 1, width))
    min_count = max(5, len(x) // 50) if min_count is None else min_count
    while len(edges) > 1 and np.sum(x >= edges[-1]) < min_count:
        edges.pop()
    return edges


def bucket_labels(edges: Sequence[int], top: int) -> list[str]:
    """``["1-10", "11-20", "21+"]`` style names for :func:`bucket_edges`' buckets."""
    out = []
    for k, lo in enumerate(edges):
        hi = edges[k + 1] - 1 if k + 1 < len(edges) else top
        out.append(str(lo) if lo == hi else (f"{lo}\u2013{hi}" if k + 1 < len(edges)
                                             else f"{lo}+"))
    return out


def bucket_accuracy(correct: np.ndarray, values: np.ndarray, edges: Sequence[int]
                    ) -> tuple[list[float], list[int]]:
    """Mean of ``correct`` ``[n]`` and item counts within each bucket of ``values`` ``[n]``."""
    which = np.searchsorted(np.asarray(edges), values, side="right") - 1  # [n] bucket index
    accs, counts = [], []
    for k in range(len(edges)):
        sel = which == k
        counts.append(int(sel.sum()))
        accs.append(float(correct[sel].mean()) if sel.any() else float("nan"))
    return accs, counts


def format_p(p: float) -> str:
    """``p = 0.02``, ``p = 0.31``, ``p < 0.001``."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"


# ----------------------------------------------------------------------------- runs


#: Training settings that do not make runs different models (seeds are what is averaged).
NOT_VARIANT = ("out", "seed", "progress", "threads", "device", "eval_batch_size", "data_dir")


class SkipRun(Exception):
    """A run that cannot be compared (the message says why)."""


@dataclass
class RunInfo:
    """One finished run as the report sees it."""

    path: Path
    task: str
    model: str
    label: str
    seed: int
    is_tree: bool
    config: dict
    metrics: list[dict]
    evals: dict[str, dict]

    @cached_property
    def variant(self) -> dict:
        """Training settings that make a different model (everything but the seed and where
        or how fast it ran). Settings a run's version of treenn did not have yet take their
        default, so older and newer runs of the same model group together."""
        from treenn.training import TrainConfig

        train = TrainConfig.from_dict(self.config["train"]).resolved().__dict__
        return {k: v for k, v in train.items() if k not in NOT_VARIANT}

    @property
    def test(self) -> dict:
        return self.evals["test"]

    @cached_property
    def sentences(self) -> dict[str, np.ndarray]:
        """Test sentences with a gold root label: ``gold``, ``pred``, ``length``, ``height``
        and ``correct``, each ``[n]`` in test-file order."""
        per = self.test["per_sentence"]
        gold = np.asarray(per["gold"], dtype=np.int64)
        keep = gold >= 0
        out = {k: np.asarray(per[k], dtype=np.int64)[keep]
               for k in ("gold", "pred", "length", "height")}
        out["correct"] = out["gold"] == out["pred"]
        return out

    @cached_property
    def test_set_key(self) -> str:
        """Fingerprint of the test set (gold labels and lengths, in order)."""
        per = self.test["per_sentence"]
        text = json.dumps([self.task, per["gold"], per["length"]])
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([m["train_time_s"] for m in self.metrics]))


def model_label(train_cfg: dict, model_cfg: dict) -> str:
    """The model's display name plus what sets this variant apart (embeddings, layers...)."""
    model = train_cfg["model"]
    parts = []
    if model_cfg.get("bidirectional") and model != "bilstm":
        parts.append("bidirectional")
    if model_cfg.get("layers", 1) > 1 and not _is_tree(model):
        parts.append(f"{model_cfg['layers']} layers")
    if train_cfg.get("embeddings"):
        parts.append(Path(str(train_cfg["embeddings"])).name
                     + (" frozen" if train_cfg.get("freeze_embeddings") else ""))
    if not _is_tree(model) and train_cfg.get("seq_train") == "sentences":
        parts.append("sentences only")
    name = DISPLAY_NAMES.get(model, model)
    return f"{name} ({', '.join(parts)})" if parts else name


def _is_tree(model: str) -> bool:
    from treenn.models import MODELS

    return model in MODELS and MODELS[model].kind == "tree"


def load_run(run_dir: str | Path) -> RunInfo:
    """Read a finished run; raise :class:`SkipRun` saying why it cannot be compared."""
    from treenn.errors import TreennError
    from treenn.runs import read_eval, read_metrics, read_run_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SkipRun("no such directory")
    try:
        config = read_run_config(run_dir)
        if config is None:
            raise SkipRun("not a run directory (no config.json)")
        epochs = int(config["train"]["epochs"])
    except (TreennError, ValueError, KeyError, TypeError):
        raise SkipRun("config.json is not a treenn run configuration") from None
    if config.get("kind") == "parser":
        raise SkipRun("a parser run (compare reads classifier runs; `python -m "
                      "parsers.seeds RUN...` lists parser runs)")
    try:
        metrics = read_metrics(run_dir)
    except ValueError:
        raise SkipRun("metrics.jsonl is not readable") from None
    if len(metrics) < epochs:
        raise SkipRun(f"unfinished: metrics.jsonl has {len(metrics)} of {epochs} epochs")
    if not (run_dir / "eval-test.json").is_file():
        raise SkipRun("unfinished: no eval-test.json (training stopped before the final "
                      "evaluation)")
    train_cfg, model_cfg = config["train"], config.get("model", {})
    evals = {}
    for path in sorted(run_dir.glob("eval-*.json")):
        try:
            evals[path.stem[5:]] = read_eval(run_dir, path.stem[5:])
        except TreennError:
            raise SkipRun(f"{path.name} is not a readable evaluation") from None
    test = evals["test"]
    if test.get("task") != train_cfg["task"]:
        raise SkipRun(f"eval-test.json is for task {test.get('task')!r}, the run for "
                      f"{train_cfg['task']!r}")
    if "per_sentence" not in test:
        raise SkipRun("eval-test.json has no per-sentence results (run `train.py evaluate "
                      f"{run_dir} --split test` again)")
    return RunInfo(run_dir, train_cfg["task"], train_cfg["model"],
                   model_label(train_cfg, model_cfg), int(train_cfg.get("seed", 0)),
                   _is_tree(train_cfg["model"]), config, metrics, evals)


def expand_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Each path as given; a folder without config.json but with run folders inside stands
    for those runs."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / "config.json").exists():
            inner = sorted(d for d in p.iterdir() if (d / "config.json").is_file())
            if inner:
                out += inner
                continue
        out.append(p)
    return out


def collect_runs(paths: Sequence[str | Path]) -> tuple[list[RunInfo], list[tuple[str, str]]]:
    """Finished runs, and ``(path, reason)`` for every path that was skipped."""
    runs, skipped, seen = [], [], set()
    for path in expand_run_dirs(paths):
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            runs.append(load_run(path))
        except SkipRun as err:
            skipped.append((str(path), str(err)))
    return runs, skipped


# ----------------------------------------------------------------------------- analysis


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
    # Variants that share a name are told apart by the settings in which they differ.
    same_name: dict[tuple[str, str], list[Group]] = {}
    for g in groups.values():
        same_name.setdefault((g.task_key, g.label), []).append(g)
    for clash in same_name.values():
        if len(clash) < 2:
            continue
        variants = [g.runs[0].variant for g in clash]
        differ = sorted(k for k in set().union(*variants)
                        if len({json.dumps(v.get(k), sort_keys=True) for v in variants}) > 1)
        for g, v in zip(clash, variants, strict=True):
            g.label += " [" + ", ".join(f"{k}={v.get(k)}" for k in differ) + "]"
    ordered = sorted(groups.values(), key=lambda g: (g.task_key, not g.is_tree, g.label))
    return ordered, notes


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


# ----------------------------------------------------------------------------- plots


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_svg(fig) -> str:
    """The figure as SVG text (text kept as text, reproducible ids, no date)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "treenn"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight")
    return buf.getvalue()


def plot_buckets(title: str, xlabel: str, labels: Sequence[str], series: dict[str, list[float]],
                 counts: Sequence[int]) -> str:
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    for name, accs in series.items():
        ax.plot(x, 100 * np.asarray(accs), marker="o", label=name)
    ax.set_xticks(x, [f"{lab}\n(n={c})" for lab, c in zip(labels, counts, strict=True)],
                  fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("root accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_svg(fig)


def plot_confusions(title: str, groups: Sequence[Group], class_names: Sequence[str]) -> str:
    """Root confusion matrices, one panel per model; ``class_names`` label the axes."""
    k = len(groups)
    cols = min(k, 3)
    rows = math.ceil(k / cols)
    size = 2.6 if len(class_names) <= 5 else 3.6
    fig = _figure(cols * size + 0.6, rows * size + 0.6)
    for i, g in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        m = np.sum([np.asarray(r.test["root"]["confusion"]) for r in g.runs], axis=0)
        norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for (a, b), v in np.ndenumerate(m):
            ax.text(b, a, str(v), ha="center", va="center", fontsize=6 if len(m) > 5 else 7,
                    color="white" if norm[a, b] > 0.6 else "black")
        ticks = np.arange(len(class_names))
        ax.set_xticks(ticks, class_names, fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("gold", fontsize=8)
        ax.set_title(g.label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return figure_svg(fig)


def plot_curves(title: str, groups: Sequence[Group]) -> str:
    fig = _figure(9, 3.4)
    axes = fig.subplots(1, 2)
    for g in groups:
        by_epoch: dict[int, list[dict]] = {}
        for r in g.runs:
            for m in r.metrics:
                by_epoch.setdefault(m["epoch"], []).append(m)
        epochs = sorted(by_epoch)
        for ax, key, scale in ((axes[0], "train_loss", 1), (axes[1], "dev_root_acc", 100)):
            vals = [[scale * m[key] for m in by_epoch[e]] for e in epochs]
            mean = [float(np.mean(v)) for v in vals]
            (line,) = ax.plot(epochs, mean, marker=".", label=g.label)
            if len(g.runs) > 1:
                ax.fill_between(epochs, [min(v) for v in vals], [max(v) for v in vals],
                                alpha=0.15, color=line.get_color())
    axes[0].set_title("training loss per tree")
    axes[1].set_title("dev root accuracy (%)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return figure_svg(fig)


# ----------------------------------------------------------------------------- document


@dataclass
class Report:
    """The report as a list of blocks, rendered to Markdown and HTML.

    Blocks: ``("h1"|"h2"|"h3"|"p", text)``, ``("list", items)``, ``("table", header,
    rows)``, ``("plot", file name, svg text, caption)``.
    """

    blocks: list[tuple] = field(default_factory=list)

    def add(self, *block) -> None:
        self.blocks.append(block)

    def plots(self) -> list[tuple[str, str]]:
        return [(b[1], b[2]) for b in self.blocks if b[0] == "plot"]

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            kind = b[0]
            if kind in ("h1", "h2", "h3"):
                out.append("#" * int(kind[1]) + " " + b[1])
            elif kind == "p":
                out.append(b[1])
            elif kind == "list":
                out.append("\n".join(f"- {item}" for item in b[1]))
            elif kind == "table":
                out.append("\n".join(["| " + " | ".join(b[1]) + " |",
                                      "|" + "|".join("---" for _ in b[1]) + "|"]
                                     + ["| " + " | ".join(map(str, row)) + " |"
                                        for row in b[2]]))
            elif kind == "plot":
                out.append(f"![{b[3]}](plots/{b[1]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
               f"<title>{html.escape(title)}</title>", f"<style>{_REPORT_CSS}</style>",
               '</head><body data-ready="0">', '<nav id="toc"></nav>', "<main>"]
        n_h2 = 0
        for b in self.blocks:
            kind = b[0]
            if kind in ("h1", "h2", "h3"):
                anchor = ""
                if kind == "h2":
                    n_h2 += 1
                    anchor = f' id="sec{n_h2}"'
                out.append(f"<{kind}{anchor}>{html.escape(b[1])}</{kind}>")
            elif kind == "p":
                out.append(f"<p>{html.escape(b[1])}</p>")
            elif kind == "list":
                out.append("<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in b[1])
                           + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in b[1])
                body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in b[2])
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                           "</table>")
            elif kind == "plot":
                out.append(f'<figure class="plot" data-plot="{html.escape(b[1])}">'
                           f"{_inline_svg(b[2])}<figcaption>{html.escape(b[3])}</figcaption>"
                           "</figure>")
        out += ["</main>", f"<script>{_REPORT_JS}</script>", "</body></html>"]
        return "\n".join(out) + "\n"


def _td(cell) -> str:
    text = str(cell)
    numeric = re.fullmatch(r"[-+\u2013]?[\d.,/]*( \u00b1 [\d.,]+)?", text)
    return f'<td class="num">{text}</td>' if numeric else f"<td>{html.escape(text)}</td>"


def _inline_svg(svg: str) -> str:
    """Matplotlib's SVG file without its XML prologue and metadata, ready to sit in HTML."""
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    return re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)


_REPORT_CSS = """
body { font-family: DejaVu Sans, Verdana, Arial, sans-serif; margin: 0; color: #222;
       display: flex; }
nav { position: sticky; top: 0; align-self: flex-start; max-height: 100vh; overflow-y: auto;
      min-width: 13em; padding: 1em; font-size: .85em; border-right: 1px solid #ddd; }
nav a { display: block; color: #135; text-decoration: none; margin: .25em 0; }
main { padding: 1em 2em; max-width: 75em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.num { text-align: right; white-space: nowrap; }
thead { background: #f3f3f3; }
figure.plot { margin: .8em 0; } figure.plot svg { max-width: 100%; height: auto; }
figcaption { font-size: .85em; color: #555; }
"""

_REPORT_JS = """
(function () {
  var toc = document.getElementById('toc');
  var title = document.createElement('b');
  title.textContent = 'Contents';
  toc.appendChild(title);
  document.querySelectorAll('main h2').forEach(function (h) {
    var a = document.createElement('a');
    a.href = '#' + h.id;
    a.textContent = h.textContent;
    toc.appendChild(a);
  });
  document.body.dataset.plots = String(document.querySelectorAll('figure.plot svg').length);
  document.body.dataset.ready = '1';
})();
"""


def _pm(stat: tuple[float, float] | None, n: int, scale: float = 100, digits: int = 2) -> str:
    if stat is None:
        return "\u2013"
    mean, std = stat
    return f"{scale * mean:.{digits}f}" + (f" \u00b1 {scale * std:.{digits}f}" if n > 1 else "")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _collapsed(r: RunInfo, key: str) -> float | None:
    return r.test["collapsed"][key]["accuracy"] if "collapsed" in r.test else None


def _extrap(r: RunInfo) -> float | None:
    return r.evals["extrap"]["root"]["accuracy"] if "extrap" in r.evals else None


def _group_cells(g: Group) -> dict[str, str]:
    """The table cells a group has in both the summary and its task's table."""
    n = len(g.runs)
    return {"root": _pm(g.stat(lambda r: r.test["root"]["accuracy"]), n),
            "all": _pm(g.stat(lambda r: r.test["all"]["accuracy"]), n),
            "binary root": _pm(g.stat(lambda r: _collapsed(r, "root")), n),
            "binary all": _pm(g.stat(lambda r: _collapsed(r, "all")), n),
            "s/epoch": _pm(g.stat(lambda r: r.seconds_per_epoch), n, 1, 2),
            "parameters": f"{int(np.mean([r.config.get('parameters', 0) for r in g.runs])):,}"}


def build_report(runs: Sequence[RunInfo], skipped: Sequence[tuple[str, str]],
                 n_boot: int = N_BOOTSTRAP, plots: bool = True
                 ) -> tuple[Report, list[Comparison]]:
    """Analyse the runs; the report and its paired comparisons (for printing)."""
    from treenn.data.tasks import get_task
    from treenn.show import task_short_names

    groups, notes = group_runs(runs)
    rep = Report()
    rep.add("h1", "Tree models against sequence models")
    rep.add("p", f"{len(runs)} finished runs in {len(groups)} model/task groups; test-set "
            "accuracy of each run's best epoch (by dev root accuracy), mean \u00b1 standard "
            "deviation over seeds, in percent.")
    task_keys = list(dict.fromkeys(g.task_key for g in groups))
    comparisons: list[Comparison] = []

    rep.add("h2", "Summary")
    rows = []
    for g in groups:
        c = _group_cells(g)
        rows.append([g.task_key, g.label, "tree" if g.is_tree else "sequence", len(g.runs),
                     c["root"], c["all"], c["binary root"], c["binary all"], c["s/epoch"],
                     c["parameters"]])
    if rows:
        rep.add("table", ["task", "model", "kind", "seeds", "root acc", "all-phrase acc",
                          "binary root", "binary all", "s/epoch", "parameters"], rows)
        rep.add("p", "Root: the sentence (or expression) label. All-phrase: every labelled "
                "node. Binary (5-class SST only): negative vs positive, gold-neutral nodes "
                "left out, the prediction being the larger summed probability. s/epoch: "
                "training time per epoch (machines may differ between runs).")
    else:
        rep.add("p", "No finished runs to compare.")

    rep.add("h2", "Significance (paired, same test sentences)")
    statements = []
    for key in task_keys:
        tg = [g for g in groups if g.task_key == key and g.is_tree]
        sg = [g for g in groups if g.task_key == key and not g.is_tree]
        if not tg or not sg:
            statements.append(f"{key}: no {'sequence' if tg else 'tree'} model to compare "
                              "against.")
            continue
        best = max(sg, key=lambda g: g.dev_root_acc)
        for g in tg:
            c = compare_groups(g, best, n_boot)
            comparisons.append(c)
            statements.append(f"{key}: {c.sentence()}")
    rep.add("list", statements)
    rep.add("p", "Each tree model is compared with the best sequence model of its task (by mean "
            "dev root accuracy of the kept epochs). Difference: root accuracy in points, per "
            "sentence averaged over seeds; CI: paired percentile bootstrap over test sentences "
            f"({n_boot} resamples, seed {BOOTSTRAP_SEED}); McNemar: exact two-sided test on "
            "each pair of runs with the same seed, the largest p reported. 'Beats' means the "
            f"CI excludes 0 and McNemar p < {ALPHA}.")

    for key in task_keys:
        tgroups = [g for g in groups if g.task_key == key]
        task = get_task(tgroups[0].task)
        rep.add("h2", f"Task {key}")
        header = ["model", "seeds", "root acc", "all-phrase acc"]
        has_coll = any("collapsed" in r.test for g in tgroups for r in g.runs)
        has_extrap = any("extrap" in r.evals for g in tgroups for r in g.runs)
        header += ["binary root", "binary all"] if has_coll else []
        header += ["longer (extrap) root"] if has_extrap else []
        header += ["best epoch", "s/epoch", "parameters"]
        rows = []
        for g in tgroups:
            c = _group_cells(g)
            row = [g.label, len(g.runs), c["root"], c["all"]]
            if has_coll:
                row += [c["binary root"], c["binary all"]]
            if has_extrap:
                row.append(_pm(g.stat(_extrap), len(g.runs)))
            best_epochs = [max(r.metrics, key=lambda m: m["dev_root_acc"])["epoch"]
                           for r in g.runs]
            row += ["/".join(map(str, best_epochs)), c["s/epoch"], c["parameters"]]
            rows.append(row)
        rep.add("table", header, rows)

        sents = tgroups[0].runs[0].sentences
        for what, col, xlabel in (("length", "length", "sentence length (words)"),
                                  ("depth", "height", "tree depth (nodes on longest path)")):
            rep.add("h3", f"Root accuracy by {what}")
            edges = bucket_edges(sents[col])
            labels = bucket_labels(edges, int(sents[col].max()))
            series, counts = {}, []
            for g in tgroups:
                accs, counts = bucket_accuracy(g.mean_correct(), sents[col], edges)
                series[g.label] = accs
            rep.add("table", [f"{what} \u2192", *labels],
                    [["sentences", *counts]]
                    + [[name, *(f"{100 * a:.1f}" if a == a else "\u2013" for a in accs)]
                       for name, accs in series.items()])
            if plots:
                rep.add("plot", f"{_slug(key)}-by-{what}.svg",
                        plot_buckets(f"{key}: root accuracy by {what}", xlabel, labels, series,
                                     counts), f"{key}: root accuracy by {what}")

        rep.add("h3", "Confusion matrices (root labels, summed over seeds; rows gold)")
        for g in tgroups:
            m = np.sum([np.asarray(r.test["root"]["confusion"]) for r in g.runs], axis=0)
            rep.add("p", f"{g.label}:")
            rep.add("table", ["gold \\ predicted", *task.class_names],
                    [[name, *row] for name, row in zip(task.class_names, m.tolist(),
                                                       strict=True)])
        if plots:
            rep.add("plot", f"{_slug(key)}-confusion.svg",
                    plot_confusions(f"{key}: root confusion (colour: row-normalised)",
                                    tgroups, task_short_names(task)),
                    f"{key}: confusion matrices")
            rep.add("h3", "Learning curves")
            rep.add("plot", f"{_slug(key)}-curves.svg",
                    plot_curves(f"{key}: learning curves (mean over seeds, band: min-max)",
                                tgroups), f"{key}: learning curves")

    rep.add("h2", "Runs")
    rep.add("table", ["run", "task", "model", "seed", "epochs", "test root acc"],
            [[str(r.path), r.task, r.label, r.seed, len(r.metrics),
              f"{100 * r.test['root']['accuracy']:.2f}"] for g in groups for r in g.runs])
    rep.add("h2", "Skipped and notes")
    items = [f"skipped {path}: {reason}" for path, reason in skipped] + notes
    rep.add("list", items or ["nothing skipped"])
    return rep, comparisons


def write_report(rep: Report, out_dir: str | Path) -> tuple[Path, Path]:
    """``report.md``, ``report.html`` (plots inline) and ``plots/*.svg`` under ``out_dir``."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for name, svg in rep.plots():
        (out / "plots" / name).write_text(svg, encoding="utf-8")
    md, page = out / "report.md", out / "report.html"
    md.write_text(rep.markdown(), encoding="utf-8")
    page.write_text(rep.html("treenn: tree vs sequence comparison"), encoding="utf-8")
    return md, page


# ----------------------------------------------------------------------------- grid


def _split_names(text: str, known: Sequence[str], what: str) -> list[str]:
    from treenn.errors import TreennError

    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise TreennError(f"unknown {what} {', '.join(bad) or '(none given)'}; choose from "
                          f"{', '.join(known)}")
    return names


def grid_configs(args: argparse.Namespace) -> list:
    """One :class:`TrainConfig` per task x model x seed, under ``OUT/runs``."""
    from treenn.arguments import LISTOPS_FLAGS
    from treenn.data.tasks import TASKS
    from treenn.errors import TreennError
    from treenn.models import MODELS
    from treenn.training import TrainConfig

    if args.seeds is None or args.seeds < 1:
        raise TreennError("--seeds must be at least 1")
    tasks = _split_names(args.tasks, list(TASKS), "task")
    models = _split_names(args.models or "", list(MODELS), "model")
    listops = {key: getattr(args, flag[2:].replace("-", "_"))
               for flag, (key, _) in LISTOPS_FLAGS.items()
               if getattr(args, flag[2:].replace("-", "_")) is not None}
    out = []
    for task in tasks:
        for model in models:
            for seed in range(1, args.seeds + 1):
                out.append(TrainConfig(
                    task=task, model=model, out=str(Path(args.out) / "runs" /
                                                    f"{task}-{model}-s{seed}"),
                    data_dir=args.data_dir if task.startswith("sst") else None,
                    embeddings=args.embeddings if task.startswith("sst") else None,
                    epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    x_size=args.x_size, h_size=args.h_size, seed=seed, threads=args.threads,
                    device=args.device, progress=not args.quiet,
                    listops=listops if task == "listops" else {}))
    return out


def grid_action(cfg) -> str:
    """``reuse`` (finished), ``resume`` (interrupted or fewer epochs) or ``train`` (new)."""
    from treenn.errors import TreennError
    from treenn.runs import read_metrics, read_run_config
    from treenn.training import TrainConfig

    run_dir = Path(cfg.out)
    info = read_run_config(run_dir) if (run_dir / "last.pt").is_file() else None
    if info is None:
        return "train"
    saved = TrainConfig.from_dict(info["train"]).resolved().__dict__
    want = cfg.resolved()
    # every setting that makes a different model (as the report groups runs), and the seed;
    # more epochs are what resuming is for
    for key in [k for k in saved if k not in NOT_VARIANT and k != "epochs"] + ["seed"]:
        if saved[key] != getattr(want, key):
            raise TreennError(f"{run_dir} was trained with {key}={saved[key]!r}, not "
                              f"{getattr(want, key)!r}; remove it or choose another --out")
    if ((saved["data_dir"] is None) != (want.data_dir is None)
            or (want.data_dir and Path(saved["data_dir"]).resolve()
                != Path(want.data_dir).resolve())):
        raise TreennError(f"{run_dir} was trained on data_dir={saved['data_dir']!r}, not "
                          f"{want.data_dir!r}; remove it or choose another --out")
    done = len(read_metrics(run_dir))
    if done < want.epochs or not (run_dir / "eval-test.json").is_file():
        return "resume"
    return "reuse"


def run_grid(args: argparse.Namespace) -> list[Path]:
    """Train (or resume, or reuse) every run of the grid, one after the other."""
    from treenn.training import train

    words = {"reuse": "finished, reused", "resume": "resuming", "train": "training"}
    configs = grid_configs(args)
    actions = [grid_action(cfg) for cfg in configs]  # refuse mismatched runs before training
    for i, (cfg, action) in enumerate(zip(configs, actions, strict=True), start=1):
        print(f"[{i}/{len(configs)}] {cfg.task} {cfg.model} seed {cfg.seed}: {words[action]} "
              f"({cfg.out})", flush=True)
        if action == "train":
            train(cfg)
        elif action == "resume":
            # Resuming keeps the run's saved settings; only the epoch count comes from here.
            train(replace(cfg, epochs=cfg.resolved().epochs), resume=True)
    return [Path(c.out) for c in configs]


# ----------------------------------------------------------------------------- command


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train.py compare``."""
    from treenn.arguments import LISTOPS_FLAGS

    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                   help="finished runs to compare (a folder of runs stands for all of them)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR",
                   help="where report.md, report.html and plots/ go (grid runs: runs/)")
    p.add_argument("--bootstrap", type=int, default=N_BOOTSTRAP, metavar="N",
                   help=f"bootstrap resamples (default {N_BOOTSTRAP})")
    g = p.add_argument_group("grid: train what is compared (runs go to REPORT_DIR/runs/"
                             "<task>-<model>-s<seed>; finished runs are reused, interrupted "
                             "ones resumed)")
    g.add_argument("--tasks", metavar="T1,T2", help="e.g. sst5,sst2,listops")
    g.add_argument("--models", metavar="M1,M2", help="e.g. tree-lstm,lstm,bilstm")
    g.add_argument("--seeds", type=int, metavar="N", help="seeds 1..N (default 1)")
    g.add_argument("--data-dir", metavar="SST_DIR", help="SST folder (default: download)")
    g.add_argument("--embeddings", metavar="PATH|glove-6b-50d", help="SST tasks only")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--x-size", type=int, help="embedding size")
    g.add_argument("--h-size", type=int, help="hidden size")
    g.add_argument("--threads", type=int, help="torch intra-op threads")
    g.add_argument("--device", default="cpu")
    for flag, (_, help_) in LISTOPS_FLAGS.items():
        g.add_argument(flag, type=int, help=f"ListOps generator: {help_}")


def run(args: argparse.Namespace) -> int:
    """``train.py compare``: (train the grid,) analyse the runs, write the report."""
    from treenn.errors import TreennError

    if args.bootstrap < 100:
        raise TreennError("--bootstrap must be at least 100")
    try:
        import matplotlib  # noqa: F401  (the plots need it; fail before any training)
    except ImportError:
        raise TreennError("compare draws its plots with matplotlib: pip install matplotlib"
                          ) from None
    paths: list[str | Path] = list(args.run_dirs)
    if args.tasks or args.models:
        if not (args.tasks and args.models):
            raise TreennError("grid mode needs both --tasks and --models")
        if args.seeds is None:
            args.seeds = 1
        paths = [*run_grid(args), *paths]
    elif args.seeds is not None:
        raise TreennError("--seeds is for grid mode (with --tasks and --models)")
    if not paths:
        raise TreennError("give run directories to compare, or --tasks and --models to "
                          "train a grid")
    runs, skipped = collect_runs(paths)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}")
    if not runs:
        raise TreennError("no finished runs to compare")
    rep, comparisons = build_report(runs, skipped, args.bootstrap)
    md, page = write_report(rep, args.out)
    table = next(b for b in rep.blocks if b[0] == "table")
    widths = [max(len(str(x)) for x in col) for col in zip(table[1], *table[2], strict=True)]
    for row in [table[1], *table[2]]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
    for c in comparisons:
        print(f"{c.task_key}: {c.sentence()}")
    print(f"wrote {md} and {page}")
    return 0

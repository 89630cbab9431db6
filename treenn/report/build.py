"""The comparison report assembled from finished runs, and written to disk."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from treenn.metrics import accuracy_by_group
from treenn.report.analysis import Comparison, Group, compare_groups, group_runs
from treenn.report.collect import RunInfo
from treenn.report.document import Report
from treenn.report.plots import plot_buckets, plot_confusions, plot_curves
from treenn.report.stats import (
    ALPHA,
    BOOTSTRAP_SEED,
    N_BOOTSTRAP,
    bucket_accuracy,
    bucket_edges,
    bucket_labels,
)


def build_report(runs: Sequence[RunInfo], skipped: Sequence[tuple[str, str]],
                 n_boot: int = N_BOOTSTRAP, plots: bool = True
                 ) -> tuple[Report, list[Comparison]]:
    """Analyse the runs; the report and its paired comparisons (for printing)."""
    groups, notes = group_runs(runs)
    rep = Report()
    rep.add("h1", "Tree models against sequence models")
    rep.add("p", f"{len(runs)} finished runs in {len(groups)} model/task groups; test-set "
            "accuracy of each run's best epoch (by dev root accuracy), mean \u00b1 standard "
            "deviation over seeds, in percent.")
    task_keys = list(dict.fromkeys(g.task_key for g in groups))
    _add_summary(rep, groups)
    comparisons = _add_significance(rep, groups, task_keys, n_boot)
    for key in task_keys:
        _add_task(rep, key, [g for g in groups if g.task_key == key], plots)
    _add_induced(rep, groups)
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


# ----------------------------------------------------------------------------- sections


def _add_summary(rep: Report, groups: Sequence[Group]) -> None:
    """One row per model and task."""
    rep.add("h2", "Summary")
    rows = []
    for g in groups:
        c = _group_cells(g)
        rows.append([g.task_key, g.label, _kind(g), len(g.runs),
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


def _add_significance(rep: Report, groups: Sequence[Group], task_keys: Sequence[str],
                      n_boot: int) -> list[Comparison]:
    """Each tree model against the best sequence model of its task; the comparisons."""
    rep.add("h2", "Significance (paired, same test sentences)")
    statements, comparisons = [], []
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
    return comparisons


def _add_task(rep: Report, key: str, tgroups: Sequence[Group], plots: bool) -> None:
    """A task's (test set's) own section: its table, buckets, confusions and curves."""
    from treenn.data.tasks import get_task

    task = get_task(tgroups[0].task)
    rep.add("h2", f"Task {key}")
    _add_task_table(rep, tgroups)
    _add_buckets(rep, key, tgroups, plots)
    if task.group_name and all("group" in r.sentences for g in tgroups for r in g.runs):
        _add_sentence_groups(rep, task.group_name, tgroups)
    rep.add("h3", "Confusion matrices (root labels, summed over seeds; rows gold)")
    for g in tgroups:
        m = np.sum([np.asarray(r.test["root"]["confusion"]) for r in g.runs], axis=0)
        rep.add("p", f"{g.label}:")
        rep.add("table", ["gold \\ predicted", *task.class_names],
                [[name, *row] for name, row in zip(task.class_names, m.tolist(), strict=True)])
    if plots:
        from treenn.show import task_short_names

        rep.add("plot", f"{_slug(key)}-confusion.svg",
                plot_confusions(f"{key}: root confusion (colour: row-normalised)",
                                tgroups, task_short_names(task)),
                f"{key}: confusion matrices")
        rep.add("h3", "Learning curves")
        rep.add("plot", f"{_slug(key)}-curves.svg",
                plot_curves(f"{key}: learning curves (mean over seeds, band: min-max)",
                            tgroups), f"{key}: learning curves")


def _add_task_table(rep: Report, tgroups: Sequence[Group]) -> None:
    """One row per model of the task; the binary and extrapolation columns where any run has
    them."""
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


def _add_buckets(rep: Report, key: str, tgroups: Sequence[Group], plots: bool) -> None:
    """Root accuracy by sentence length and by tree depth, as tables (and plots)."""
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


def _add_sentence_groups(rep: Report, name: str, tgroups: Sequence[Group]) -> None:
    """Root accuracy by the task's sentence group (ListOps: the root operator)."""
    of = tgroups[0].runs[0].sentences["group"]  # one test set: the same for every run
    by = [accuracy_by_group(of, g.mean_correct()) for g in tgroups]
    rep.add("h3", f"Root accuracy by {name}")
    rows = [["sentences", *(n for _, n in by[0].values())]]
    rows += [[g.label, *(f"{100 * acc:.1f}" for acc, _ in b.values())]
             for g, b in zip(tgroups, by, strict=True)]
    rep.add("table", [f"{name} \u2192", *by[0]], rows)


# ----------------------------------------------------------------------------- cells


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


def _kind(g: Group) -> str:
    """tree (gold trees), latent (its own trees) or sequence."""
    from treenn.models import MODELS

    spec = MODELS.get(g.runs[0].model)
    return spec.kind if spec else ("tree" if g.is_tree else "sequence")


def _add_induced(rep: Report, groups: Sequence[Group]) -> None:
    """Latent-tree models: their trees against the gold trees of the test split."""
    rows = []
    for g in groups:
        scored = [r for r in g.runs if "induced_trees" in r.test]
        if _kind(g) != "latent" or not scored:
            continue
        cells = [_pm(g.stat(lambda r, k=k: r.test["induced_trees"][k]["f1"]
                            if "induced_trees" in r.test else None), len(scored))
                 for k in ("induced", "right-branching", "left-branching")]
        cells.append(_pm(g.stat(lambda r: r.test["on_gold_trees"]["root_accuracy"]
                                if "on_gold_trees" in r.test else None),
                         sum("on_gold_trees" in r.test for r in scored)))
        rows.append([g.task_key, g.label, len(scored), *cells])
    if rows:
        rep.add("h2", "Induced trees")
        rep.add("table", ["task", "model", "runs", "unlabelled F1", "right-branching",
                          "left-branching", "root accuracy on the gold trees"], rows)
        rep.add("p", "Unlabelled F1 of the trees latent-tree models build, against the test "
                "split's gold trees: spans of two or more words, the whole sentence left out, "
                "summed over the split; and the models' root accuracy when made to read the "
                "gold trees instead of their own, with their cell and classifier "
                "(`train.py evaluate RUN --split test` writes both).")


def _group_cells(g: Group) -> dict[str, str]:
    """The table cells a group has in both the summary and its task's table."""
    n = len(g.runs)
    return {"root": _pm(g.stat(lambda r: r.test["root"]["accuracy"]), n),
            # latent-tree models are scored on sentences only: no all-phrase figure
            "all": "\u2013" if _kind(g) == "latent" else _pm(
                g.stat(lambda r: r.test["all"]["accuracy"]), n),
            "binary root": _pm(g.stat(lambda r: _collapsed(r, "root")), n),
            "binary all": "\u2013" if _kind(g) == "latent" else _pm(
                g.stat(lambda r: _collapsed(r, "all")), n),
            "s/epoch": _pm(g.stat(lambda r: r.seconds_per_epoch), n, 1, 2),
            "parameters": f"{int(np.mean([r.config.get('parameters', 0) for r in g.runs])):,}"}

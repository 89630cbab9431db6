#!/usr/bin/env python3
"""Markdown tables from finished run directories: ``scripts/results_table.py RUN_DIR...``.

Runs are grouped by (task, model, embeddings, sizes); each group shows the mean and standard
deviation over its seeds, and the single-seed figures, for the test split's root and
all-node accuracy (and the extrapolation split where the task has one). Every figure is read
from the runs' ``eval-<split>.json`` files; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def describe(run: Path) -> dict | None:
    config = json.loads((run / "config.json").read_text())
    if not (run / "eval-test.json").is_file():
        print(f"skipping {run}: no eval-test.json (unfinished run)", file=sys.stderr)
        return None
    train, model = config["train"], config["model"]
    emb = Path(train["embeddings"]).name if train.get("embeddings") else "random"
    name = model["model"]
    if name == "lstm" and model["layers"] > 1:
        name = f"{model['layers']}-layer lstm"
    evals = {split: json.loads((run / f"eval-{split}.json").read_text())
             for split in ("dev", "test", "extrap") if (run / f"eval-{split}.json").is_file()}
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {
        "run": str(run), "task": train["task"], "model": name, "embeddings": emb,
        "sizes": f"x={model['x_size']} h={model['h_size']}", "seed": train["seed"],
        "training": (f"{train['optimizer']} lr={train['lr']:g} emb_lr={train['emb_lr']:g} "
                     f"dropout={train['dropout']:g} batch={train['batch_size']} "
                     f"epochs={train['epochs']}"),
        "engine": model["engine"], "params": config["parameters"],
        "epoch_s": statistics.mean(m["train_time_s"] for m in metrics),
        "seq_train": train["seq_train"] if name not in ("tree-lstm", "childsum-tree-lstm",
                                                        "recnn", "rntn") else "-",
        **{f"{split}_{kind}": 100 * ev[kind]["accuracy"]
           for split, ev in evals.items() for kind in ("root", "all")},
    }


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    rows = [r for r in (describe(run) for run in args.runs) if r]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["task"], row["model"], row["embeddings"], row["sizes"], row["training"],
                row["seq_train"], row["engine"])].append(row)
    extrap = any("extrap_root" in r for r in rows)
    head = ["task", "model", "embeddings", "sizes", "training", "seq. training", "engine",
            "seeds",
            "test root", "test all", "dev root"]
    if extrap:
        head.append("longer (extrap.)")
    head += ["single seeds (test root)", "s/epoch", "params"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, members in groups.items():
        members.sort(key=lambda r: r["seed"])
        cells = [*key, str(len(members)),
                 mean_std([r["test_root"] for r in members]),
                 mean_std([r["test_all"] for r in members]),
                 mean_std([r["dev_root"] for r in members])]
        if extrap:
            cells.append(mean_std([r["extrap_root"] for r in members])
                         if "extrap_root" in members[0] else "-")
        cells += [", ".join(f"{r['test_root']:.2f} (seed {r['seed']})" for r in members),
                  f"{statistics.mean(r['epoch_s'] for r in members):.1f}",
                  f"{members[0]['params']:,}"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``treenn demo``, the quick start: a Tree-LSTM on generated ListOps's gold trees against an
LSTM on the same tokens, then their comparison (no download)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from treenn.errors import TreennError

DEMO_LISTOPS = {"n_train": 10000, "n_dev": 500, "n_test": 1000, "n_extrap": 500,
                "max_depth": 4, "max_args": 4, "min_length": 6, "max_length": 40,
                "extrap_max_depth": 6, "extrap_max_length": 80, "seed": 7}


def run(args) -> int:
    """Generated ListOps: a Tree-LSTM against an LSTM, then their comparison."""
    from treenn.report import grid_action
    from treenn.report.collect import SkipRun, load_run
    from treenn.runs import read_eval
    from treenn.training import TrainConfig, train

    out = Path(args.out)
    print("treenn demo: ListOps (generated, no download). Tree-LSTM on the gold trees vs an "
          "LSTM on the same tokens.\nData: "
          + ", ".join(f"{k}={v}" for k, v in DEMO_LISTOPS.items()), flush=True)
    rows = []
    for model in ("tree-lstm", "lstm"):
        cfg = TrainConfig(task="listops", model=model, out=str(out / model),
                          epochs=args.epochs, listops=DEMO_LISTOPS, seed=1,
                          progress=not args.quiet)
        t0 = time.perf_counter()
        run = out / model
        action = grid_action(cfg)  # refuses a run trained with other settings
        if action == "reuse":
            print(f"\n== {model}: finished earlier in {run}, reusing it ==", flush=True)
            results = {s: read_eval(run, s) for s in ("dev", "test", "extrap")}
        else:
            print(f"\n== {'resuming' if action == 'resume' else 'training'} {model} "
                  f"({args.epochs} epochs) ==", flush=True)
            # "train": nothing finished there (grid_action); leftovers of an epoch that never
            # finished are replaced
            results = train(cfg, resume=action == "resume", overwrite=action == "train")
        try:  # the report's reader checks what the table needs (a reused run may be damaged)
            info = load_run(run)
        except SkipRun as err:
            raise TreennError(str(err)) from None
        rows.append((model, results, time.perf_counter() - t0,
                     sum(m["train_time_s"] for m in info.metrics) / len(info.metrics),
                     info.config["parameters"]))
    print("\nListOps, best epoch by dev accuracy (root = the expression's value):\n")
    print(f"{'model':<11} {'dev':>7} {'test':>7} {'longer':>7} {'s/epoch':>8} "
          f"{'params':>8} {'total s':>8}")
    for model, res, total, per_epoch, params in rows:
        print(f"{model:<11} {100 * res['dev']['root']['accuracy']:6.2f}% "
              f"{100 * res['test']['root']['accuracy']:6.2f}% "
              f"{100 * res['extrap']['root']['accuracy']:6.2f}% {per_epoch:8.1f} "
              f"{params:8d} {total:8.0f}")
    print("\n'longer' is the extrapolation split: expressions longer and deeper than any seen in "
          f"training.\nRuns are in {out}/; try: {command_name()} evaluate {out}/tree-lstm "
          "--split test")
    return 0


def command_name() -> str:
    """How to call this program again from the current directory: the ``treenn`` script next
    to this Python (e.g. ``.venv/bin/treenn`` after ``make demo``), by the shortest path."""
    script = Path(sys.executable).parent / "treenn"
    if not script.is_file():
        return f"{sys.executable} -m treenn.cli"
    if shutil.which("treenn") == str(script):
        return "treenn"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else str(script)

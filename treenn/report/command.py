"""``train.py compare``: its arguments and what it does with them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from treenn.report.analysis import Comparison
from treenn.report.build import build_report, write_report
from treenn.report.collect import collect_runs
from treenn.report.document import Report
from treenn.report.grid import run_grid
from treenn.report.stats import N_BOOTSTRAP


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train.py compare``."""
    from treenn.arguments import (
        add_listops_arguments,
        config_type,
        device_name,
        int_in,
        output_dir,
    )
    from treenn.training import TrainConfig

    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                   help="finished runs to compare (a folder of runs stands for all of them)")
    p.add_argument("--out", required=True, type=output_dir, metavar="REPORT_DIR",
                   help="where report.md, report.html and plots/ go (grid runs: runs/)")
    p.add_argument("--bootstrap", type=int_in(100, 10_000_000), default=N_BOOTSTRAP,
                   metavar="N",
                   help=f"bootstrap resamples (default {N_BOOTSTRAP})")
    g = p.add_argument_group("grid: train what is compared (runs go to REPORT_DIR/runs/"
                             "<task>-<model>-s<seed>; finished runs are reused, interrupted "
                             "ones resumed)")
    g.add_argument("--tasks", metavar="T1,T2", help="e.g. sst5,sst2,listops")
    g.add_argument("--models", metavar="M1,M2", help="e.g. tree-lstm,lstm,bilstm")
    g.add_argument("--seeds", type=int_in(1, 1000), metavar="N", help="seeds 1..N (default 1)")
    g.add_argument("--data-dir", metavar="SST_DIR", help="SST folder (default: download)")
    g.add_argument("--embeddings", metavar="PATH|glove-6b-50d", help="SST tasks only")
    # typed and ranged as train's flags of the same names
    g.add_argument("--epochs", type=config_type(TrainConfig, "epochs"))
    g.add_argument("--batch-size", type=config_type(TrainConfig, "batch_size"))
    g.add_argument("--lr", type=config_type(TrainConfig, "lr"))
    g.add_argument("--x-size", type=config_type(TrainConfig, "x_size"), help="embedding size")
    g.add_argument("--h-size", type=config_type(TrainConfig, "h_size"), help="hidden size")
    g.add_argument("--threads", type=config_type(TrainConfig, "threads"),
                   help="torch intra-op threads")
    g.add_argument("--device", type=device_name, default="cpu")
    add_listops_arguments(g, default=None, prefix="ListOps generator: ")


def run(args: argparse.Namespace) -> int:
    """``train.py compare``: (train the grid,) analyse the runs, write the report."""
    from treenn.errors import TreennError

    try:
        import matplotlib  # noqa: F401  (the plots need it; fail before any training)
    except ImportError:
        raise TreennError("compare draws its plots with matplotlib: pip install matplotlib"
                          ) from None
    runs, skipped = collect_runs(_paths_to_compare(args))
    for path, reason in skipped:
        print(f"skipped {path}: {reason}")
    if not runs:
        why = (f": {skipped[0][1]}" if len(skipped) == 1
               else f" ({len(skipped)} skipped, see above)" if skipped else "")
        raise TreennError(f"no finished runs to compare{why}")
    rep, comparisons = build_report(runs, skipped, args.bootstrap)
    md, page = write_report(rep, args.out)
    _print_summary(rep, comparisons)
    print(f"wrote {md} and {page}")
    return 0


def _paths_to_compare(args: argparse.Namespace) -> list[str | Path]:
    """The grid's runs (trained first) and the run directories given."""
    from treenn.errors import TreennError

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
    return paths


def _print_summary(rep: Report, comparisons: Sequence[Comparison]) -> None:
    """The report's first table (the summary) as aligned text, then the paired tests."""
    table = next(b for b in rep.blocks if b[0] == "table")
    widths = [max(len(str(x)) for x in col) for col in zip(table[1], *table[2], strict=True)]
    for row in [table[1], *table[2]]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
    for c in comparisons:
        print(f"{c.task_key}: {c.sentence()}")

"""The grid of ``train.py compare --tasks ... --models ... --seeds N``: one run per task x
model x seed under ``REPORT_DIR/runs``, trained, resumed or reused."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from treenn.report.collect import NOT_VARIANT


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
    from treenn.arguments import LISTOPS_FLAGS, dest
    from treenn.data.tasks import TASKS
    from treenn.errors import TreennError
    from treenn.models import MODELS
    from treenn.training import TrainConfig

    if args.seeds is None or args.seeds < 1:
        raise TreennError("--seeds must be at least 1")
    classification = [name for name, task in TASKS.items() if task.kind == "classification"]
    tasks = _split_names(args.tasks, classification, "task")
    models = _split_names(args.models or "", list(MODELS), "model")
    listops = {key: getattr(args, dest(flag)) for flag, (key, _) in LISTOPS_FLAGS.items()
               if getattr(args, dest(flag)) is not None}
    if listops and "listops" not in tasks:
        given = [flag for flag in LISTOPS_FLAGS if getattr(args, dest(flag)) is not None]
        raise TreennError(f"{', '.join(given)}: not read by --tasks {','.join(tasks)} (those "
                          "flags are for listops)")
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
    """``reuse`` (finished), ``resume`` (interrupted or fewer epochs) or ``train`` (new, or
    only the leftovers of a first epoch that never finished: nothing to lose)."""
    from treenn.errors import TreennError
    from treenn.runs import RunDir, read_metrics, read_run_config, read_train_config
    from treenn.training import TrainConfig

    run_dir = Path(cfg.out)
    info = read_run_config(run_dir) if (run_dir / "last.pt").is_file() else None
    if info is None:
        if RunDir(run_dir).holds_results():
            raise TreennError(f"{run_dir} holds a run without last.pt (it cannot be resumed); "
                              "remove it or choose another --out")
        return "train"
    saved = read_train_config(run_dir, TrainConfig).resolved().__dict__
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
            train(cfg, overwrite=True)  # only an unfinished first epoch's files (grid_action)
        elif action == "resume":
            # Resuming keeps the run's saved settings; only the epoch count comes from here.
            train(replace(cfg, epochs=cfg.resolved().epochs), resume=True)
    return [Path(c.out) for c in configs]

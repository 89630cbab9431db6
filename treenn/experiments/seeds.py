"""Parser runs that differ only in their seed, side by side:
``python -m treenn.experiments.seeds RUN_DIR... [--json PATH]``.

For each finished parser run (``eval-dev.json`` and ``eval-test.json`` written at the end of
training) the command prints its seed, best epoch (by dev labelled F1, the epoch ``best.pt``
holds) and evalb F1 on dev and test. Runs whose training settings are the same but for the
seed (and where or how fast they ran) form one configuration; for each it prints the mean and
the sample standard deviation over seeds, and the run that dev labelled F1 chooses: the one
whose test figures stand for the configuration, chosen without looking at test. Nothing in
the run directories is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from treenn.errors import TreennError, run_main
from treenn.experiments.tools import write_figures
from treenn.parsers.training import ParserTrainConfig
from treenn.report.collect import NOT_VARIANT
from treenn.report.stats import mean_std
from treenn.runs import read_eval, read_metrics, read_run_config, read_train_config

SPLITS = ("dev", "test")
MEASURES = ("labelled", "unlabelled")


@dataclass
class ParserRun:
    path: str
    seed: int
    best_epoch: int | None  # None for the PCFG (estimated, not trained in epochs)
    f1: dict[str, dict[str, float]]  # split -> measure -> F1 in [0, 1]
    settings: dict = field(repr=False)


def load_parser_run(run_dir: str | Path) -> ParserRun:
    """A finished parser run, or a one-line ``TreennError`` saying why it is not one. Its
    figures are its own evaluations (best.pt on the run's own data: the loaders refuse
    others), never an ``eval-<split>@...json`` of other data."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    if config is None:
        raise TreennError(f"{run_dir}: not a run directory (no config.json)")
    if config.get("kind") != "parser":
        raise TreennError(f"{run_dir}: not a parser run (train.py train --task ptb)")
    train = asdict(read_train_config(run_dir, ParserTrainConfig))
    seed = train["seed"]
    f1 = {}
    for split in SPLITS:
        scores = read_eval(run_dir, split)
        if "labelled" not in scores:
            raise TreennError(f"{run_dir / f'eval-{split}.json'}: not a parser evaluation")
        f1[split] = {m: float(scores[m]["f1"]) for m in MEASURES}
    metrics = [m for m in read_metrics(run_dir) if "dev_labelled_f1" in m]
    best_epoch = None
    if metrics:  # the first epoch with the highest dev F1, as training keeps it
        best_epoch = int(max(metrics, key=lambda m: m["dev_labelled_f1"])["epoch"])
    return ParserRun(str(run_dir), seed, best_epoch, f1,
                     {k: v for k, v in train.items() if k not in NOT_VARIANT})


def group_by_settings(runs: list[ParserRun]) -> list[list[ParserRun]]:
    """Runs with equal settings, in order of first appearance, each group sorted by seed."""
    groups: dict[str, list[ParserRun]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r.settings, sort_keys=True), []).append(r)
    return [sorted(g, key=lambda r: (r.seed, r.path)) for g in groups.values()]


def chosen_by_dev(group: list[ParserRun]) -> ParserRun:
    """The run of best dev labelled F1 (ties: the lowest seed)."""
    return max(group, key=lambda r: (r.f1["dev"]["labelled"], -r.seed))


def summarise(group: list[ParserRun]) -> dict:
    """Mean and sample standard deviation (0 for one run) of every F1, and the chosen run."""
    out: dict = {"runs": [r.path for r in group], "seeds": [r.seed for r in group],
                 "chosen_by_dev": chosen_by_dev(group).path}
    for split in SPLITS:
        for m in MEASURES:
            mean, sd = mean_std([r.f1[split][m] for r in group])
            out[f"{split}_{m}_f1"] = {"mean": mean, "sd": sd}
    return out


def _pct(x: float) -> str:
    return f"{100 * x:6.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m treenn.experiments.seeds", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="finished parser runs")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    runs = [load_parser_run(p) for p in args.run_dirs]
    width = max(len("run"), *(len(r.path) for r in runs))
    print(f"{'run':<{width}} {'seed':>4} {'best epoch':>10} {'dev L':>6} {'dev U':>6} "
          f"{'test L':>6} {'test U':>6}")
    for r in runs:
        epoch = "-" if r.best_epoch is None else str(r.best_epoch)
        f1 = " ".join(_pct(r.f1[split][m]) for split in SPLITS for m in MEASURES)
        print(f"{r.path:<{width}} {r.seed:>4} {epoch:>10} {f1}")
    print("(evalb F1 from eval-dev.json and eval-test.json; L labelled, U unlabelled)")
    summaries = []
    for group in group_by_settings(runs):
        s = summarise(group)
        summaries.append({"settings": group[0].settings, **s})
        if len(group) == 1:
            continue
        chosen = next(r for r in group if r.path == s["chosen_by_dev"])
        print(f"\nthe settings of {group[0].path}: {len(group)} runs, seeds "
              f"{', '.join(map(str, s['seeds']))}")
        for split in SPLITS:
            cells = [f"{m} {100 * s[f'{split}_{m}_f1']['mean']:.2f} ± "
                     f"{100 * s[f'{split}_{m}_f1']['sd']:.2f}" for m in MEASURES]
            print(f"  {split:<4} mean ± sd: {', '.join(cells)}")
        print(f"  chosen by dev labelled F1: {chosen.path} (seed {chosen.seed}): test "
              f"{100 * chosen.f1['test']['labelled']:.2f} labelled, "
              f"{100 * chosen.f1['test']['unlabelled']:.2f} unlabelled")
    write_figures(args.json, {"runs": [{"path": r.path, "seed": r.seed,
                                        "best_epoch": r.best_epoch, "f1": r.f1} for r in runs],
                              "configurations": summaries})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

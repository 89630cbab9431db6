"""Latent-tree runs made to read the gold trees: ``python -m treenn.experiments.gold_trees RUN
[RUN ...] [--split test] [--checkpoint best] [--json PATH]``.

For each run, its root accuracy on the split when its embeddings, cell and classifier read the
split's gold trees instead of building their own (:func:`treenn.parsers.latent.on_gold_trees`,
which ``evaluate`` also writes), beside its accuracy on its own trees where ``evaluate`` has
written ``eval-<split>.json`` for that checkpoint. Reading given trees needs no search, so this
takes seconds where ``evaluate`` takes minutes on the long ListOps sets.

The gold trees are one binarisation of each tree (ListOps: every list left-branching, as
Nangia & Bowman's files bracket it); a model that learnt to compute along another binarisation
of the same structure is scored lower on it than it would be on its own.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from treenn.arguments import ArgumentParser, output_file
from treenn.data.vocab import Vocab
from treenn.datasets import prepare
from treenn.errors import TreennError, run_main
from treenn.parsers.latent import on_gold_trees
from treenn.training import TrainConfig, load_model


def score_run(run_dir: str, split: str, which: str = "best") -> dict:
    """``on_gold_trees`` of one run's checkpoint on its own data's ``split``, with the run's
    epoch and, where ``evaluate`` wrote it for this checkpoint, its accuracy on its own trees."""
    model, ckpt = load_model(run_dir, which)
    if not model.cfg.is_latent:
        raise TreennError(f"{run_dir}: a {model.cfg.model} run reads given trees already; "
                          "give a latent-tree run")
    cfg = TrainConfig.from_dict(ckpt["train_config"], Path(run_dir) / f"{which}.pt")
    _, _, data = prepare(cfg, Vocab.from_dict(ckpt["vocab"]))
    if split not in data:
        raise TreennError(f"{run_dir}: no {split!r} split; choose from {', '.join(data)}")
    result = {"run": str(run_dir), "checkpoint": f"{which}.pt", "epoch": ckpt["epoch"],
              "split": split, "on_gold_trees": on_gold_trees(model, data[split])}
    own = Path(run_dir) / f"eval-{split}{'' if which == 'best' else '@' + which}.json"
    if own.is_file():  # scored from this very checkpoint file
        scored = json.loads(own.read_text(encoding="utf-8"))
        with open(Path(run_dir) / f"{which}.pt", "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if scored.get("checkpoint", {}).get("sha256") == digest:
            result["own_trees_root_accuracy"] = scored["root"]["accuracy"]
    return result


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN", help="latent-tree runs")
    p.add_argument("--split", default="test", help="a split of the runs' data (default test)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--json", type=output_file, help="write the results here (a list)")
    args = p.parse_args(argv)
    results = []
    for run_dir in args.run_dirs:
        r = score_run(run_dir, args.split, args.checkpoint)
        own = r.get("own_trees_root_accuracy")
        print(f"{run_dir} ({r['checkpoint']}, epoch {r['epoch']}), {args.split}: on the gold "
              f"trees {100 * r['on_gold_trees']['root_accuracy']:.2f}, on its own "
              + ("(not evaluated)" if own is None else f"{100 * own:.2f}"), flush=True)
        results.append(r)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

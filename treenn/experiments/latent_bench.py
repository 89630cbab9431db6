"""What a tree costs when the model must find it: ``python -m treenn.experiments.latent_bench
--data-dir SST_DIR [--json PATH]``.

In one process, on the same shuffled batches of SST-5 train (x=300, h=150, batch 25, dropout
0.5, Adagrad, one torch thread unless ``--threads``), it times one full training epoch (forward,
backward, optimiser step per batch) of

* ``tree-lstm``: the binary Tree-LSTM on the gold trees, every labelled node in the loss (as it
  trains), on the fast engine;
* ``gumbel-tree-lstm``: the same cell building its own tree by straight-through Gumbel-softmax,
  the root label in the loss (as it trains); every step composes every adjacent pair;
* ``beam-tree-lstm``: the beam-tree cell (beam 5),

and one pass over SST-5 dev without gradients (inference), then prints seconds per epoch and
each model's ratio to the gold-tree Tree-LSTM. ``--batches N`` times the first N batches only
(the per-epoch figure is then scaled up and marked as such).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time

import torch

from treenn.arguments import ArgumentParser, int_in, output_file
from treenn.errors import run_main
from treenn.training import TrainConfig, batches, make_model, make_optimizers, prepare, train_step

MODELS = ("tree-lstm", "gumbel-tree-lstm", "beam-tree-lstm")


def _epoch(model, cfg, train_batches: list, limit: int | None) -> tuple[float, int]:
    """Seconds for the training steps of ``train_batches`` (the first ``limit``)."""
    optimizers = make_optimizers(model, cfg)
    model.train()
    chosen = train_batches[:limit] if limit else train_batches
    start = time.perf_counter()
    for batch in chosen:
        train_step(model, batch, cfg, optimizers)
    return time.perf_counter() - start, len(chosen)


def _inference(model, dev_batches: list) -> float:
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for batch in dev_batches:
            nodes = (batch.roots if model.cfg.is_latent
                     else torch.arange(batch.graph.num_nodes()))
            model(batch, nodes)
    return time.perf_counter() - start


def measure(data_dir: str, models: list[str], limit: int | None, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.sparse.check_sparse_tensor_invariants.disable()  # as training does (no warning)
    base = TrainConfig(task="sst5", model="tree-lstm", out="", data_dir=data_dir, seed=1,
                       progress=False).resolved()
    task, vocab, data = prepare(base)
    order = list(range(len(data["train"])))
    random.Random(1).shuffle(order)
    train_data = type(data["train"])([data["train"].arrays[i] for i in order])
    train_batches = list(batches(train_data, base.batch_size))
    dev_batches = list(batches(data["dev"], base.eval_batch_size))
    rows = {}
    for name in models:
        cfg = TrainConfig(**{**base.__dict__, "model": name})
        torch.manual_seed(1)
        model = make_model(cfg, task, vocab)
        seconds, n = _epoch(model, cfg, train_batches, limit)
        rows[name] = {"epoch_seconds": seconds * len(train_batches) / n,
                      "batches_timed": n, "batches_per_epoch": len(train_batches),
                      "scaled": n < len(train_batches),
                      "dev_inference_seconds": _inference(model, dev_batches)}
        scaled = f" (scaled from {n} batches)" if n < len(train_batches) else ""
        print(f"{name:>17}: {rows[name]['epoch_seconds']:8.1f} s/epoch{scaled}, "
              f"dev inference {rows[name]['dev_inference_seconds']:6.1f} s", flush=True)
    gold = rows.get("tree-lstm")
    if gold:
        for name, row in rows.items():
            row["epoch_over_tree_lstm"] = row["epoch_seconds"] / gold["epoch_seconds"]
            row["inference_over_tree_lstm"] = (row["dev_inference_seconds"]
                                               / gold["dev_inference_seconds"])
            print(f"{name:>17}: {row['epoch_over_tree_lstm']:6.2f}x the gold-tree epoch, "
                  f"{row['inference_over_tree_lstm']:6.2f}x its inference")
    return {"threads": threads, "train_trees": len(train_data), "batch_size": base.batch_size,
            "x_size": base.x_size, "h_size": base.h_size, "models": rows,
            "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder of SST's train/dev/test.txt")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--batches", type=int_in(1, 10**6), help="time only the first N batches")
    p.add_argument("--threads", type=int_in(1, 1024), default=1)
    p.add_argument("--json", type=output_file, help="write the figures here")
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    result = measure(args.data_dir, models, args.batches, args.threads)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return 0 if all(math.isfinite(r["epoch_seconds"]) for r in result["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))

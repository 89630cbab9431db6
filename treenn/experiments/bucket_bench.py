"""What batching by length saves: ``python -m treenn.experiments.bucket_bench --task listops
--listops-preset nb --listops-train-max-length 100 [--models M,...] [--json PATH]``.

In one process, for each model, it times training steps (forward, backward, optimiser step)
over the same random sample of the training items (``--batches`` batches' worth, the start
of epoch 1's order), once in shuffled batches (the default) and once in batches sorted by size
within pools (as ``train --bucket N`` forms them, :func:`treenn.distributed.global_batches`;
a pool holds at most the sample, so with ``--bucket`` above ``--batches`` the pool is the
whole sample and its batches are a little less alike than training's), with the same initial
weights after two untimed warm-up steps, and prints both scaled to the whole epoch and their
ratio. Latent-tree and sequence models step through the longest item of a batch, the
gold-tree models through its tallest tree, so a batch of alike items wastes fewer steps.
The task's default settings otherwise, one torch thread unless ``--threads``.
"""

from __future__ import annotations

import json
import math
import sys
import time

import torch

from treenn.arguments import (
    LISTOPS_FLAGS,
    ArgumentParser,
    add_listops_arguments,
    dest,
    int_in,
    output_file,
)
from treenn.data.graphs import collate_arrays
from treenn.distributed import global_batches
from treenn.errors import run_main
from treenn.models import MODELS
from treenn.training import TrainConfig, make_model, make_optimizers, prepare, train_step

DEFAULT_MODELS = ("beam-tree-lstm", "gumbel-tree-lstm", "lstm", "tree-lstm")


def _seconds(model, cfg, arrays: list, index: list[list[int]]) -> float:
    optimizers = make_optimizers(model, cfg)
    model.train()
    start = time.perf_counter()
    for batch in index:
        train_step(model, collate_arrays([arrays[i] for i in batch], batch), cfg, optimizers)
    return time.perf_counter() - start


def measure(base: TrainConfig, models: list[str], limit: int, bucket: int) -> dict:
    torch.set_num_threads(base.threads)
    torch.sparse.check_sparse_tensor_invariants.disable()  # as training does (no warning)
    task, vocab, data = prepare(base)
    everything = data["train"].arrays
    # the same items both ways: the first ``limit`` batches' worth of epoch 1's order
    order = global_batches(len(everything), base.seed, 1, limit * base.batch_size)[0]
    arrays = [everything[i] for i in order]
    sizes = [a.n_nodes for a in arrays]
    scale = len(everything) / len(arrays)
    pool = min(bucket, limit)  # a pool holds at most the sample
    rows = {}
    for name in models:
        cfg = TrainConfig(**{**base.__dict__, "model": name}).resolved()
        row = {}
        orders = {label: global_batches(len(arrays), cfg.seed, 1, cfg.batch_size, None, sizes,
                                        pools) for label, pools in (("shuffled", 0),
                                                                    ("bucketed", pool))}
        _seconds(make_model(cfg, task, vocab), cfg, arrays, orders["shuffled"][:2])  # warm-up
        for label, index in orders.items():
            torch.manual_seed(cfg.seed)
            model = make_model(cfg, task, vocab)
            row[label] = {"epoch_seconds": _seconds(model, cfg, arrays, index) * scale,
                          "mean_largest_size": sum(max(sizes[i] for i in b) for b in index)
                          / len(index)}
        row["speedup"] = row["shuffled"]["epoch_seconds"] / row["bucketed"]["epoch_seconds"]
        rows[name] = row
        shuffled, bucketed = row["shuffled"], row["bucketed"]
        print(f"{name:>17}: shuffled {shuffled['epoch_seconds']:8.1f} s/epoch, pools of "
              f"{pool} batches {bucketed['epoch_seconds']:8.1f} s/epoch: {row['speedup']:5.2f}x "
              f"(largest tree per batch {shuffled['mean_largest_size']:.0f} -> "
              f"{bucketed['mean_largest_size']:.0f} nodes on average)", flush=True)
    return {"task": base.task, "listops": base.listops, "threads": base.threads,
            "bucket": bucket, "pool_batches": pool, "train_items": len(everything),
            "items_timed": len(arrays), "models": rows, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="listops", choices=("listops", "sst5", "sst2"))
    p.add_argument("--data-dir", help="SST: folder of train/dev/test.txt (else: the cache)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="comma-separated classifier names")
    p.add_argument("--batches", type=int_in(1, 10**6), default=100,
                   help="items timed: this many batches' worth")
    p.add_argument("--bucket", type=int_in(1, 10**6), default=100, help="pools of N batches")
    p.add_argument("--threads", type=int_in(1, 1024), default=1)
    p.add_argument("--json", type=output_file, help="write the figures here")
    add_listops_arguments(p.add_argument_group("ListOps generator"))
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)}")
    listops = {key: getattr(args, dest(flag)) for flag, (key, _) in LISTOPS_FLAGS.items()
               if hasattr(args, dest(flag))}
    base = TrainConfig(task=args.task, model=models[0], out="", data_dir=args.data_dir,
                       threads=args.threads, progress=False, listops=listops).resolved()
    result = measure(base, models, args.batches, args.bucket)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return 0 if all(math.isfinite(r["speedup"]) for r in result["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))

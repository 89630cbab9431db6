"""What a tree costs when the model must find it: ``python -m treenn.experiments.latent_bench
--data-dir SST_DIR [--json PATH]`` (or ``--task listops``).

In one process, on the same shuffled training batches (SST-5: x=300, h=150, batch 25, dropout
0.5, Adagrad; ``--task listops``: Nangia & Bowman's distribution, the expressions of <= 100
tokens, x=64, h=128, batch 64, Adam; the task's defaults, as ``train`` uses them), one torch
thread unless ``--threads``, it times one full training epoch (forward, backward, optimiser
step per batch) of each of ``--models``:

* ``tree-lstm``: the binary Tree-LSTM on the gold trees, every labelled node in the loss (as it
  trains), on the fast engine (``tree-grc``: the gated recursive cell the same way);
* ``gumbel-tree-lstm``: the same cell building its own tree by straight-through Gumbel-softmax,
  the root label in the loss (as it trains); every step composes every adjacent pair;
* ``beam-tree-lstm``: the beam-tree cell (beam 5); ``beam-tree-grc`` with the gated recursive
  cell, and the ``gumbel-beam-`` variants,

and one pass over the dev split without gradients (inference), then prints seconds per epoch
and each model's ratio to the gold-tree Tree-LSTM. ``--batches N`` times the first N batches
only, ``--dev-batches N`` the first N dev batches (the per-epoch figures are then scaled up and
marked as such).

For the beam models it also counts the compositions their training steps make (the carried
candidates: the first step's pairs, then <= 2 per beam and step) and times a *floor*: the same
number of compositions by the same cell, forward and backward, as one call per training batch
on random children. The floor is what the batch's arithmetic costs with nothing sequential
about it; the step's time over it is what the search itself adds (its sequential steps, the
beam bookkeeping, the scores).
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time

import torch

from treenn import latent_carry
from treenn.arguments import ArgumentParser, int_in, output_file
from treenn.errors import run_main
from treenn.experiments.tools import write_figures
from treenn.models import MODELS as REGISTRY
from treenn.training import TrainConfig, batches, make_model, make_optimizers, prepare, train_step

GOLD = ("tree-lstm", "tree-grc")
DEFAULT_MODELS = ("tree-lstm", "gumbel-tree-lstm", "beam-tree-lstm")
MODELS = GOLD + tuple(name for name, spec in REGISTRY.items() if spec.kind == "latent")
TASKS = {"sst5": {}, "listops": {"listops": {"preset": "nb", "train_max_length": 100}}}


@contextlib.contextmanager
def _counting_compositions():
    """Count the pairs the beam models' training path composes (``_Nodes.compose``): yields
    a list whose one item is the running count."""
    compose = latent_carry._Nodes.compose
    count = [0]

    def counted(nodes, cell, query, left, right):
        count[0] += len(left)
        return compose(nodes, cell, query, left, right)

    latent_carry._Nodes.compose = counted
    try:
        yield count
    finally:
        latent_carry._Nodes.compose = compose


def _epoch(model, cfg, train_batches: list) -> tuple[float, list[int]]:
    """Seconds for the training steps of ``train_batches``, and the compositions each made
    on the beam models' path (zeros for the other models)."""
    optimizers = make_optimizers(model, cfg)
    model.train()
    per_batch = []
    with _counting_compositions() as count:
        start = time.perf_counter()
        for batch in train_batches:
            before = count[0]
            train_step(model, batch, cfg, optimizers)
            per_batch.append(count[0] - before)
        return time.perf_counter() - start, per_batch


def _floor(cell, per_batch: list[int]) -> float:
    """Seconds for ``cell``'s compositions of ``per_batch[i]`` random pairs in one call each,
    forward and backward through ``cell.compose`` under autograd (random inputs drawn off the
    clock; the Tree-LSTM's training path has its own backward written out, so for it this is
    a reference rather than a strict lower bound)."""
    seconds = 0.0
    for n in per_batch:
        child_h = torch.randn(n, 2, cell.h_size, requires_grad=True)
        child_c = torch.randn(n, 2, cell.c_size, requires_grad=True)
        weight_h, weight_c = torch.randn(n, cell.h_size), torch.randn(n, cell.c_size)
        start = time.perf_counter()
        h, c = cell.compose(child_h, child_c)
        ((h * weight_h).sum() + (c * weight_c).sum()).backward()
        seconds += time.perf_counter() - start
    return seconds


def _inference(model, dev_batches: list) -> float:
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for batch in dev_batches:
            nodes = (batch.roots if model.cfg.is_latent
                     else torch.arange(batch.graph.num_nodes()))
            model(batch, nodes)
    return time.perf_counter() - start


def _shuffled_batches(data, batch_size: int, limit: int | None) -> tuple[list, int]:
    """The first ``limit`` batches (all if ``None``) of ``data`` in a shuffled order (seed 1),
    and how many the whole epoch has."""
    order = list(range(len(data)))
    random.Random(1).shuffle(order)
    total = math.ceil(len(order) / batch_size)
    order = order[:limit * batch_size] if limit else order
    return list(batches(type(data)([data.arrays[i] for i in order]), batch_size)), total


def measure(data_dir: str | None, models: list[str], limit: int | None, threads: int,
            task_name: str = "sst5", dev_limit: int | None = None) -> dict:
    torch.set_num_threads(threads)
    torch.sparse.check_sparse_tensor_invariants.disable()  # as training does (no warning)
    base = TrainConfig(task=task_name, model="tree-lstm", out="", data_dir=data_dir, seed=1,
                       progress=False, **TASKS[task_name]).resolved()
    task, vocab, data = prepare(base)
    train_batches, n_train = _shuffled_batches(data["train"], base.batch_size, limit)
    dev_batches, n_dev = _shuffled_batches(data["dev"], base.eval_batch_size, dev_limit)
    rows = {}
    for name in models:
        cfg = TrainConfig(**{**base.__dict__, "model": name})
        torch.manual_seed(1)
        model = make_model(cfg, task, vocab)
        seconds, per_batch = _epoch(model, cfg, train_batches)
        n = len(train_batches)
        row = rows[name] = {
            "epoch_seconds": seconds * n_train / n, "batches_timed": n,
            "batches_per_epoch": n_train, "scaled": n < n_train,
            "dev_inference_seconds": _inference(model, dev_batches) * n_dev / len(dev_batches),
            "dev_batches_timed": len(dev_batches), "dev_batches": n_dev}
        scaled = f" (scaled from {n} batches)" if n < n_train else ""
        line = (f"{name:>21}: {row['epoch_seconds']:8.1f} s/epoch{scaled}, "
                f"dev inference {row['dev_inference_seconds']:6.1f} s")
        if sum(per_batch):
            cell = model.encoder.tree.cell
            row["compositions_per_batch"] = sum(per_batch) / n
            row["floor_epoch_seconds"] = _floor(cell, per_batch) * n_train / n
            row["epoch_over_floor"] = row["epoch_seconds"] / row["floor_epoch_seconds"]
            line += (f"; {row['compositions_per_batch']:.0f} compositions a batch, floor "
                     f"{row['floor_epoch_seconds']:.1f} s/epoch, {row['epoch_over_floor']:.2f}x"
                     " the floor")
        print(line, flush=True)
    gold = rows.get("tree-lstm")
    if gold:
        for name, row in rows.items():
            row["epoch_over_tree_lstm"] = row["epoch_seconds"] / gold["epoch_seconds"]
            row["inference_over_tree_lstm"] = (row["dev_inference_seconds"]
                                               / gold["dev_inference_seconds"])
            print(f"{name:>21}: {row['epoch_over_tree_lstm']:6.2f}x the gold-tree epoch, "
                  f"{row['inference_over_tree_lstm']:6.2f}x its inference")
    return {"task": task_name, "threads": threads, "train_trees": len(data["train"]),
            "batch_size": base.batch_size, "x_size": base.x_size, "h_size": base.h_size,
            "models": rows, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), default="sst5")
    p.add_argument("--data-dir", help="folder of SST's train/dev/test.txt (--task sst5)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--batches", type=int_in(1, 10**6), help="time only the first N batches")
    p.add_argument("--dev-batches", type=int_in(1, 10**6),
                   help="time inference on the first N dev batches only")
    p.add_argument("--threads", type=int_in(1, 1024), default=1)
    p.add_argument("--json", type=output_file, help="write the figures here")
    args = p.parse_args(argv)
    if args.task == "sst5" and not args.data_dir:
        p.error("--data-dir is required with --task sst5")
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    result = measure(args.data_dir, models, args.batches, args.threads, args.task,
                     args.dev_batches)
    write_figures(args.json, result)
    return 0 if all(math.isfinite(r["epoch_seconds"]) for r in result["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))

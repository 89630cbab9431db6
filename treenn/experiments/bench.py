"""Engine benchmark: ``python -m treenn.bench --data-dir DIR [--json PATH]``.

In one process and on the same batches of SST train it times

* training steps (forward, backward, optimiser step) and inference of a binary Tree-LSTM with
  DGL's own Tree-LSTM example as users would run it (``dgl-example``, re-implemented in
  :mod:`treenn.experiments.dgl_example`), with our DGL reference engine and with the fast
  engine, and
* an ``nn.LSTM`` classifier of the same sizes on the same sentences,

then prints trees/s, ms per batch, peak memory, each speedup over the DGL engine and the DGL
example, and each time over the floor: the same batches' matrix products alone
(:func:`matmul_floor`, a bound on any engine). Settings follow Tai et al. (2015): x=300,
h=150, batch 25, dropout 0.5, Adagrad. It also times the fast engine on synthetic trees
(balanced trees and left-branching chains) to show how the cost per node depends on tree
height, and runs one 10,000-node chain forward and backward.

Peak memory on the CPU is how far the resident set of a fresh Python process grows while it
runs the same workload (same data, batches, weights and optimiser) after setting it up; a
fork of this process would be cheaper but hangs in OpenMP once torch has used more than one
thread. On CUDA it is torch's ``max_memory_allocated``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from treenn.arguments import ArgumentParser, device_name, int_in, output_file
from treenn.cells import NaryTreeLSTMCell
from treenn.data.vocab import Vocab
from treenn.errors import run_main
from treenn.experiments.dgl_example import example_batch, example_step, make_example
from treenn.experiments.shapes import height_table, long_chain_check
from treenn.experiments.tools import REPEATS, THREADS
from treenn.training import (
    Dataset,
    TrainConfig,
    batches,
    make_model,
    make_optimizers,
    prepare,
    train_step,
)

log = logging.getLogger("treenn.bench")


def _step_fn(model, cfg, optimizers, train: bool) -> Callable:
    def step(batch):
        if train:
            model.train()
            train_step(model, batch, cfg, optimizers)
        else:
            model.eval()
            with torch.inference_mode():  # as evaluation runs it
                nodes = (torch.arange(batch.graph.num_nodes()) if model.cfg.is_tree
                         else batch.roots)
                model(batch, nodes).argmax(-1).cpu()  # the predictions, on the host
    return step


def _time(step: Callable, data: list, repeats: int) -> float:
    """Best of ``repeats`` passes over ``data`` (seconds), after one warm-up batch."""
    step(data[0])
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for batch in data:
            step(batch)
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_memory_mb(step: Callable, data: list, device: torch.device, cfg: TrainConfig,
                    name: str, mode: str) -> float:
    """Peak memory of running ``step`` over ``data``; on the CPU measured in a fresh process
    that sets up the same workload (engine ``name``, ``mode`` train or infer, the first
    ``len(data)`` batches; see :func:`_memory_child`)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        for batch in data:
            step(batch)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    code = ("import sys; from treenn.experiments.bench import _memory_child; "
            "_memory_child(sys.argv[1])")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # importable from anywhere
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [root, os.environ.get("PYTHONPATH")]))}
    child = {"cfg": asdict(cfg), "name": name, "mode": mode, "batches": len(data),
             "threads": torch.get_num_threads()}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(child)], capture_output=True,
                          text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"memory measurement failed: {proc.stderr.strip()[-500:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_child(spec_json: str) -> None:
    """Set up one engine-table workload as the parent did, run it once while sampling the
    resident set, and print its growth in MB."""
    spec = json.loads(spec_json)
    torch.set_num_threads(spec["threads"])
    torch.sparse.check_sparse_tensor_invariants.disable()
    cfg = TrainConfig(**spec["cfg"])
    task, vocab, data = prepare(cfg)
    batch_list = list(batches(data["train"], cfg.batch_size))[:spec["batches"]]
    tree, lstm, lstm_cfg = _models(cfg, task, vocab)
    train = spec["mode"] == "train"
    if spec["name"] == "dgl-example":
        model, opt, batch_list = _example_workload(cfg, tree, batch_list)
        step = example_step(model, opt, train)
    else:
        model, mcfg = (lstm, lstm_cfg) if spec["name"] == "lstm" else (tree, cfg)
        if spec["name"] != "lstm":
            model.set_engine(spec["name"])
        step = _step_fn(model, mcfg, make_optimizers(model, mcfg), train)

    base, peak, done = _rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    high_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sampler.start()
    for batch in batch_list:
        step(batch)
    done.set()
    sampler.join()
    high_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if high_after > high_before:  # a new high-water mark: exact, in KiB on Linux
        peak[0] = max(peak[0], high_after * 1024)
    print(max(0, peak[0] - base) / 2**20)


def _models(cfg: TrainConfig, task, vocab: Vocab):
    """Three models with identical initial weights where they share structure."""
    torch.manual_seed(cfg.seed)
    tree = make_model(cfg, task, vocab)
    lstm_cfg = TrainConfig(**{**cfg.__dict__, "model": "lstm", "seq_train": "sentences"})
    torch.manual_seed(cfg.seed)
    lstm = make_model(lstm_cfg, task, vocab)
    return tree, lstm, lstm_cfg


def _example_workload(cfg: TrainConfig, tree, batch_list: list) -> tuple:
    """The dgl-example row's model and optimiser (initialised as the example does, with our
    tree model's word vectors) and its view of the batches."""
    torch.manual_seed(cfg.seed)
    model, opt = make_example(tree.embedding.weight.detach().cpu(), cfg.h_size,
                              tree.cfg.n_classes, cfg.dropout)
    return model, opt, [example_batch(b) for b in batch_list]


def _measure(step: Callable, data: list, repeats: int, n_trees: int, device: torch.device,
             cfg: TrainConfig, name: str, mode: str) -> dict:
    seconds = _time(step, data, repeats)
    return {"seconds": seconds, "trees_per_s": n_trees / seconds,
            "ms_per_batch": 1000 * seconds / len(data),
            "peak_mb": _peak_memory_mb(step, data[:40], device, cfg, name, mode)}


def engine_table(cfg: TrainConfig, data: Dataset, n_batches: int | None, repeats: int,
                 device: torch.device, task, vocab) -> dict:
    batch_list = [b.to(device) for b in batches(data, cfg.batch_size)][:n_batches]
    n_trees = sum(b.n_trees for b in batch_list)
    tree, lstm, lstm_cfg = _models(cfg, task, vocab)
    tree.to(device)
    lstm.to(device)
    rows = {}
    if device.type == "cpu":  # DGL from PyPI is CPU-only
        model, opt, example_batches = _example_workload(cfg, tree, batch_list)
        rows["dgl-example"] = {
            mode: _measure(example_step(model, opt, mode == "train"), example_batches, repeats,
                           n_trees, device, cfg, "dgl-example", mode)
            for mode in ("train", "infer")}
    for name, model, mcfg, engine in (("dgl", tree, cfg, "dgl"), ("fast", tree, cfg, "fast"),
                                      ("lstm", lstm, lstm_cfg, None)):
        if engine == "dgl" and device.type != "cpu":
            continue  # DGL from PyPI is CPU-only
        if engine:
            model.set_engine(engine)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        opts = make_optimizers(model, mcfg)
        row = {}
        for mode, train in (("train", True), ("infer", False)):
            row[mode] = _measure(_step_fn(model, mcfg, opts, train), batch_list, repeats,
                                 n_trees, device, cfg, name, mode)
            model.load_state_dict(state)  # every variant starts from the same weights
        rows[name] = row
    floor = matmul_floor(tree.encoder.cell, batch_list, repeats, device)
    for mode in ("train", "infer"):
        floor[mode].update(trees_per_s=n_trees / floor[mode]["seconds"], peak_mb=None)
    rows["floor"] = floor
    return {"batches": len(batch_list), "trees": n_trees, "rows": rows}


def matmul_floor(cell: NaryTreeLSTMCell, data: list, repeats: int, device: torch.device
                 ) -> dict:
    """The two matrix products every engine must do, with no tree around them.

    For each batch: the leaf layer on all its leaves and the composition layer on all its
    internal nodes, each as one product (as if every internal node were on one level), plus
    their backward (gradients of inputs and weights) for training. Dropout, gates, gathers,
    the classifier and the optimiser are left out, so no engine running the same maths on
    this machine can be faster: the DGL engine's time over this one bounds any speedup.
    """
    w_leaf, w_comp = cell.W_iou.weight.detach(), cell.U.weight.detach()
    shapes = []
    for batch in data:
        leaves = len(batch.schedule.leaf_ids)
        internal = sum(len(nodes) for nodes, _ in batch.schedule.levels)
        shapes.append((leaves, internal))
    generator = torch.Generator().manual_seed(0)

    def random(*size):
        return torch.randn(*size, generator=generator).to(device)

    tensors = [(random(a, w_leaf.shape[1]), random(b, w_comp.shape[1]),
                random(a, w_leaf.shape[0]), random(b, w_comp.shape[0])) for a, b in shapes]
    row = {}
    for mode in ("train", "infer"):
        weights = [w.clone().requires_grad_(mode == "train") for w in (w_leaf, w_comp)]

        def step(item, weights=weights, train=mode == "train"):
            x, z, gx, gz = item
            if train:
                x, z = x.requires_grad_(), z.requires_grad_()  # word vectors, child states
                torch.autograd.backward([x @ weights[0].t(), z @ weights[1].t()], [gx, gz])
                x.grad = z.grad = None
                for w in weights:
                    w.grad = None
            else:
                with torch.no_grad():
                    _ = x @ weights[0].t(), z @ weights[1].t()
            if x.is_cuda:
                torch.cuda.synchronize()

        seconds = _time(step, tensors, repeats)
        row[mode] = {"seconds": seconds, "ms_per_batch": 1000 * seconds / len(data)}
    flops = sum(2 * (a * w_leaf.numel() + b * w_comp.numel()) for a, b in shapes)
    row["train"]["gflop_per_s"] = 3 * flops / row["train"]["seconds"] / 1e9
    row["infer"]["gflop_per_s"] = flops / row["infer"]["seconds"] / 1e9
    return row


def loading_times(cfg: TrainConfig) -> tuple[dict, tuple]:
    """Seconds to read and convert SST train cold (parse, vocabulary, arrays), and to load
    all three converted splits from the dataset cache; also returns what the cached load
    gave (``prepare``'s result), for the benchmark to use."""
    from treenn.data.sst import read_sst, sst_dir
    from treenn.data.tasks import get_task
    from treenn.training import build_vocab, to_datasets

    task = get_task(cfg.task)
    t0 = time.perf_counter()
    trees = read_sst(sst_dir(cfg.data_dir) / "train.txt")
    vocab = build_vocab(cfg, {"train": trees})
    to_datasets(task, vocab, {"train": trees})
    cold = time.perf_counter() - t0
    prepare(cfg)  # make sure the cache entry exists
    t0 = time.perf_counter()
    prepared = prepare(cfg)
    return {"train_trees": len(trees), "cold_train_seconds": cold,
            "cached_all_splits_seconds": time.perf_counter() - t0}, prepared


def _print_engine_rows(rows: dict) -> None:
    """One line per engine and mode: speedups over dgl and dgl-example, time over floor."""
    print(f"{'':27}{'trees/s':>10}{'ms/batch':>10}{'peak MB':>9}{'vs dgl':>9}"
          f"{'vs dgl-ex':>10}{'/ floor':>9}")
    for name, row in rows.items():
        for mode in ("train", "infer"):
            r = row[mode]
            ratios = [f"{rows[ref][mode]['seconds'] / r['seconds']:.2f}x" if ref in rows
                      else "n/a" for ref in ("dgl", "dgl-example")]
            ratios.append(f"{r['seconds'] / rows['floor'][mode]['seconds']:.2f}")
            label = {"dgl-example": "Tree-LSTM dgl-example", "dgl": "Tree-LSTM dgl",
                     "fast": "Tree-LSTM fast", "lstm": "nn.LSTM", "floor": "matmuls only"}[name]
            peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
            print(f"{label + ' ' + mode:<27}{r['trees_per_s']:10.0f}{r['ms_per_batch']:10.2f}"
                  f"{peak:>9}{ratios[0]:>9}{ratios[1]:>10}{ratios[2]:>9}")


def _summary(rows: dict, loading: dict, trees: int) -> dict:
    """The ratios printed after the table (and the JSON's top-level keys)."""
    summary = {
        "fast_over_lstm_epoch": rows["fast"]["train"]["seconds"] / rows["lstm"]["train"]["seconds"],
        "cold_load_seconds": loading["cold_train_seconds"],
        "cached_load_seconds": loading["cached_all_splits_seconds"],
    }
    fast, floor, example = rows["fast"], rows["floor"], rows.get("dgl-example")
    for mode in ("train", "infer"):
        summary[f"{mode}_over_floor"] = fast[mode]["seconds"] / floor[mode]["seconds"]
        if example:
            summary[f"{mode}_speedup_vs_dgl_example"] = (example[mode]["seconds"]
                                                         / fast[mode]["seconds"])
    if example:  # the example's training time for one pass over all of SST train
        summary["dgl_example_epoch_seconds"] = (example["train"]["seconds"] / trees
                                                * loading["train_trees"])
    ref = rows.get("dgl")
    if ref:
        summary["train_speedup"] = ref["train"]["seconds"] / rows["fast"]["train"]["seconds"]
        summary["infer_speedup"] = ref["infer"]["seconds"] / rows["fast"]["infer"]["seconds"]
        for mode in ("train", "infer"):
            summary[f"floor_{mode}_speedup"] = (ref[mode]["seconds"]
                                                / rows["floor"][mode]["seconds"])
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m treenn.bench", description=__doc__)
    parser.add_argument("--data-dir", required=True, help="SST folder (train.txt, ...)")
    parser.add_argument("--batches", type=int_in(1, None),
                        help="only the first N batches (default: all)")
    parser.add_argument("--repeats", type=REPEATS, default=2, help="best of N passes")
    parser.add_argument("--threads", type=THREADS, help="torch intra-op threads")
    parser.add_argument("--device", type=device_name, default="cpu")
    parser.add_argument("--height-trees", type=int_in(1, 10_000), default=8,
                        help="trees per batch in the height table")
    parser.add_argument("--json", type=output_file, metavar="PATH",
                        help="also write the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.sparse.check_sparse_tensor_invariants.disable()
    device = torch.device(args.device)

    cfg = TrainConfig(task="sst5", model="tree-lstm", out="-", data_dir=args.data_dir,
                      progress=False).resolved()
    loading, (task, vocab, data) = loading_times(cfg)

    table = engine_table(cfg, data["train"], args.batches, args.repeats, device, task, vocab)
    print(f"SST train, {table['trees']} trees in {table['batches']} batches of "
          f"{cfg.batch_size}; x={cfg.x_size} h={cfg.h_size}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {device}")
    _print_engine_rows(table["rows"])
    summary = _summary(table["rows"], loading, table["trees"])
    print("\n" + "  ".join(f"{k}={v:.2f}" for k, v in summary.items()))
    floor = table["rows"]["floor"]
    print(f"(matmuls only: the leaf and composition products of the same batches, each batch "
          f"in one product per layer, {floor['train']['gflop_per_s']:.0f} GFLOP/s training, "
          f"{floor['infer']['gflop_per_s']:.0f} inference; no engine doing this maths here is "
          "faster, so floor_*_speedup bounds the speedup over dgl)")
    print(f"(loading: SST train, {loading['train_trees']} trees, read and converted cold; "
          "train+dev+test from the dataset cache)")
    heights = height_table(device, args.height_trees, args.repeats)
    print(f"\nFast engine, forward + backward, batches of {args.height_trees} identical trees:")
    print(f"{'shape':<10}{'height':>7}{'nodes':>8}{'ms':>9}{'us/node':>9}")
    for r in heights:
        print(f"{r['shape']:<10}{r['height']:>7}{r['nodes']:>8}{1000 * r['seconds']:9.2f}"
              f"{r['us_per_node']:9.2f}")
    chain = long_chain_check(device)
    print(f"\n{chain['nodes']}-node chain: forward + backward in {chain['seconds']:.2f}s, "
          f"gradients finite: {chain['grad_finite']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**summary, "engines": table, "heights": heights, "long_chain": chain},
                      handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))


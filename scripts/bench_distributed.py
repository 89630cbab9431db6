"""Data-parallel training on this machine, and what it would cost on many (issue 20).

Measured in one run, nothing else running:

1. One SST-5 training epoch (8,544 trees, the defaults: x=300, h=150, batch 25) of the fast
   Tree-LSTM and of the LSTM: 1 process x 2 threads against ``--nproc 2`` x 1 thread
   (``train_time_s`` of metrics.jsonl: the epoch's training steps, no evaluation).
2. What one optimisation step all-reduces for each model: the dense gradients (every
   parameter but the embedding table) and the sparse embedding gradient (the rows a batch
   touches, measured on SST's shuffled training batches; gloo all-reduces a sparse tensor by
   gathering every rank's indices and values).
3. gloo all-reduce times for those sizes between 2 processes on the loopback interface.
4. A projection to 8 and 64 workers on several machines: each worker takes batches of 25
   trees (the global batch grows with N, as data-parallel training usually does), so an
   epoch has ceil(8544 / (25 N)) steps of ``compute + communication``, with the compute time
   per step measured in (1) on one process and communication modelled as a ring all-reduce
   of the dense bytes (2 (N-1)/N bytes / bandwidth + 2 (N-1) latency) plus an all-gather of
   the sparse rows ((N-1) rows bytes / bandwidth + (N-1) latency), at the bandwidth and
   latency given (default 10 Gbit/s Ethernet, 50 us).

Usage: .venv/bin/python scripts/bench_distributed.py --data-dir ../shared/data/sst
           [--json docs/bench-distributed.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 8544
MODELS = ("tree-lstm", "lstm")


def epoch_time(model: str, data_dir: str, out: Path, nproc: int, threads: int) -> dict:
    """Train one epoch through the CLI; the epoch's training time and steps."""
    argv = [sys.executable, str(REPO / "train.py"), "-q", "train", "--task", "sst5", "--model",
            model, "--data-dir", data_dir, "--epochs", "1", "--threads", str(threads),
            "--out", str(out)]
    if nproc > 1:
        argv += ["--nproc", str(nproc)]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    from treenn.runs import read_metrics

    metrics = read_metrics(out)
    return {"train_time_s": metrics[-1]["train_time_s"], "wall_s": time.perf_counter() - t0,
            "command": " ".join(argv[1:]).replace(str(REPO) + "/", "")}


def step_sizes(model: str, data_dir: str) -> dict:
    """Dense parameters and the embedding rows one batch of 25 touches, for ``model``."""
    from treenn.data.vocab import PAD_ID
    from treenn.datasets import prepare
    from treenn.training import TrainConfig, make_model

    cfg = TrainConfig(task="sst5", model=model, out="unused", data_dir=data_dir).resolved()
    task, vocab, data = prepare(cfg)
    model_ = make_model(cfg, task, vocab)
    emb = model_.embedding.weight
    dense = sum(p.numel() for p in model_.parameters() if p is not emb)
    train = data["train"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(1)).tolist()
    rows = []
    for start in range(0, len(order), 25):
        words = set()
        for i in order[start:start + 25]:
            words.update(int(w) for w in train.arrays[i].word if w != PAD_ID)
        rows.append(len(words))
    return {"dense_params": dense, "embedding_dim": emb.shape[1], "vocab": emb.shape[0],
            "rows_per_step": sum(rows) / len(rows)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _allreduce_worker(rank: int, port: int, sizes: dict, out: dict) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    times = {}
    for model, size in sizes.items():
        dense = torch.randn(size["dense_params"])
        rows, dim = int(size["rows_per_step"]), size["embedding_dim"]
        gen = torch.Generator().manual_seed(rank)
        index = torch.randperm(size["vocab"], generator=gen)[:rows].unsqueeze(0)
        sparse = torch.sparse_coo_tensor(index, torch.randn(rows, dim), (size["vocab"], dim))
        for name, source in (("dense", dense), ("sparse", sparse)):
            samples = []
            for _ in range(25):
                tensor = source.clone()
                dist.barrier()
                t0 = time.perf_counter()
                dist.all_reduce(tensor)
                samples.append(time.perf_counter() - t0)
            times[f"{model}:{name}"] = sorted(samples)[len(samples) // 2]
    if rank == 0:
        out.update(times)
    dist.destroy_process_group()


def loopback_allreduce(sizes: dict) -> dict:
    """Median gloo all-reduce seconds between 2 local processes, dense and sparse parts."""
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_allreduce_worker, args=(_free_port(), sizes, out), nprocs=2)
        return dict(out)


def projection(step_s: float, size: dict, workers: int, bandwidth: float, latency: float
               ) -> dict:
    """Epoch time on ``workers`` machines: steps x (compute + ring all-reduce + gather)."""
    dense_bytes = 4 * size["dense_params"]
    sparse_bytes = size["rows_per_step"] * (4 * size["embedding_dim"] + 8)
    n = workers
    dense_s = 2 * (n - 1) / n * dense_bytes / bandwidth + 2 * (n - 1) * latency
    sparse_s = (n - 1) * sparse_bytes / bandwidth + (n - 1) * latency
    steps = math.ceil(N_TRAIN / (25 * n))
    epoch = steps * (step_s + dense_s + sparse_s)
    return {"workers": n, "steps": steps, "comm_s_per_step": dense_s + sparse_s,
            "epoch_s": epoch, "efficiency": (math.ceil(N_TRAIN / 25) * step_s) / (n * epoch)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="SST folder (train/dev/test.txt)")
    ap.add_argument("--bandwidth-gbit", type=float, default=10.0)
    ap.add_argument("--latency-us", type=float, default=50.0)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    bandwidth, latency = args.bandwidth_gbit * 1e9 / 8, args.latency_us * 1e-6
    report: dict = {"machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}",
                    "bandwidth_gbit": args.bandwidth_gbit, "latency_us": args.latency_us}
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            one = epoch_time(model, args.data_dir, Path(tmp) / f"{model}-1", 1, 2)
            two = epoch_time(model, args.data_dir, Path(tmp) / f"{model}-2", 2, 1)
            report[model] = {"1x2": one, "2x1": two, "speedup": one["train_time_s"]
                             / two["train_time_s"], "sizes": step_sizes(model, args.data_dir)}
    comm = loopback_allreduce({m: report[m]["sizes"] for m in MODELS})
    lines = ["model      1 proc x 2 thr  2 proc x 1 thr  speedup   dense MB  sparse rows  "
             "loopback all-reduce (dense + sparse)"]
    for model in MODELS:
        r, size = report[model], report[model]["sizes"]
        r["loopback_ms"] = {k: 1000 * comm[f"{model}:{k}"] for k in ("dense", "sparse")}
        one, two = r["1x2"]["train_time_s"], r["2x1"]["train_time_s"]
        lines.append(f"{model:<10} {one:13.1f}s {two:14.1f}s {r['speedup']:7.2f}x "
                     f"{4 * size['dense_params'] / 1e6:9.2f} "
                     f"{size['rows_per_step']:12.0f}  {r['loopback_ms']['dense']:.2f} + "
                     f"{r['loopback_ms']['sparse']:.2f} ms")
    lines.append(f"\nprojection: {args.bandwidth_gbit:g} Gbit/s, {args.latency_us:g} us latency, "
                 "25 trees per worker per step, compute per step from 1 process x 2 threads")
    lines.append("model      workers  steps  comm ms/step  epoch s  efficiency")
    for model in MODELS:
        r = report[model]
        step_s = r["1x2"]["train_time_s"] / math.ceil(N_TRAIN / 25)
        r["step_ms"] = 1000 * step_s
        r["projection"] = [projection(step_s, r["sizes"], n, bandwidth, latency)
                           for n in (1, 8, 64)]
        for p in r["projection"]:
            lines.append(f"{model:<10} {p['workers']:7d} {p['steps']:6d} "
                         f"{1000 * p['comm_s_per_step']:13.2f} {p['epoch_s']:8.2f} "
                         f"{p['efficiency']:10.2f}")
    print("\n".join(lines))
    for model in MODELS:
        print(f"{model}: {report[model]['1x2']['command']}\n{model}: "
              f"{report[model]['2x1']['command']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

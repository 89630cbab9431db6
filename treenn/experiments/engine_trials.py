"""Where the fast engine's training step goes, and what was tried on its level loop:
``python -m treenn.experiments.engine_trials --data-dir SST_DIR [--threads N] [--json PATH]``.

On the batches of SST-5 train that ``python -m treenn.bench`` times (x=300, h=150, batch 25,
dropout 0.5, Adagrad, the binary Tree-LSTM on the fast engine), in one process:

* **phases**: one training step cut into embedding lookup and input dropout, the leaf layer, the
  internal levels' forward, classifier and loss, the backward pass, and the two optimiser
  steps (dense weights, sparse embedding rows); ms per batch, best of ``--repeats`` passes,
  next to the matrix products alone (:func:`treenn.experiments.bench.matmul_floor`).
* **trials** on the internal levels (forward of every level of every batch, no gradients): the
  engine's own loop; the same loop with ``tanh`` computed as ``2 sigmoid(2x) - 1`` (vectorised
  on this CPU build, within 2e-7 absolute); and with the cell's pointwise maths under
  ``torch.compile`` (dynamic shapes; its compile time is printed separately; a compiled
  function takes no ``out=``, so its results are copied into the state rows, two copies per
  level the others do not make); and with no pointwise step at all (zeros written; wrong
  states: the time left for gathers and products, so a bound on what any fused pointwise
  kernel could gain).
  Each variant's largest difference from the engine's states is printed next to its time.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from treenn.arguments import int_in
from treenn.cells import tanh_by_sigmoid
from treenn.engines import _fused_levels, _FusedLevelPropagation
from treenn.errors import run_main
from treenn.experiments.bench import _models, matmul_floor
from treenn.experiments.tools import REPEATS, parse_tool_args, tool_parser, write_figures
from treenn.training import TrainConfig, batches, make_optimizers, prepare, training_nodes

PHASES = ("embed+dropout", "leaf layer", "levels forward", "head+loss", "backward",
          "optimiser dense", "optimiser sparse")
BOUND = "no pointwise step (bound)"


def phase_times(model, cfg: TrainConfig, data: list, repeats: int) -> dict[str, float]:
    """Seconds per phase of the fast engine's training step over ``data`` (best pass)."""
    cell = model.encoder.cell
    dense, sparse = make_optimizers(model, cfg)
    model.train()
    best = {name: math.inf for name in PHASES}
    for _ in range(repeats + 1):  # the first pass warms up
        spent = dict.fromkeys(PHASES, 0.0)
        for batch in data:
            marks = [time.perf_counter()]
            nodes = training_nodes(batch, model, cfg)
            x = model.embed(batch.words[batch.schedule.leaf_ids])
            marks.append(time.perf_counter())
            leaf_h, leaf_c = cell(x)
            marks.append(time.perf_counter())
            h, _ = _FusedLevelPropagation.apply(cell, batch.schedule, leaf_h, leaf_c,
                                                cell.U.weight, cell.U.bias)
            marks.append(time.perf_counter())
            logits = model.head(model.output_dropout(h[nodes]))
            loss = F.cross_entropy(logits, batch.labels[nodes], reduction="sum") / batch.n_trees
            marks.append(time.perf_counter())
            dense.zero_grad(set_to_none=True)
            sparse.zero_grad(set_to_none=True)
            loss.backward()
            marks.append(time.perf_counter())
            dense.step()
            marks.append(time.perf_counter())
            sparse.step()
            marks.append(time.perf_counter())
            for name, t0, t1 in zip(PHASES, marks[:-1], marks[1:], strict=True):
                spent[name] += t1 - t0
        best = {name: min(best[name], spent[name]) for name in PHASES}
    return best


class _WithPointwise:
    """The cell with another pointwise step, for the engine's own level loop to run."""

    def __init__(self, cell, pointwise: Callable):
        self.cell, self.pointwise = cell, pointwise

    def __getattr__(self, name: str):
        return getattr(self.cell, name)


def _copied(pointwise: Callable) -> Callable:
    """A pointwise step without ``out=`` (a compiled one), its results copied into ``out``."""
    def step(pre, child_c, out):
        h, c, saved = pointwise(pre, child_c)
        return out[0].copy_(h), out[1].copy_(c), saved
    return step


def _free(pre: torch.Tensor, child_c: torch.Tensor, out):
    """No pointwise maths at all, only zeros in the state rows (wrong states)."""
    return out[0].zero_(), out[1].zero_(), None


@torch.no_grad()
def level_trials(model, data: list, repeats: int) -> dict[str, dict]:
    """Each variant's seconds for the levels of every batch, and its largest state difference
    from the engine's own loop."""
    cell = model.encoder.cell
    inputs = []
    for batch in data:
        x = model.embedding(batch.words[batch.schedule.leaf_ids])
        inputs.append((batch.schedule, *cell(x)))

    def levels(pointwise: Callable | None) -> Callable:
        """The engine's inference loop over the levels, with ``pointwise`` instead of the
        cell's own when given."""
        stepper = cell if pointwise is None else _WithPointwise(cell, pointwise)
        return lambda schedule, leaf_h, leaf_c: _fused_levels(
            stepper, schedule, leaf_h, leaf_c, cell.U.weight, cell.U.bias, record=False)[0]

    variants = {
        "engine": levels(None),
        "tanh by sigmoid": levels(functools.partial(cell.pointwise, tanh=tanh_by_sigmoid)),
    }
    out = {}
    t0 = time.perf_counter()
    try:  # needs a working C++ compiler and Python headers; report, do not fail, without
        compiled = torch.compile(functools.partial(cell.pointwise), dynamic=True)
        compiled(*_sample(cell))
        variants["torch.compile pointwise"] = levels(_copied(compiled))
    except Exception as error:  # noqa: BLE001 - any compiler failure means "not available"
        out["torch.compile pointwise"] = {"error": f"{type(error).__name__}: {error}"[:300]}
    compile_seconds = time.perf_counter() - t0
    # what is left with a pointwise step that costs nothing: the bound on any fused kernel
    variants[BOUND] = levels(_free)
    reference = [variants["engine"](*item) for item in inputs]
    for name, run in variants.items():
        seconds = math.inf
        try:  # a recompilation may fail too
            for _ in range(repeats + 1):
                t0 = time.perf_counter()
                states = [run(*item) for item in inputs]
                seconds = min(seconds, time.perf_counter() - t0)
        except Exception as error:  # noqa: BLE001 - reported, as above
            out[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
            continue
        diff = None if name == BOUND else max(
            float((a - b).abs().max()) for a, b in zip(states, reference, strict=True))
        out[name] = {"seconds": seconds, "max_abs_diff": diff}
    out["torch.compile pointwise"].setdefault("compile_seconds", compile_seconds)
    return out


def _sample(cell) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(7, cell.U.weight.shape[0]), torch.randn(7, cell.max_children, cell.c_size)


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m treenn.experiments.engine_trials", __doc__)
    parser.add_argument("--data-dir", required=True, help="SST folder (train.txt, ...)")
    parser.add_argument("--batches", type=int_in(1, None),
                        help="only the first N batches (default: all)")
    parser.add_argument("--repeats", type=REPEATS, default=2, help="best of N passes")
    args = parse_tool_args(parser, argv)
    torch.sparse.check_sparse_tensor_invariants.disable()
    cfg = TrainConfig(task="sst5", model="tree-lstm", out="-", data_dir=args.data_dir,
                      progress=False).resolved()
    task, vocab, data = prepare(cfg)
    batch_list = list(batches(data["train"], cfg.batch_size))[:args.batches]
    model, _, _ = _models(cfg, task, vocab)
    phases = phase_times(model, cfg, batch_list, args.repeats)
    floor = matmul_floor(model.encoder.cell, batch_list, args.repeats, torch.device("cpu"))
    trials = level_trials(model, batch_list, args.repeats)

    per_batch = 1000 / len(batch_list)
    total = sum(phases.values())
    print(f"SST-5 train, {len(batch_list)} batches of {cfg.batch_size}; x={cfg.x_size} "
          f"h={cfg.h_size}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"\nFast engine training step, ms per batch (best of {args.repeats}):")
    for name, seconds in phases.items():
        print(f"  {name:<20}{seconds * per_batch:8.2f}  {100 * seconds / total:5.1f}%")
    print(f"  {'total':<20}{total * per_batch:8.2f}")
    print(f"  {'matmuls only (floor)':<20}{floor['train']['seconds'] * per_batch:8.2f}"
          f"  total / floor = {total / floor['train']['seconds']:.2f}")
    print("\nInternal levels, forward without gradients, ms per batch:")
    base = trials["engine"]["seconds"]
    for name, row in trials.items():
        if "error" in row:
            print(f"  {name:<26}unavailable: {row['error']}")
            continue
        extra = (f"  (compiled in {row['compile_seconds']:.1f} s)"
                 if "compile_seconds" in row else "")
        diff = "-" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.1e}"
        print(f"  {name:<26}{row['seconds'] * per_batch:8.2f}  {row['seconds'] / base:5.2f}x"
              f"  max |diff| {diff}{extra}")
    write_figures(args.json, {"batches": len(batch_list), "threads": torch.get_num_threads(),
                              "phases_seconds": phases, "floor": floor, "level_trials": trials})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""Data-parallel training on ``torch.distributed``: one process per rank, each computing the
gradient of its part of every batch, averaged by ``DistributedDataParallel`` (``gloo`` on the
CPU, ``nccl`` on CUDA devices).

Trees differ in size, so the usual recipe (each rank draws its own batches) gives ranks
unequal work and unequal step counts. Here every rank forms the same *global* batches, as one
process forms them (the order drawn from ``(seed, epoch)`` only, ``batch_size`` items each, or
items up to ``batch_nodes`` nodes), and deals each global batch to the ranks in near-equal
node counts: every rank takes exactly one part per step, so step counts are equal by
construction. A part may be empty (a batch with fewer items than ranks): that rank runs an
item of the batch with weight 0, so it still joins the all-reduce and adds nothing.

Each rank's loss is scaled so that the average DDP takes is the one-process mean over the
global batch (see :meth:`DataParallel.loss`).

>>> deal([0, 1, 2, 3, 4], [9, 1, 1, 5, 4], 2)  # item i has sizes[i] nodes: 10 and 10
[[0, 1], [2, 3, 4]]
>>> [len(b) for b in global_batches(10, seed=1, epoch=1, batch_size=4)]
[4, 4, 2]
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from treenn.randomness import epoch_generator

log = logging.getLogger(__name__)

#: whether DDP all-reduces sparse gradients (embedding tables) as they are, by backend: gloo
#: does; nccl has no sparse all-reduce, so those tables get dense gradients there
SPARSE_ALLREDUCE = {"gloo": True, "nccl": False}


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0


def launched_size() -> int:
    """How many processes a launcher (torchrun, ``train --nproc``) started this one among:
    ``WORLD_SIZE`` of its environment (1 when there is none)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched_rank() -> int:
    """This process's ``RANK`` among a launcher's processes (0 when there is none)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def world() -> World:
    """The process group's rank and size once it is set up, else one process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(),
                     int(os.environ.get("LOCAL_RANK", "0")))
    return World()


def is_main() -> bool:
    """Rank 0, the process that writes the run's files and shows progress."""
    return world().rank == 0


def backend(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


@contextmanager
def session(device: str = "cpu") -> Iterator[World]:
    """The process group of one training run. A process started by a launcher among several
    joins it from the launcher's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``MASTER_PORT``: ``env://``) and leaves it at the end; one that is
    already in a group (set up by the caller) or alone is left as it is. Ranks other than 0
    log warnings only."""
    started = launched_size() > 1 and not dist.is_initialized()
    quiet, level = logging.getLogger("treenn"), logging.getLogger("treenn").level
    if started:
        if backend(device) == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend(device), timeout=timedelta(minutes=30))
        if not is_main():
            quiet.setLevel(logging.WARNING)
    try:
        yield world()
    finally:
        if started:
            quiet.setLevel(level)
            dist.destroy_process_group()


def _tensor_device() -> torch.device:
    """Where collectives take their tensors (nccl: the current GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    if world().size > 1:
        dist.barrier()


def all_reduce(values: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``values`` summed (or their maximum, ``op="max"``) over the ranks; itself alone."""
    if world().size == 1:
        return values
    reduce_op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op]
    moved = values.to(_tensor_device())
    dist.all_reduce(moved, op=reduce_op)
    return moved.to(values.device)


def from_main(make: Callable[[], object]) -> object:
    """``make()`` run on rank 0 only and its result sent to every rank (pickled): reading the
    run directory is rank 0's, so the others need not see its file system."""
    if world().size == 1:
        return make()
    box = [make() if is_main() else None]
    dist.broadcast_object_list(box, src=0, device=_tensor_device())
    return box[0]


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (filling the dataset cache), the others after it."""
    size, main = world().size, is_main()
    if size > 1 and not main:
        dist.barrier()
    yield
    if size > 1 and main:
        dist.barrier()


# ----------------------------------------------------------------------------- sharding


def global_batches(n_items: int, seed: int, epoch: int, batch_size: int,
                   batch_nodes: int | None = None, sizes: Sequence[int] | None = None,
                   bucket: int = 0) -> list[list[int]]:
    """An epoch's batches, the same for any number of processes: the items in the order
    ``(seed, epoch)`` draws, cut every ``batch_size`` items or, with ``batch_nodes``, before
    the item that would take the batch over that many nodes (``sizes[i]`` each; an item
    larger than the budget is a batch of its own).

    With ``bucket``, the drawn order is first cut into pools of ``bucket`` batches' worth
    (``bucket * batch_size`` items, or ``bucket * batch_nodes`` nodes), each pool is sorted
    by size and cut into batches, and the batches are shuffled: a batch holds items of
    similar size, so a model that steps through its longest item wastes fewer steps, while
    each epoch still draws new pools and a new batch order. (By nodes, a pool's last batch
    is often a part-filled one of its largest items.)"""
    generator = epoch_generator(seed, epoch)
    order = torch.randperm(n_items, generator=generator).tolist()
    if (batch_nodes is not None or bucket) and sizes is None:
        raise ValueError("batches by nodes or by size need the items' sizes")
    if not bucket:
        return _cut(order, batch_size, batch_nodes, sizes)
    pools = _cut(order, bucket * batch_size, batch_nodes and bucket * batch_nodes, sizes)
    batches = [batch for pool in pools
               for batch in _cut(sorted(pool, key=sizes.__getitem__), batch_size, batch_nodes,
                                 sizes)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _cut(order: list[int], batch_size: int, batch_nodes: int | None,
         sizes: Sequence[int] | None) -> list[list[int]]:
    """``order`` cut every ``batch_size`` items or before ``batch_nodes`` nodes."""
    if batch_nodes is None:
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    batches, current, nodes = [], [], 0
    for i in order:
        if current and nodes + sizes[i] > batch_nodes:
            batches.append(current)
            current, nodes = [], 0
        current.append(i)
        nodes += sizes[i]
    return batches + ([current] if current else [])


def deal(batch: Sequence[int], sizes: Sequence[int], n_parts: int) -> list[list[int]]:
    """Split a batch into ``n_parts`` parts of near-equal nodes: largest item first, each to
    the part with the fewest nodes so far (then the fewest items, then the lowest rank), so
    the parts' node counts differ by at most the largest item's. Each part keeps the batch's
    order; a part is empty when the batch has fewer items than parts."""
    parts: list[list[int]] = [[] for _ in range(n_parts)]
    nodes = [0] * n_parts
    for k in sorted(range(len(batch)), key=lambda k: (-sizes[batch[k]], k)):
        rank = min(range(n_parts), key=lambda r: (nodes[r], len(parts[r]), r))
        parts[rank].append(k)
        nodes[rank] += sizes[batch[k]]
    return [[batch[k] for k in sorted(part)] for part in parts]


@dataclass(frozen=True)
class Step:
    """One optimisation step as one process sees it."""

    index: list[int]  # this process's items of the global batch (maybe none)
    n_global: int  # items in the global batch (the loss is their mean)
    stand_in: int  # an item of the global batch, computed with weight 0 by an empty part


def epoch_steps(n_items: int, seed: int, epoch: int, batch_size: int,
                batch_nodes: int | None, sizes: Sequence[int] | None, where: World,
                bucket: int = 0) -> list[Step]:
    """This process's part of every global batch of an epoch (:func:`global_batches` dealt
    by :func:`deal`); one process takes each batch whole. ``sizes`` (nodes per item) are
    needed with ``batch_nodes``, ``bucket`` or several processes."""
    out = []
    for batch in global_batches(n_items, seed, epoch, batch_size, batch_nodes, sizes,
                                bucket):
        part = batch if where.size == 1 else deal(batch, sizes, where.size)[where.rank]
        out.append(Step(part, len(batch), batch[0]))
    return out


# ----------------------------------------------------------------------------- the step


class _Loss(nn.Module):
    """A trainee's loss as a module's ``forward``, which DDP wraps: its parameters are the
    model's, and the model itself (saved, evaluated, averaged) stays unwrapped."""

    def __init__(self, model: nn.Module, loss: Callable):
        super().__init__()
        self.model = model
        self._loss = loss

    def forward(self, batch):
        return self._loss(batch)


class DataParallel:
    """One process's side of data-parallel steps over ``model``, whose loss on a batch is
    ``loss(batch) -> (mean loss, n items, stats)``.

    ``find_unused_parameters``: a batch need not reach every parameter (a batch of one-word
    trees never composes; a parser batch without a margin violation touches almost nothing).
    A parameter no rank used keeps no gradient, as in one process.
    """

    def __init__(self, model: nn.Module, loss: Callable, where: World):
        self.where = where
        self.densified: list[nn.Embedding] = []
        if not SPARSE_ALLREDUCE[dist.get_backend()]:
            for module in model.modules():
                if isinstance(module, nn.Embedding) and module.sparse:
                    module.sparse = False  # dense gradients, all-reduced as such
                    self.densified.append(module)
        self.ddp = nn.parallel.DistributedDataParallel(_Loss(model, loss),
                                                       find_unused_parameters=True,
                                                       gradient_as_bucket_view=True)

    def loss(self, step: Step, collate: Callable) -> tuple[torch.Tensor, torch.Tensor, int,
                                                           dict]:
        """``(mean loss of this part, what to backpropagate, n, stats)``. What is
        backpropagated is the part's sum over the global batch's items times the world size:
        DDP divides the summed gradients by the world size, which leaves the gradient of the
        global batch's mean, as one process computes it. An empty part computes an item of
        the batch with weight 0 (and reports no items)."""
        batch = collate(step.index or [step.stand_in])
        loss, n, stats = self.ddp(batch)
        if not step.index:
            return loss, loss * 0.0, 0, {}
        return loss, loss * (n * self.where.size / step.n_global), n, stats

    def after_backward(self) -> None:
        """Back to sparse rows for the sparse optimisers (the rows with a gradient)."""
        for module in self.densified:
            if module.weight.grad is not None:
                module.weight.grad = module.weight.grad.to_sparse(1)

    def close(self) -> None:
        """Sparse embeddings back; DDP's reducer is dropped here, while the process group is
        alive: gloo work still referenced at interpreter teardown can abort the process
        (SIGABRT, "terminate called without an active exception"; seen once in CI). After an
        error, a traceback that still refers to the wrapper keeps it until it is dropped."""
        for module in self.densified:
            module.sparse = True
        self.ddp = None
        gc.collect()

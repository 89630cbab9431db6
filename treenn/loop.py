"""The training loop, written once for every model trained by gradient (classifiers and neural
parsers), as supar's ``Parser.train`` is. It owns what does not depend on the model: the data
order of each epoch (drawn from ``(seed, epoch)`` only, so a resumed run sees the same
batches), the optimiser step(s), clipping, the plateau schedule, weight averaging, metrics,
the progress bar, checkpoints, resuming and evaluation records. A :class:`Trainee` supplies
what does: the training items and their batches, the loss, how to evaluate a split, which dev
score selects the best epoch, the fields to log and the checkpoint payload.

The same loop trains on several processes (:mod:`treenn.distributed`): each computes its part
of every batch, DDP averages the gradients, rank 0 logs and writes. Clipping, weight averaging
and the plateau schedule live in :mod:`treenn.optimisation`, the generators in
:mod:`treenn.randomness`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from tqdm import tqdm

from treenn import distributed
from treenn.distributed import DataParallel, Step
from treenn.errors import TreennError
from treenn.optimisation import (
    WeightAverage,
    clip_gradients,
    plateau_from_rule,
    plateau_schedulers,
)
from treenn.options import check_fields, option
from treenn.randomness import rng_state, seed_rank_epoch, set_rng_state
from treenn.runs import RunDir, checkpoint_errors

__all__ = ["LoopConfig", "Trainee", "data_fingerprint", "evaluate_splits", "fit",
           "load_weights", "train_epoch", "train_step"]

log = logging.getLogger(__name__)


@dataclass
class LoopConfig:
    """The loop's options, shared by every model."""

    epochs: int = option(low=1)
    batch_size: int = option(low=1)
    seed: int = 1
    #: rescale each step's gradient to at most this L2 norm; None (or 0): no clipping
    clip: float | None = option(None, low=0)
    #: evaluate, select and save an exponential moving average of the weights with this
    #: decay per step (see :class:`WeightAverage`); 0 keeps the last weights
    ema: float = option(0.0, low=0, high=1, high_open=True)
    #: halve every learning rate after this many epochs in a row without a better dev score
    #: (counted from the best epoch or the last halving); 0 keeps the rates constant
    lr_patience: int = option(0, low=0)
    #: batches of items up to this many nodes (tokens) instead of ``batch_size`` items
    batch_nodes: int | None = option(None, low=1)
    #: draw batches from pools of this many batches sorted by size (0: plain shuffled batches;
    #: see :func:`treenn.distributed.global_batches`)
    bucket: int = option(0, low=0)
    progress: bool = True

    @classmethod
    def of(cls, settings: object) -> LoopConfig:
        """The loop's options as a run's (resolved) settings give them: fields of the same
        names."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


class Trainee:
    """The model side of the loop. Subclasses set ``model``, ``optimizers`` and
    ``best_key`` (the name the selection score has in the checkpoint's ``best``), and
    implement the methods below."""

    model: torch.nn.Module
    optimizers: list[torch.optim.Optimizer]
    best_key: str
    run_config: dict | None = None  # what config.json holds (fit writes it)

    def n_items(self) -> int:
        """How many training items an epoch goes through."""
        raise NotImplementedError

    def collate(self, index: list[int]):
        """The batch of training items ``index`` (in that order)."""
        raise NotImplementedError

    def sizes(self) -> list[int]:
        """Each training item's nodes (tokens): what ``batch_nodes`` counts, and what is
        balanced between processes."""
        raise NotImplementedError

    def loss(self, batch) -> tuple[torch.Tensor, int, dict[str, int]]:
        """``(loss, n, stats)``: the loss to minimise (a mean over the batch's ``n`` items)
        and counts summed over the epoch into its metrics line."""
        raise NotImplementedError

    def evaluate(self, split: str) -> dict:
        """The current model's result on ``split``."""
        raise NotImplementedError

    def score(self, dev: dict) -> float:
        """The selection score (higher is better) of a dev result."""
        raise NotImplementedError

    def fields(self, dev: dict) -> dict:
        """The dev result's fields of the metrics line."""
        raise NotImplementedError

    def summary(self, dev: dict) -> str:
        """The dev result in a few words, for the epoch's log line."""
        raise NotImplementedError

    def checkpoint(self) -> dict:
        """Everything ``best.pt`` holds to rebuild the current model (the loop adds
        ``epoch`` and ``best``). Tensors are copies: the weights may change afterwards."""
        raise NotImplementedError


def load_weights(module: torch.nn.Module, state_dict: dict, path: Path) -> None:
    """``module.load_state_dict`` of a checkpoint's tensors, else one line naming it."""
    own = module.state_dict()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TreennError(f"{path}: not a treenn checkpoint ({key} is not a tensor)")
        if key in own and value.dtype != own[key].dtype:
            raise TreennError(f"{path}: does not fit this run's model ({key} is {value.dtype})")
    with checkpoint_errors(path):
        module.load_state_dict(state_dict)


def data_fingerprint(value: object) -> str:
    """sha256 of a JSON value (file checksums, generator settings, trees): what data was."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def train_step(trainee: Trainee, step: Step, clip: float | None,
               average: WeightAverage | None = None, parallel: DataParallel | None = None
               ) -> tuple[float, int, dict]:
    """One optimiser step (every optimiser of the trainee) on a global batch, of which this
    process computes ``step.index`` (all of it without ``parallel``). Returns this process's
    summed loss, items and stats."""
    if parallel is None:
        loss, n, stats = trainee.loss(trainee.collate(step.index))
        weighted = loss
    else:
        loss, weighted, n, stats = parallel.loss(step, trainee.collate)
    for opt in trainee.optimizers:
        opt.zero_grad(set_to_none=True)
    weighted.backward()
    if parallel is not None:
        parallel.after_backward()
    if clip:
        clip_gradients(trainee.model.parameters(), clip)
    for opt in trainee.optimizers:
        opt.step()
    if average is not None:
        average.update(trainee.model)
    return loss.item() * n, n, stats


def train_epoch(trainee: Trainee, cfg: LoopConfig, epoch: int,
                average: WeightAverage | None = None, parallel: DataParallel | None = None
                ) -> tuple[float, dict]:
    """One pass over the training items in the order ``(seed, epoch)`` draws (with
    ``parallel``, this process's part of each batch); returns the mean loss per item and the
    summed stats (over every process)."""
    trainee.model.train()
    where = distributed.world() if parallel is not None else distributed.World()
    if where.size > 1:  # each rank its own dropout masks, the same after a resume
        seed_rank_epoch(cfg.seed, epoch, where.rank)
    sizes = trainee.sizes() if cfg.batch_nodes or cfg.bucket or where.size > 1 else None
    steps = distributed.epoch_steps(trainee.n_items(), cfg.seed, epoch, cfg.batch_size,
                                    cfg.batch_nodes, sizes, where, cfg.bucket)
    total, items, stats = 0.0, 0, {}
    bar = tqdm(steps, desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
               disable=not (cfg.progress and where.rank == 0), mininterval=0.5,
               dynamic_ncols=True)
    for step in bar:
        loss, n, batch_stats = train_step(trainee, step, cfg.clip, average, parallel)
        total += loss
        items += n
        for key, value in batch_stats.items():
            stats[key] = stats.get(key, 0) + value
        bar.set_postfix(loss=f"{total / max(items, 1):.3f}", refresh=False)
    trainee.model.eval()
    if where.size > 1:
        keys = sorted(stats)
        summed = distributed.all_reduce(torch.tensor([total, items, *(stats[k] for k in keys)],
                                                     dtype=torch.float64)).tolist()
        total, items = summed[0], int(summed[1])
        stats = {k: type(stats[k])(v) for k, v in zip(keys, summed[2:], strict=True)}
    return total / max(items, 1), stats


class _State:
    """What the loop carries from epoch to epoch, and how it is saved and restored."""

    def __init__(self, trainee: Trainee, cfg: LoopConfig, state: dict | None):
        self.trainee, self.cfg = trainee, cfg
        self.average = None
        if cfg.ema:  # a checkpoint's weights are the average: it starts from them, and
            self.average = WeightAverage(trainee.model, cfg.ema,
                                         state.get("ema_steps", 0) if state else 0)
            if state:  # training goes on from the raw weights saved beside them
                trainee.model.load_state_dict(state["train_state_dict"])
        self.plateau = plateau_schedulers(trainee.optimizers, cfg.lr_patience)
        self.start, self.best = 1, {"epoch": 0, trainee.best_key: -1.0}
        if state:
            self._restore(state)

    def _restore(self, state: dict) -> None:
        # parser checkpoints from before this loop kept their one optimiser under "optimizer"
        saved = state["optimizers"] if "optimizers" in state else [state["optimizer"]]
        for opt, opt_state in zip(self.trainee.optimizers, saved, strict=True):
            opt.load_state_dict(opt_state)  # holds the (possibly halved) rate
        best, key = state["best"], self.trainee.best_key
        self.start, self.best = state["epoch"] + 1, {"epoch": int(best["epoch"]),
                                                     key: float(best[key])}
        for i, scheduler in enumerate(self.plateau):
            if "plateau" in state:
                scheduler.load_state_dict(state["plateau"][i])
            else:  # a checkpoint from before the schedulers
                plateau_from_rule(scheduler, state["epoch"], self.best["epoch"],
                                  self.best[self.trainee.best_key], state.get("lr_halved_at", 0))
        set_rng_state(state["rng"])

    def resume_state(self) -> dict:
        out = {"optimizers": [opt.state_dict() for opt in self.trainee.optimizers],
               "rng": rng_state()}
        if self.plateau:
            out["plateau"] = [s.state_dict() for s in self.plateau]
        if self.average:
            out.update(train_state_dict=self.trainee.model.state_dict(),
                       ema_steps=self.average.steps)
        return out


def _evaluate_epoch(trainee: Trainee, average: WeightAverage | None) -> tuple[dict, dict, dict]:
    """The dev result, its metrics fields and the checkpoint payload of the weights that
    are selected and saved (the average with ``--ema``; then the raw weights' fields too,
    suffixed ``_raw``, to see what the average changes)."""
    fields = {}
    if average:
        raw = trainee.fields(trainee.evaluate("dev"))
        fields.update({f"{k}_raw": v for k, v in raw.items()})
    with average.applied(trainee.model) if average else nullcontext():
        dev = trainee.evaluate("dev")
        payload = trainee.checkpoint()
    fields.update(trainee.fields(dev))
    return dev, fields, payload


def fit(trainee: Trainee, cfg: LoopConfig, run: RunDir, state: dict | None = None) -> dict:
    """Train ``trainee`` for ``cfg.epochs`` (from ``state``, a ``last.pt``, when resuming),
    logging each epoch and saving ``last.pt`` and, when the dev score improved, ``best.pt``;
    ``config.json`` is written once ``state`` is restored (a damaged one changes nothing).
    In a process group (:mod:`treenn.distributed`) every rank trains its part of each batch
    and evaluates its part of dev; rank 0 alone logs and writes.

    Returns the best epoch: ``{"epoch", trainee.best_key}``.
    """
    check_fields(cfg)  # the configs that build it were checked by the same field ranges
    with checkpoint_errors(run.last) if state else nullcontext():
        loop = _State(trainee, cfg, state)
    where, main = distributed.world(), distributed.is_main()
    if state and main:
        log.info("resuming %s at epoch %d", run.path, loop.start)
    if main:
        if trainee.run_config is not None:
            run.write_config(trainee.run_config)
        run.keep_metrics_until(loop.start - 1)
    parallel = DataParallel(trainee.model, trainee.loss, where) if where.size > 1 else None
    try:
        for epoch in range(loop.start, cfg.epochs + 1):
            _epoch(trainee, cfg, run, loop, epoch, parallel)
    finally:
        if parallel is not None:
            parallel.close()
    return loop.best


def _epoch(trainee: Trainee, cfg: LoopConfig, run: RunDir, loop: _State, epoch: int,
           parallel: DataParallel | None) -> None:
    """Train one epoch, evaluate it, step the schedule; rank 0 logs and saves it."""
    t0 = time.perf_counter()
    loss, stats = train_epoch(trainee, cfg, epoch, loop.average, parallel)
    record = {"epoch": epoch, "train_loss": loss, "train_time_s": time.perf_counter() - t0,
              **stats}
    dev, fields, payload = _evaluate_epoch(trainee, loop.average)
    record.update(fields, eval_time_s=time.perf_counter() - t0 - record["train_time_s"])
    score = trainee.score(dev)  # the same on every rank: dev's counts are summed
    improved = score > loop.best[trainee.best_key]
    if improved:
        loop.best = {"epoch": epoch, trainee.best_key: score}
    record["lr"] = trainee.optimizers[0].param_groups[0]["lr"]
    main = distributed.is_main()
    if main:
        log.info("epoch %d: loss %.4f, %s (%.1fs)%s", epoch, loss, trainee.summary(dev),
                 record["train_time_s"], "  *best*" if improved else "")
    _step_plateau(loop.plateau, score, main)
    if main:
        run.log_epoch(record)
        run.save_epoch({**payload, "epoch": epoch, "best": loop.best}, improved,
                       loop.resume_state())


def _step_plateau(schedulers: list, score: float, main: bool = True) -> None:
    before = [s.optimizer.param_groups[0]["lr"] for s in schedulers]
    for scheduler in schedulers:
        scheduler.step(score)
    if main and schedulers and schedulers[0].optimizer.param_groups[0]["lr"] != before[0]:
        log.info("no better dev score for %d epochs: learning rate halved to %g",
                 schedulers[0].patience + 1, schedulers[0].optimizer.param_groups[0]["lr"])


def evaluate_splits(run: RunDir, evaluate: Callable[[str], dict], splits: Iterable[str],
                    sources: dict[str, dict], best: dict) -> dict:
    """Evaluate the best checkpoint (``best``, loaded from ``run.best``) on each split and
    write ``eval-<split>.json`` with what it scored (the data ``sources[split]``)."""
    results = {}
    for split in splits:
        results[split] = evaluate(split)  # every rank scores its part
        if distributed.is_main():
            run.write_eval(results[split], sources[split], run.best, best)
    return results

"""What the loop does to gradients, weights and learning rates around the optimiser's step:
clipping (sparse gradients included), an exponential moving average of the weights, and the
plateau schedule of the learning rates. Each is tested against a plain reference in
``tests/test_loop.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

import torch

from treenn.errors import TreennError


def clip_gradients(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_``, which also takes sparse gradients (an embedding
    table's): those are coalesced first, so repeated rows count once, summed."""
    params = [p for p in parameters if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
    norms = [torch.linalg.vector_norm(p.grad._values() if p.grad.is_sparse else p.grad)
             for p in params]
    total = torch.linalg.vector_norm(torch.stack(norms))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in params:
        p.grad.mul_(coef)


def ema_rate(decay: float, step: int) -> float:
    """How far the average moves to the new weights at ``step`` (1, 2, ...): ``1 - d_t``
    with ``d_t = min(decay, (1 + t) / (10 + t))``."""
    return 1 - min(decay, (1 + step) / (10 + step))


class WeightAverage:
    """Exponential moving average of a model's floating-point weights (Polyak and Juditsky
    1992): after step ``t`` each average moves to the new weights by :func:`ema_rate`, so
    the first steps, far from where training ends, are not kept for long.

    A ``torch.optim.swa_utils.AveragedModel`` with ``torch._foreach_lerp_`` does the
    averaging; it counts the starting weights as its first average (``n_averaged`` is
    ``steps + 1``), because its first ``update_parameters`` would copy rather than lerp.
    """

    def __init__(self, model: torch.nn.Module, decay: float, steps: int = 0):
        """Starts from the model's weights, as an average of ``steps`` steps so far."""
        if any(not b.is_floating_point() for b in model.buffers()):
            raise TreennError("weight averaging needs a model without integer buffers")
        self.decay = decay
        self.averaged = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=self._lerp, use_buffers=True)
        self.averaged.n_averaged.fill_(steps + 1)

    def _lerp(self, averaged: list[torch.Tensor], current: list[torch.Tensor],
              n_averaged: torch.Tensor) -> None:
        torch._foreach_lerp_(averaged, current, ema_rate(self.decay, int(n_averaged)))

    @property
    def steps(self) -> int:
        return int(self.averaged.n_averaged) - 1

    @property
    def shadow(self) -> dict[str, torch.Tensor]:
        """The averaged weights, by state-dict name."""
        return self.averaged.module.state_dict()

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.averaged.update_parameters(model)

    @contextmanager
    def applied(self, model: torch.nn.Module):
        """The model holds the averaged weights inside the block, its own ones after."""
        own = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(own)


def plateau_schedulers(optimizers: list[torch.optim.Optimizer], patience: int
                       ) -> list[torch.optim.lr_scheduler.ReduceLROnPlateau]:
    """Halve every rate after ``patience`` epochs without a better score (``> best``, no
    threshold); ``eps=0`` so that a small rate is halved too. None for ``patience = 0``."""
    if not patience:
        return []
    return [torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=0.5, patience=patience - 1, threshold=0, eps=0.0)
        for opt in optimizers]


def should_halve_lr(epoch: int, best_epoch: int, halved_at: int, patience: int) -> bool:
    """The plateau rule in one line (the reference the schedulers are tested against, and
    how checkpoints from before them resume): halve after ``patience`` epochs in a row that
    did not beat the best dev score, counting from the best epoch or the last halving."""
    return patience > 0 and epoch - max(best_epoch, halved_at) >= patience


def plateau_from_rule(scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, epoch: int,
                      best_epoch: int, best: float, halved_at: int) -> None:
    """Set ``scheduler`` to where :func:`should_halve_lr`'s counts stand after ``epoch``
    (the state of a run saved before the schedulers, which kept ``halved_at`` instead)."""
    scheduler.best = best
    scheduler.num_bad_epochs = epoch - max(best_epoch, halved_at)
    scheduler.last_epoch = epoch

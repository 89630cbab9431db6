"""The random state of a run: every generator it draws from, saved in checkpoints and restored
on ``--resume``, and the generator of each epoch's data order.

>>> a = torch.randperm(5, generator=epoch_generator(1, 2)).tolist()
>>> a == torch.randperm(5, generator=epoch_generator(1, 2)).tolist()
True
"""

from __future__ import annotations

import ast
import random

import numpy as np
import torch


def rng_state() -> dict:
    """Every random number generator a run draws from, as checkpoint-safe data."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": repr(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved (generators it does not mention are left)."""
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                             n["has_gauss"], n["gauss"]))
    if "python" in state:  # the repr of a tuple of ints (and None): no eval needed
        random.setstate(ast.literal_eval(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The data order of an epoch depends only on (seed, epoch), so a resumed run matches."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def seed_rank_epoch(seed: int, epoch: int, rank: int) -> None:
    """Seed every generator of one process of a data-parallel run for one epoch, from
    ``(seed, epoch, rank)`` only: ranks draw different dropout masks, and a run resumed on
    the same number of processes draws the same ones as an uninterrupted run."""
    seed_everything(((seed * 100_003 + epoch) * 1_009 + rank + 1) % 2**32)  # numpy's range

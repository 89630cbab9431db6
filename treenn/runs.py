"""The files of a training run, shared by the classifier and parser trainers.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON object per epoch),
``best.pt``, ``last.pt`` and ``eval-<split>.json``. Every file is replaced atomically (written
to a temporary name, then renamed), so an interruption leaves the previous version intact;
checkpoints are plain dicts that load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import ast
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from treenn.errors import TreennError


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def read_run_config(run_dir: str | Path) -> dict | None:
    """A run's ``config.json`` as a dict, None when the folder has none, or a one-line
    ``TreennError`` naming the file when it is not a run configuration."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TreennError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except UnicodeDecodeError:
        raise TreennError(f"{path}: not UTF-8 text") from None
    if not isinstance(info, dict):
        raise TreennError(f"{path}: not a treenn run configuration (a JSON object)")
    return info


def read_eval(run_dir: str | Path, split: str) -> dict:
    """A run's ``eval-<split>.json`` (what :meth:`RunDir.write_eval` wrote), or a one-line
    ``TreennError`` naming the file when it is missing or not an evaluation."""
    path = Path(run_dir) / f"eval-{split}.json"
    if not path.is_file():
        raise TreennError(f"{path}: missing (the run has not finished; `train.py evaluate "
                          f"{run_dir} --split {split}` writes it from best.pt)")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise TreennError(f"{path}: not valid JSON") from None
    if not isinstance(result, dict):
        raise TreennError(f"{path}: not an evaluation (a JSON object)")
    return result


def is_parser_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` was written by the parser trainer (``--task ptb``)."""
    info = read_run_config(run_dir)
    return info is not None and info.get("kind") == "parser"


def load_checkpoint(path: Path) -> dict:
    """A checkpoint as a plain dict, or a one-line ``TreennError`` if it is missing or bad."""
    if not path.is_file():
        raise TreennError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise TreennError(f"{path}: not a readable treenn checkpoint ({err})") from None


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs logged in ``metrics.jsonl``; an unreadable (cut-off) line is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


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
    """Restore what :func:`rng_state` saved (generators it does not mention are left as
    they are)."""
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                             n["has_gauss"], n["gauss"]))
    if "python" in state:
        random.setstate(_python_state(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state(text: str):
    # repr of a tuple of ints (and None): safe to rebuild without eval
    return ast.literal_eval(text)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The data order of an epoch depends only on (seed, epoch), so a resumed run matches."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class RunDir:
    """Start, resume and write one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.best = self.path / "best.pt"

    def files(self) -> list[Path]:
        """The run files in the directory (what a new run would replace)."""
        if not self.path.is_dir():
            return []
        names = ("config.json", "metrics.jsonl", "best.pt", "last.pt")
        return sorted(p for p in self.path.iterdir()
                      if p.name in names or (p.name.startswith("eval-")
                                             and p.name.endswith(".json")))

    def holds_results(self) -> bool:
        """Whether a finished epoch's checkpoint or an evaluation is there."""
        return any(p.name != "config.json" and p.name != "metrics.jsonl"
                   for p in self.files())

    def start(self, cfg, resume: bool, overwrite: bool = False):
        """Check the directory can be (re)used and return ``(cfg, state)``.

        A new run never replaces run files already there (a finished run whose ``last.pt``
        was deleted included) unless ``overwrite``, which deletes them first.

        Resuming replaces ``cfg`` by the run's saved configuration (of the same dataclass,
        which needs a ``from_dict``), except that a given ``cfg.epochs`` extends the run;
        ``state`` is ``last.pt`` (None when no epoch has finished yet).
        """
        if resume:
            config = self.path / "config.json"
            if not config.is_file():
                raise TreennError(f"{self.path}: nothing to resume (no config.json)")
            saved = type(cfg).from_dict({**json.loads(config.read_text())["train"],
                                         "out": str(self.path)})
            if cfg.epochs is not None:
                saved.epochs = cfg.epochs
            if not self.last.is_file():
                return saved, None
            state = load_checkpoint(self.last)
            if "rng" not in state:  # written before this module: generators under own keys
                state["rng"] = {k: state[f"{k}_rng"] for k in ("torch", "numpy")
                                if f"{k}_rng" in state}
            return saved, state
        existing = self.files()
        if existing and not overwrite:
            names = ", ".join(p.name for p in existing)
            hint = "--resume to continue it, " if self.last.is_file() else ""
            raise TreennError(f"{self.path} already holds a run ({names}); pass {hint}"
                              "--overwrite to replace it, or choose another --out")
        if self.path.exists() and not self.path.is_dir():
            raise TreennError(f"--out {self.path} is a file, not a run directory")
        for p in existing:
            p.unlink()
        return cfg, None  # the directory is made by the first write, after the checks

    def write_config(self, info: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.json", json.dumps(info, indent=2) + "\n")

    def keep_metrics_until(self, epoch: int) -> None:
        """Drop logged epochs after ``epoch`` (logged before an interruption that happened
        before their checkpoint); with ``epoch = 0`` start a fresh log."""
        kept = [m for m in read_metrics(self.path) if m["epoch"] <= epoch]
        atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(m) + "\n"
                                                               for m in kept))

    def log_epoch(self, record: dict) -> None:
        lines = [json.dumps(m) for m in read_metrics(self.path)] + [json.dumps(record)]
        atomic_write_text(self.path / "metrics.jsonl", "\n".join(lines) + "\n")

    def save_epoch(self, checkpoint: dict, improved: bool, resume_state: dict) -> None:
        """``best.pt`` when the epoch improved, and always ``last.pt`` with what resuming
        needs on top (optimiser and random states)."""
        if improved:
            atomic_save(checkpoint, self.best)
        atomic_save({**checkpoint, **resume_state, "rng": rng_state()}, self.last)

    def write_eval(self, split: str, result: dict) -> None:
        atomic_write_text(self.path / f"eval-{split}.json", json.dumps(result) + "\n")

"""Finished run directories read into :class:`RunInfo` rows, and why any run is skipped."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

#: How the report names models.
DISPLAY_NAMES = {"tree-lstm": "Tree-LSTM", "childsum-tree-lstm": "Child-Sum Tree-LSTM",
                 "recnn": "RecNN", "rntn": "RNTN", "rnn": "RNN", "lstm": "LSTM", "gru": "GRU",
                 "bilstm": "BiLSTM"}

#: Training settings that do not make runs different models (seeds are what is averaged).
NOT_VARIANT = ("out", "seed", "progress", "threads", "device", "eval_batch_size", "data_dir")


class SkipRun(Exception):
    """A run that cannot be compared (the message says why)."""


@dataclass
class RunInfo:
    """One finished run as the report sees it."""

    path: Path
    task: str
    model: str
    label: str
    seed: int
    is_tree: bool
    config: dict
    metrics: list[dict]
    evals: dict[str, dict]

    @cached_property
    def variant(self) -> dict:
        """Training settings that make a different model (everything but the seed and where
        or how fast it ran). Settings a run's version of treenn did not have yet take their
        default, so older and newer runs of the same model group together."""
        from treenn.training import TrainConfig

        train = TrainConfig.from_dict(self.config["train"],
                                      self.path / "config.json").resolved().__dict__
        return {k: v for k, v in train.items() if k not in NOT_VARIANT}

    @property
    def test(self) -> dict:
        return self.evals["test"]

    @cached_property
    def sentences(self) -> dict[str, np.ndarray]:
        """Test sentences with a gold root label: ``gold``, ``pred``, ``length``, ``height``
        and ``correct``, each ``[n]`` in test-file order."""
        per = self.test["per_sentence"]
        gold = np.asarray(per["gold"], dtype=np.int64)
        keep = gold >= 0
        out = {k: np.asarray(per[k], dtype=np.int64)[keep]
               for k in ("gold", "pred", "length", "height")}
        out["correct"] = out["gold"] == out["pred"]
        return out

    @cached_property
    def test_set_key(self) -> str:
        """Fingerprint of the test set (gold labels and lengths, in order)."""
        per = self.test["per_sentence"]
        text = json.dumps([self.task, per["gold"], per["length"]])
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([m.get("train_time_s", np.nan) for m in self.metrics]))


def model_label(train_cfg: dict, model_cfg: dict) -> str:
    """The model's display name plus what sets this variant apart (embeddings, layers...)."""
    model = train_cfg["model"]
    parts = []
    if model_cfg.get("bidirectional") and model != "bilstm":
        parts.append("bidirectional")
    if model_cfg.get("layers", 1) > 1 and not _is_tree(model):
        parts.append(f"{model_cfg['layers']} layers")
    if train_cfg.get("embeddings"):
        parts.append(Path(str(train_cfg["embeddings"])).name
                     + (" frozen" if train_cfg.get("freeze_embeddings") else ""))
    if not _is_tree(model) and train_cfg.get("seq_train") == "sentences":
        parts.append("sentences only")
    name = DISPLAY_NAMES.get(model, model)
    return f"{name} ({', '.join(parts)})" if parts else name


def _is_tree(model: str) -> bool:
    from treenn.models import MODELS

    return model in MODELS and MODELS[model].kind == "tree"


def load_run(run_dir: str | Path) -> RunInfo:
    """Read a finished run; raise :class:`SkipRun` saying why it cannot be compared (a
    damaged run file: the loader's one line, naming the file)."""
    from treenn.errors import TreennError
    from treenn.runs import read_metrics

    run_dir = Path(run_dir)
    try:
        config, epochs = _read_config(run_dir)
        metrics = read_metrics(run_dir)
        if len(metrics) < epochs:
            raise SkipRun(f"unfinished: metrics.jsonl has {len(metrics)} of {epochs} epochs")
        train_cfg, model_cfg = config["train"], config.get("model", {})
        evals = _read_evals(run_dir, train_cfg["task"])
        run = RunInfo(run_dir, train_cfg["task"], train_cfg["model"],
                      model_label(train_cfg, model_cfg), int(train_cfg.get("seed", 0)),
                      _is_tree(train_cfg["model"]), config, metrics, evals)
        run.variant  # noqa: B018 - settings of another version or damaged: skipped here
    except TreennError as err:
        raise SkipRun(str(err)) from None
    return run


def _read_config(run_dir: Path) -> tuple[dict, int]:
    """A classifier run's ``config.json`` and its number of epochs, or :class:`SkipRun`."""
    from treenn.runs import read_run_config

    if not run_dir.is_dir():
        raise SkipRun("no such directory")
    config = read_run_config(run_dir)
    if config is None:
        raise SkipRun("not a run directory (no config.json)")
    if config.get("kind") == "parser":
        raise SkipRun("a parser run (compare reads classifier runs; `python -m "
                      "treenn.experiments.seeds RUN...` lists parser runs)")
    epochs = config["train"].get("epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool):
        raise SkipRun(f"{run_dir / 'config.json'}: train.epochs is not an integer")
    return config, epochs


def _read_evals(run_dir: Path, task: str) -> dict[str, dict]:
    """The run's own evaluations by split (``eval-<split>.json``: best.pt on the run's own
    data; ``eval-<split>@....json`` scored other data or checkpoints and is left out);
    :class:`SkipRun` unless the test split's is there, for ``task``, with per-sentence
    results."""
    from treenn.runs import read_eval

    if not (run_dir / "eval-test.json").is_file():
        raise SkipRun("unfinished: no eval-test.json (training stopped before the final "
                      "evaluation)")
    names = sorted(p.name[5:-5] for p in run_dir.glob("eval-*.json") if "@" not in p.name)
    evals = {split: read_eval(run_dir, split) for split in names}
    test = evals["test"]
    if test.get("task") != task:
        raise SkipRun(f"eval-test.json is for task {test.get('task')!r}, the run for "
                      f"{task!r}")
    if "per_sentence" not in test:
        raise SkipRun("eval-test.json has no per-sentence results (run `train.py evaluate "
                      f"{run_dir} --split test` again)")
    per = test["per_sentence"]
    columns = [per.get(k) for k in ("gold", "pred", "length", "height")] if isinstance(
        per, dict) else [None]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in c) for c in columns):
        raise SkipRun(f"{run_dir / 'eval-test.json'}: per_sentence is not four lists of "
                      "integers of one length")
    return evals


def expand_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Each path as given; a folder without config.json but with run folders inside stands
    for those runs."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / "config.json").exists():
            inner = sorted(d for d in p.iterdir() if (d / "config.json").is_file())
            if inner:
                out += inner
                continue
        out.append(p)
    return out


def collect_runs(paths: Sequence[str | Path]) -> tuple[list[RunInfo], list[tuple[str, str]]]:
    """Finished runs, and ``(path, reason)`` for every path that was skipped."""
    runs, skipped, seen = [], [], set()
    for path in expand_run_dirs(paths):
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            runs.append(load_run(path))
        except SkipRun as err:
            skipped.append((str(path), str(err)))
    return runs, skipped

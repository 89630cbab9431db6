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
                 "recnn": "RecNN", "rntn": "RNTN", "tree-grc": "GRC (gold trees)", "rnn": "RNN",
                 "lstm": "LSTM", "gru": "GRU",
                 "bilstm": "BiLSTM", "gumbel-tree-lstm": "Gumbel Tree-LSTM (latent trees)",
                 "beam-tree-lstm": "Beam Tree-LSTM (latent trees)",
                 "gumbel-beam-tree-lstm": "Gumbel-ranked beam Tree-LSTM (latent trees)",
                 "beam-tree-grc": "Beam GRC (latent trees)",
                 "gumbel-beam-tree-grc": "Gumbel-ranked beam GRC (latent trees)"}

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
        and ``correct``, each ``[n]`` in test-file order; ``group`` (strings) when the run's
        evaluation gave one (the task's ``sentence_group``)."""
        per = self.test["per_sentence"]
        gold = np.asarray(per["gold"], dtype=np.int64)
        keep = gold >= 0
        out = {k: np.asarray(per[k], dtype=np.int64)[keep]
               for k in ("gold", "pred", "length", "height")}
        out["correct"] = out["gold"] == out["pred"]
        if "group" in per:
            out["group"] = np.asarray(per["group"], dtype=object)[keep]
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
    """A recursive model (on gold trees or its own): compared against sequence models."""
    from treenn.models import MODELS

    return model in MODELS and MODELS[model].kind in ("tree", "latent")


def load_run(run_dir: str | Path) -> RunInfo:
    """Read a finished run; raise :class:`SkipRun` saying why it cannot be compared (a
    damaged run file: the loader's one line, naming the file). What the report reads of it
    is checked here, so that a damaged file skips its run instead of stopping the report."""
    from treenn.errors import TreennError
    from treenn.runs import read_metrics
    from treenn.training import TrainConfig

    run_dir = Path(run_dir)
    try:
        config, epochs = _read_config(run_dir)
        train = TrainConfig.from_dict(config["train"], run_dir / "config.json")
        metrics = read_metrics(run_dir)
        if len(metrics) < epochs:
            raise SkipRun(f"unfinished: metrics.jsonl has {len(metrics)} of {epochs} epochs")
        lacking = [m["epoch"] for m in metrics if not {"dev_root_acc", "train_time_s"} <= set(m)]
        if lacking:
            raise SkipRun(f"{run_dir / 'metrics.jsonl'}: epoch {lacking[0]} has no "
                          "dev_root_acc or train_time_s")
        evals = _read_evals(run_dir, train.task)
        run = RunInfo(run_dir, train.task, train.model,
                      model_label(config["train"], config.get("model", {})), train.seed,
                      _is_tree(train.model), config, metrics, evals)
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
    model, epochs = config.get("model", {}), config["train"].get("epochs")
    wrong = [key for where, key, kind in ((config, "parameters", int), (model, "layers", int),
                                          (model, "bidirectional", bool))
             if type(where.get(key, kind())) is not kind]
    if type(epochs) is not int or wrong:
        raise SkipRun(f"{run_dir / 'config.json'}: {', '.join(wrong) or 'train.epochs'} of "
                      "the wrong type")
    return config, epochs


def _read_evals(run_dir: Path, task: str) -> dict[str, dict]:
    """The run's own evaluations by split (``eval-<split>.json``: best.pt on the run's own
    data; ``eval-<split>@....json`` scored other data or checkpoints and is left out);
    :class:`SkipRun` unless the test split's is there, for ``task``, with per-sentence
    results and a root confusion matrix."""
    from treenn.data.tasks import get_task
    from treenn.runs import read_eval

    path = run_dir / "eval-test.json"
    if not path.is_file():
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
    per, k = test["per_sentence"], get_task(task).n_classes
    if not _int_table([per.get(c) for c in ("gold", "pred", "length", "height")]):
        raise SkipRun(f"{path}: per_sentence is not four lists of integers of one length")
    group = per.get("group", [""] * len(per["gold"]))
    if not (isinstance(group, list) and len(group) == len(per["gold"])
            and all(isinstance(g, str) for g in group)):
        raise SkipRun(f"{path}: per_sentence.group is not a list of strings, one per sentence")
    confusion = test["root"].get("confusion")
    if not (_int_table(confusion) and len(confusion) == k == len(confusion[0])):
        raise SkipRun(f"{path}: root.confusion is not a {k} x {k} table of integers")
    collapsed = test.get("collapsed", {"root": {"accuracy": 0}, "all": {"accuracy": 0}})
    if not (isinstance(collapsed, dict) and all(
            isinstance(collapsed.get(s), dict)
            and type(collapsed[s].get("accuracy")) in (int, float) for s in ("root", "all"))):
        raise SkipRun(f"{path}: collapsed has no root and all accuracy")
    return evals


def _int_table(rows: object) -> bool:
    """Whether ``rows`` is a non-empty list of lists of integers, all of one length."""
    return isinstance(rows, list) and bool(rows) and all(
        isinstance(row, list) and len(row) == len(rows[0])
        and all(type(x) is int for x in row) for row in rows)


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

"""A run directory's files, and the one loader of each kind that every command uses.

A run holds ``config.json``, ``metrics.jsonl``, ``best.pt``, ``last.pt`` and
``eval-<split>.json``, each replaced atomically (written to ``<name>.tmp``, then renamed; a
stale ``*.tmp`` is never read, and is deleted when the run starts). A damaged file is a one-line
``TreennError`` starting with its path (and line, in JSON), never a ``KeyError`` later.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import torch

from treenn.errors import TreennError
from treenn.options import check_value, field_type


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _bad(path: Path | str, text: str, keys: tuple[str, ...], message: str) -> TreennError:
    """``path:line: message``, the line of the (nested) ``keys`` in the JSON ``text``."""
    pos = 0
    for key in keys:
        pos = text.find(json.dumps(key) + ":", pos)
        if pos < 0:
            return TreennError(f"{path}: {message}")
    return TreennError(f"{path}:{text.count(chr(10), 0, pos) + 1}: {message}")


def _read_json(path: Path) -> tuple[object, str]:
    try:
        text = path.read_bytes().decode("utf-8")
        return json.loads(text), text
    except UnicodeDecodeError as err:
        raise TreennError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x})") from None
    except json.JSONDecodeError as err:
        raise TreennError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def _typed(value: object, want: type) -> bool:
    if isinstance(value, bool):
        return want is bool
    return isinstance(value, int | float) if want is float else isinstance(value, want)


def config_from_dict(cls: type, values: dict, path: Path | str, text: str = "",
                     section: str = "train"):
    """The config dataclass ``cls`` from saved ``values`` (keys it lacks are ignored); a
    value of the wrong type or range is an error at the line of ``section.key`` in ``text``."""
    out = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        value, want, why = values[f.name], field_type(f), None
        if value is None:
            why = None if "None" in str(f.type) or f.default is None else "null"
        elif not _typed(value, want):
            why = f"a {type(value).__name__}, not a {want.__name__}"
        else:
            try:
                check_value(f, value)
            except ValueError as err:
                why = str(err)
        if why is not None:
            raise _bad(path, text, (section, f.name), f"{section}.{f.name} is {why}")
        out[f.name] = value
    try:
        return cls(**out)
    except TypeError as err:  # a required setting is missing
        raise TreennError(f"{path}: {section} lacks a setting ({err})") from None


def _read_config(run_dir: str | Path) -> tuple[dict, str, Path] | None:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    info, text = _read_json(path)
    if not isinstance(info, dict):
        raise TreennError(f"{path}:1: not a treenn run configuration (a JSON object)")
    kind = info.get("kind", "classifier")
    if kind not in ("classifier", "parser"):
        raise _bad(path, text, ("kind",), "kind is not 'parser'")
    what = f"not a {kind} run configuration"
    if not isinstance(info.get("train"), dict):
        raise _bad(path, text, ("train",), f"{what} (no train settings)")
    for key in ("model",) if kind == "parser" else ("task", "model"):
        if not isinstance(info["train"].get(key), str):
            raise _bad(path, text, ("train", key), f"{what} (train.{key} is not a name)")
    for key in ("model", "parser", "data", "sizes"):
        if not isinstance(info.get(key, {}), dict):
            raise _bad(path, text, (key,), f"{key} is not a JSON object")
    prints = info.get("data", {}).get("fingerprints", {})
    if not isinstance(prints, dict) or not all(isinstance(v, str) for v in prints.values()):
        raise _bad(path, text, ("fingerprints",), "data.fingerprints: not strings by split")
    return info, text, path


def read_run_config(run_dir: str | Path) -> dict | None:
    """A run's ``config.json`` (None when there is none), or a one-line error at its line
    when it is not JSON, not an object, or has no ``train`` with ``task`` and ``model``."""
    found = _read_config(run_dir)
    return None if found is None else found[0]


def read_train_config(run_dir: str | Path, cls: type, **values):
    """The run's settings (but ``values``) as ``cls``, whose ``from_dict`` checks them."""
    found = _read_config(run_dir)
    if found is None:
        raise TreennError(f"{run_dir}: not a run directory (no config.json)")
    return cls.from_dict({**found[0]["train"], **values}, found[2], found[1])


def task_and_model(info: dict) -> tuple[str, str]:
    """A run configuration's ``(task, model)`` (task ``ptb`` for parsers): what it resumes."""
    train = info["train"]
    return "ptb" if info.get("kind") == "parser" else train["task"], train["model"]


def is_parser_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` was written by the parser trainer (``--task ptb``)."""
    return (read_run_config(run_dir) or {}).get("kind") == "parser"


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The epochs of ``metrics.jsonl`` ([] without one), objects of numbers for epochs 1, 2,
    ...; a last line cut off before its newline (an interrupted append) is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    lines, out = (data := path.read_bytes()).split(b"\n"), []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if lineno == len(lines) and not data.endswith(b"\n"):
                break
            raise TreennError(f"{path}:{lineno}: not a JSON line") from None
        if not isinstance(record, dict) or not all(_typed(v, float) for v in record.values()):
            raise TreennError(f"{path}:{lineno}: not an epoch's metrics (an object of numbers)")
        if record.get("epoch") != len(out) + 1 or not isinstance(record["epoch"], int):
            raise TreennError(f"{path}:{lineno}: epoch {record.get('epoch')}, not {len(out) + 1}")
        out.append(record)
    return out


def _eval_problem(result: object, split: str) -> str | None:
    """Why ``result`` is not an evaluation of ``split`` (None when it is one)."""
    if not isinstance(result, dict) or not isinstance(result.get("task", ""), str):
        return "not an evaluation (a JSON object)"
    if result.get("split", split) != split:
        return f"the evaluation of split {result.get('split')!r}, not {split!r}"
    parser = "labelled" in result or "unlabelled" in result
    names, key = (("labelled", "unlabelled"), "f1") if parser else (("root", "all"), "accuracy")
    if not all(isinstance(result.get(n), dict) and _typed(result[n].get(key), float)
               and 0 <= result[n][key] <= 1 for n in names):
        return f"not a {'parser' if parser else 'classifier'} evaluation (no {key} in [0, 1])"
    source, ckpt = result.get("source", {}), result.get("checkpoint", {})
    if not (isinstance(ckpt, dict) and isinstance(source, dict)
            and isinstance(source.get("fingerprint", ""), str)):
        return "its source (with a fingerprint) or checkpoint is not a JSON object"


def read_eval(run_dir: str | Path, split: str) -> dict:
    """A run's own ``eval-<split>.json`` (best.pt on the run's own data; files from before
    evaluations recorded what they scored are taken as they are), else a one-line error."""
    path = Path(run_dir) / f"eval-{split}.json"
    if not path.is_file():
        raise TreennError(f"{path}: missing (the run has not finished; `train.py evaluate "
                          f"{run_dir} --split {split}` writes it from best.pt)")
    result, _ = _read_json(path)
    why = _eval_problem(result, split)
    if why is None:
        own = (read_run_config(run_dir) or {}).get("data", {}).get("fingerprints", {})
        source, ckpt = result.get("source", {}), result.get("checkpoint", {})
        if own.get(split) and source.get("fingerprint", own[split]) != own[split]:
            why = f"scores other data ({source.get('data_dir')}) than the run's own"
        elif ckpt.get("file", "best.pt") != "best.pt":
            why = f"scores {ckpt['file']}, not best.pt"
    if why:
        raise TreennError(f"{path}: {why}")
    return result


def eval_path(run_dir: str | Path, result: dict) -> Path:
    """Where :meth:`RunDir.write_eval` puts ``result``: ``eval-<split>.json`` for best.pt on
    the run's own data, else ``eval-<split>@<data fingerprint[:8]>[-last].json``."""
    source, ckpt = result.get("source", {}), result.get("checkpoint", {})
    tags = [] if source.get("own", True) else [source["fingerprint"][:8]]
    tags += [] if ckpt.get("file", "best.pt") == "best.pt" else [Path(ckpt["file"]).stem]
    return Path(run_dir) / f"eval-{result['split']}{'@' + '-'.join(tags) if tags else ''}.json"


def load_checkpoint(path: str | Path, keys: dict[str, type] | None = None) -> dict:
    """A checkpoint as a plain dict with ``keys`` of the given types, or a one-line error
    naming the file. Loads weights only: code a file asks to run is never run."""
    path = Path(path)
    if not path.is_file():
        raise TreennError(f"{path}: {'a directory' if path.is_dir() else 'no such checkpoint'}")
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise TreennError(f"{path}: not a treenn checkpoint (not a file torch.save writes)")
    try:
        with warnings.catch_warnings():  # torch's remarks on pickle protocols: not ours
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's text advises loading it unsafely: no
        found = re.search(r"GLOBAL (\S+)", str(err))
        why = f"it asks to run {found[1]}" if found else "it holds more than tensors and data"
        raise TreennError(f"{path}: not a treenn checkpoint ({why}; not loaded)") from None
    except Exception as err:  # noqa: BLE001 - a truncated or damaged archive, in one line
        reason = " ".join(str(err).split()).split(". ")[0][:160] or type(err).__name__
        raise TreennError(f"{path}: not a treenn checkpoint (damaged: {reason})") from None
    if not isinstance(ckpt, dict):
        raise TreennError(f"{path}: not a treenn checkpoint (a {type(ckpt).__name__})")
    check_keys(ckpt, path, keys or {})
    return ckpt


def check_keys(ckpt: dict, path: Path, keys: dict[str, type]) -> None:
    for key, kind in keys.items():
        if not _typed(ckpt.get(key), kind):
            what = f"{key!r} is a {type(ckpt[key]).__name__}" if key in ckpt else f"no {key!r}"
            raise TreennError(f"{path}: not a treenn checkpoint ({what})")


@contextmanager
def checkpoint_errors(path: Path) -> Iterator[None]:
    """Rebuilding a model or training state from ``path``: what its content makes fail is
    one line naming the file."""
    try:
        yield
    except TreennError as err:
        if str(err).startswith(str(path)):
            raise
        raise TreennError(f"{path}: not a treenn checkpoint ({err})") from None
    except (LookupError, TypeError, ValueError, RuntimeError, AttributeError, ArithmeticError,
            SyntaxError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].startswith("Error(s) in loading"):
            lines = lines[1:2]  # load_state_dict's first problem
        reason = ("no " if isinstance(err, KeyError) else "") + " ".join(lines)[:200]
        what = ("does not fit this run's model" if isinstance(err, RuntimeError)
                else "not a treenn checkpoint")
        raise TreennError(f"{path}: {what} ({reason or type(err).__name__})") from None


def check_belongs(ckpt: dict, path: Path, info: dict | None) -> None:
    """``ckpt`` is of the run whose configuration is ``info`` (kind, task and model): a
    file copied from another run is refused, not loaded into the wrong model."""
    if info is None:
        return
    task, model = task_and_model(info)
    mine = ("ptb" if ckpt.get("kind") == "parser" else ckpt.get("task", task),
            ckpt.get("name", model))
    if mine != (task, model):
        raise TreennError(f"{path}: a checkpoint of {mine[0]} {mine[1]}, but the run is "
                          f"{task} {model} (a file from another run?)")


class RunDir:
    """Start, resume and write one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.last, self.best = self.path / "last.pt", self.path / "best.pt"

    def files(self) -> list[Path]:
        """The run files in the directory (what a new run would replace)."""
        if not self.path.is_dir():
            return []
        names = ("config.json", "metrics.jsonl", "best.pt", "last.pt")
        return sorted(p for p in self.path.iterdir() if p.name in names
                      or (p.name.startswith("eval-") and p.name.endswith(".json")))

    def holds_results(self) -> bool:
        """Whether a finished epoch's checkpoint or an evaluation is there."""
        return any(p.name not in ("config.json", "metrics.jsonl") for p in self.files())

    def check_writable(self) -> None:
        """A one-line error, before any work, when the run (or the folder to hold it) cannot
        be written."""
        folder = next(p for p in (self.path, *self.path.absolute().parents) if p.exists())
        try:
            os.close((probe := tempfile.mkstemp(dir=folder, prefix=".write-test-"))[0])
            os.unlink(probe[1])
        except OSError as err:
            raise TreennError(f"{folder}: cannot write here ({err.strerror or err})") from None

    def start(self, cfg, resume: bool, overwrite: bool = False):
        """Check the directory can be (re)used and return ``(cfg, state)``. A new run never
        replaces run files (a finished run without ``last.pt`` included) unless ``overwrite``,
        which deletes them first. Resuming takes the run's saved ``cfg`` (the same dataclass:
        ``from_dict``, ``kind``) but a given ``epochs``; ``task``/``model`` None mean the
        run's, others must be the run's; ``state`` is ``last.pt`` (None before epoch 1)."""
        if resume:
            return self._resume(cfg)
        if getattr(cfg, "task", "") is None or cfg.model is None:
            raise TreennError("a new run needs a task and a model (resuming takes the run's)")
        existing = self.files()
        if existing and not overwrite:
            hint = "--resume to continue it, " if self.last.is_file() else ""
            raise TreennError(f"{self.path} already holds a run ("
                              f"{', '.join(p.name for p in existing)}); pass {hint}"
                              "--overwrite to replace it, or choose another --out")
        if self.path.exists() and not self.path.is_dir():
            raise TreennError(f"--out {self.path} is a file, not a run directory")
        self.check_writable()
        for p in existing:
            p.unlink()
        return cfg, None  # the directory is made by the first write, after the checks

    def _resume(self, cfg):
        info = read_run_config(self.path)
        if info is None:
            raise TreennError(f"{self.path}: nothing to resume (no config.json)")
        given = ("ptb" if cfg.kind == "parser" else cfg.task, cfg.model)
        for key, want, saved in zip(("task", "model"), given, task_and_model(info), strict=True):
            if want not in (None, saved):
                raise TreennError(f"--{key} {want} does not match the run's {key} {saved} "
                                  f"({self.path / 'config.json'}); leave it out to resume")
        saved = read_train_config(self.path, type(cfg), out=str(self.path))
        saved.epochs = cfg.epochs or saved.epochs
        read_metrics(self.path)  # damage stops here, before anything is written
        if self.best.is_file():  # not found after the training
            check_belongs(load_checkpoint(self.best, {"epoch": int, "name": str}), self.best,
                          info)
        self.check_writable()
        if not self.last.is_file():
            if self.holds_results():
                raise TreennError(f"{self.path}: no last.pt to resume from (a finished run); "
                                  "pass --overwrite to train it again")
            return saved, None
        state = load_checkpoint(self.last, {"epoch": int})
        check_belongs(state, self.last, info)
        if "rng" not in state:  # written before this module: generators under own keys
            state["rng"] = {k: state[f"{k}_rng"] for k in ("torch", "numpy") if f"{k}_rng" in state}
        return saved, state

    def write_config(self, info: dict) -> None:
        """``config.json``, a run's first write: stale ``*.tmp`` files are deleted first."""
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob("*.tmp"):
            stale.unlink()
        atomic_write_text(self.path / "config.json", json.dumps(info, indent=2) + "\n")

    def keep_metrics_until(self, epoch: int) -> None:
        """Drop logged epochs after ``epoch`` (interrupted before their checkpoint; 0: all)."""
        kept = [m for m in read_metrics(self.path) if m["epoch"] <= epoch]
        atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(m) + "\n"
                                                               for m in kept))

    def log_epoch(self, record: dict) -> None:
        lines = [json.dumps(m) for m in read_metrics(self.path)] + [json.dumps(record)]
        atomic_write_text(self.path / "metrics.jsonl", "\n".join(lines) + "\n")

    def save_epoch(self, checkpoint: dict, improved: bool, resume_state: dict) -> None:
        """``best.pt`` if the epoch improved; ``last.pt`` with what resuming needs on top."""
        if improved:
            atomic_save(checkpoint, self.best)
        atomic_save({**checkpoint, **resume_state}, self.last)

    def write_eval(self, result: dict, source: dict, path: Path, ckpt: dict) -> Path:
        """Write ``result`` with what it scored: ``source`` (``data_dir``, ``fingerprint``;
        ``own`` is added: the run's own data?) and the checkpoint file ``path`` that ``ckpt``
        came from (name, sha256, epoch), where :func:`eval_path` says. Returns that path."""
        info = read_run_config(self.path) or {"train": {}}
        own = info.get("data", {}).get("fingerprints", {}).get(result["split"])
        dirs = [Path(d).resolve() if isinstance(d, str) else d
                for d in (source.get("data_dir"), info["train"].get("data_dir"))]
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        mine = own == source["fingerprint"] if own else dirs[0] == dirs[1]
        result.update(source={**source, "own": mine},
                      checkpoint={"file": path.name, "sha256": digest, "epoch": ckpt.get("epoch")})
        out = eval_path(self.path, result)
        atomic_write_text(out, json.dumps(result) + "\n")
        return out

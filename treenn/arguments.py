"""Command-line pieces shared by the commands of :mod:`treenn.cli`, :mod:`treenn.show`,
:mod:`treenn.report` and the experiment tools: one place for flags that several commands
take, so that they are spelt and explained once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from dataclasses import Field, asdict, fields
from pathlib import Path

from treenn.data.listops_generator import ListOpsConfig
from treenn.data.listops_generator import config as listops_config
from treenn.errors import TreennError
from treenn.options import Range, field_range, field_type, flag_name

#: Command-line flag -> (ListOpsConfig field, help): the generator's fields that have a flag.
LISTOPS_FLAGS = {f.metadata["flag"]: (f.name, f.metadata["help"])
                 for f in fields(ListOpsConfig) if f.metadata.get("flag")}


def dest(flag: str) -> str:
    """The attribute argparse stores a long flag in: ``--listops-seed`` -> ``listops_seed``."""
    return flag[2:].replace("-", "_")


# ------------------------------------------------------------ typed and ranged values


class Number:
    """argparse ``type=`` for a number in a :class:`~treenn.options.Range`: anything else
    (text, nan, inf, out of range) is a one-line usage error, e.g. ``argument --lr: nan:
    give a number > 0 and <= 1000``. Every numeric flag of every command has one (a test walks
    the parsers), so the range is also what that test reads. ``text``: the range in words,
    when not ``range_.describe()``."""

    def __init__(self, range_: Range, choices: tuple | None = None, text: str | None = None):
        self.range, self.choices, self.text = range_, choices, text
        self.__name__ = range_.kind.__name__  # what argparse calls the type

    def describe(self) -> str:
        return self.text or self.range.describe()

    def __call__(self, text: str) -> int | float:
        try:
            value = self.range.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give {self.describe()}") from None
        if self.choices is not None and value not in self.choices:
            raise argparse.ArgumentTypeError(
                f"{value}: choose from {', '.join(map(str, self.choices))}")
        if value not in self.range:
            raise argparse.ArgumentTypeError(f"{value}: give {self.describe()}")
        return value

    def __repr__(self) -> str:
        return f"Number({self.describe()})"


def int_in(low: int | None, high: int | None) -> Number:
    """An integer flag in ``[low, high]`` (``None``: that end open)."""
    return Number(Range(int, low, high))


def float_in(low: float | None, high: float | None, *, low_open: bool = False,
             high_open: bool = False) -> Number:
    """A (finite) number flag between ``low`` and ``high``."""
    return Number(Range(float, low, high, low_open, high_open))


#: the seeds every generator here takes (numpy's ``seed`` refuses others)
SEED_MAX = 2**32 - 1
#: Bounds the command line adds where a config field leaves an end of its range open
#: (field name -> (low, high)): beyond them a value is a slip of the keyboard, not a setting,
#: and would fail deep inside or never end (numpy refuses a seed outside [0, 2**32); 10**12
#: epochs; a layer no memory holds).
FIELD_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "seed": (0, SEED_MAX),
    "epochs": (None, 100_000),
    "batch_size": (None, 1_000_000), "batch_nodes": (None, 1_000_000_000),
    "min_count": (None, 1_000_000_000),
    "x_size": (None, 65_536), "word_dim": (None, 65_536), "h_size": (None, 65_536),
    "layers": (None, 64),
    "threads": (None, 1024),
    "lr": (None, 1000), "emb_lr": (None, 1000), "weight_decay": (None, 1000),
    "clip": (None, 1_000_000_000),
    "lr_patience": (None, 100_000),
    "beam": (None, 1000),
    # the ListOps generator's flags
    "n_train": (None, 10_000_000), "max_depth": (None, 100), "max_args": (None, 100),
    "max_length": (None, 100_000),
}

#: beam widths and pair counts of the rnn-parser's chart (parse, predict, show, tools)
BEAM = int_in(1, FIELD_BOUNDS["beam"][1])
PAIRS = int_in(1, 1_000_000)


def checked_type(f: Field):
    """argparse ``type=`` for a config field: a :class:`Number` in the field's range
    (narrowed by :data:`FIELD_BOUNDS`) for a number, a device name for ``device``, else
    ``str`` (argparse checks ``choices``)."""
    kind = field_type(f)
    if f.name == "device" and kind is str:
        return device_name
    if kind not in (int, float):
        return kind
    declared = field_range(f)
    low, high = FIELD_BOUNDS.get(f.name, (None, None))
    bounded = Range(kind, declared.low if declared.low is not None else low,
                    declared.high if declared.high is not None else high,
                    declared.low_open, declared.high_open)
    text = None  # the field's own range first, then the bound added here
    if declared.low is not None and declared.high is None and high is not None:
        text = f"{declared.describe()} and <= {high}"
    return Number(bounded, f.metadata.get("choices"), text)


def config_type(cls: type, name: str):
    """:func:`checked_type` of the field ``name`` of the dataclass ``cls``."""
    return checked_type(next(f for f in fields(cls) if f.name == name))


def device_name(text: str) -> str:
    """argparse ``type=`` for ``--device``: ``cpu``, ``cuda`` or ``cuda:N`` (whether torch
    sees that GPU is checked where the device is made, ``training.resolve_device``)."""
    kind, _, index = text.partition(":")
    if text != "cpu" and (kind != "cuda" or (index and not index.isdigit())):
        raise argparse.ArgumentTypeError(f"{text!r}: give cpu, cuda or cuda:N")
    return text


def _writable_folder(path: Path, text: str) -> None:
    """The nearest existing folder on ``path``'s way is a folder this process may write in."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: no permission to write in {folder}")
    try:  # permissions are not everything (a read-only mount, /proc, root's os.access)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{text}: cannot write in {folder} "
                                         f"({err.strerror})") from None


def output_dir(text: str) -> str:
    """argparse ``type=`` for a folder a command writes into (made when missing): refused
    before any work when it is a file, lies under a file, or cannot be written."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file, not a folder")
    _writable_folder(path, text)
    return text


def output_file(text: str) -> str:
    """argparse ``type=`` for a file a command writes: refused before any work when it is a
    folder, its folder is missing, or it cannot be written."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder {path.parent}")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: no permission to write it")
    _writable_folder(path.parent, text)
    return text


def add_listops_arguments(group, default=argparse.SUPPRESS, prefix: str = "") -> None:
    """The ListOps generator's flags (:data:`LISTOPS_FLAGS`), each typed and ranged from its
    ``ListOpsConfig`` field (``train``, and ``compare``'s grid with ``default=None``)."""
    for flag, (name, help_) in LISTOPS_FLAGS.items():
        group.add_argument(flag, type=config_type(ListOpsConfig, name), default=default,
                           help=prefix + help_)


#: Loggers whose INFO lines are progress a user waits on (epochs, a download); the other INFO
#: lines are details of the set-up (data sizes, embedding coverage), shown with ``-v``, so
#: that input refused after them is still one ``error:`` line on its own.
PROGRESS_LOGGERS = ("treenn.loop", "treenn.data.download")


def _progress_or_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name in PROGRESS_LOGGERS


def log_to_stderr(verbose: bool) -> None:
    """Log to standard error: progress, warnings and errors; with ``verbose`` also set-up
    details and debug lines. (Does nothing where logging is already set up, as under
    pytest.)"""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_progress_or_warning)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits with status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def input_trees(task, args) -> list:
    """Trees from ``--trees FILE`` (bracketed) or ``--text FILE`` (raw text, parsed)."""
    if args.trees is not None:
        for flag in ("--beam", "--pairs"):
            if getattr(args, dest(flag)) is not None:
                raise TreennError(f"{flag} is for --text (the parser's chart); --trees are "
                                  "not parsed")
        return task.read_input(args.trees)
    from treenn.parsers.pipeline import load_parser, text_to_trees

    return text_to_trees(args.text, load_parser(args.parser, args.beam, args.pairs))[1]


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """``--trees FILE`` or ``--text FILE --parser P`` (used by predict and show)."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--trees", metavar="FILE",
                        help="one bracketed tree per line ('-' reads standard input)")
    source.add_argument("--text", metavar="FILE",
                        help="one raw sentence per line ('-' reads standard input); "
                        "tokenised and parsed with --parser")
    p.add_argument("--parser", default="right-branching", metavar="RUN_DIR|NAME",
                   help="parser for --text: a trained parser's run directory, rnn-parser "
                   "run directories joined by commas (an ensemble), or right-branching, "
                   "left-branching, balanced (default: right-branching)")
    add_chart_arguments(p)


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """``--threads N`` of the commands that run a trained model (evaluate, predict, show,
    parse): ``cli.main`` applies ``args.run_threads`` to this process before the command
    runs (``train`` and ``compare`` pass their ``threads`` to the runs they start)."""
    p.add_argument("--threads", dest="run_threads", type=int_in(1, FIELD_BOUNDS["threads"][1]),
                   metavar="N",
                   help="torch intra-op threads (default: torch's choice, about one per "
                   "core; use 1 when other jobs share the machine)")


def add_chart_arguments(p: argparse.ArgumentParser) -> None:
    """``--beam K`` and ``--pairs P``, the rnn-parser's chart when parsing (parse, predict,
    show, and the measurement commands of ``parsers/``); ``load_parser`` refuses them for
    any other parser."""
    p.add_argument("--beam", type=BEAM, metavar="K",
                   help="rnn-parser: sub-derivations kept per chart cell when parsing "
                   "(default: the beam it was trained with; 1 is fastest)")
    p.add_argument("--pairs", type=PAIRS, metavar="P",
                   help="rnn-parser: at each split point compose only the P pairs of the "
                   "children's kept sub-derivations that score highest (of K*K; default: "
                   "all; faster, approximate)")


# ------------------------------------------------------------ flags from config dataclasses


def config_flags(configs: dict[str, type]) -> dict[str, dict[str, Field]]:
    """Flag -> {owner: field} over the command-line fields of the config dataclasses
    ``configs`` (owner -> class, e.g. ``{"classifiers": TrainConfig, ...}``)."""
    flags: dict[str, dict[str, Field]] = {}
    for owner, cls in configs.items():
        for f in fields(cls):
            if f.metadata.get("cli", True) and "help" in f.metadata:
                flags.setdefault(flag_name(f), {})[owner] = f
    return flags


def _help(owners: dict[str, Field], defaults: dict[str, str]) -> str:
    """The first owner's help, with each owner's default ("classifiers: ...")."""
    text = next(f.metadata["help"] for f in owners.values())
    values = {owner: defaults.get(f"{owner}:{f.name}", f.default)
              for owner, f in owners.items()}
    values = {o: v for o, v in values.items() if v is not None and not isinstance(v, bool)}
    if not values:
        return text
    if len(set(map(str, values.values()))) == 1 and len(values) == len(owners):
        return f"{text} (default: {next(iter(values.values()))})"
    return f"{text} (default: {'; '.join(f'{o} {v}' for o, v in values.items())})"


def add_config_arguments(p: argparse.ArgumentParser, configs: dict[str, type],
                         defaults: dict[str, str] | None = None) -> None:
    """One flag per command-line field of ``configs``, typed and range-checked from the
    field; a flag several configs share (``--lr``) is one flag. Flags not given stay absent
    from the parsed namespace, so each config keeps its own defaults (``defaults``:
    ``"owner:field" -> text`` for defaults that depend on the task, shown in ``--help``)."""
    for flag, owners in config_flags(configs).items():
        f = next(iter(owners.values()))
        kwargs = {"default": argparse.SUPPRESS, "help": _help(owners, defaults or {})}
        if field_type(f) is bool:
            kwargs["action"] = "store_false" if f.default else "store_true"
        else:
            kwargs["type"] = checked_type(f)
            if f.metadata.get("metavar"):
                kwargs["metavar"] = f.metadata["metavar"]
            if f.metadata.get("choices"):
                kwargs["choices"] = f.metadata["choices"]
        p.add_argument(flag, **kwargs)


def config_from_args(cls: type, owner: str, args: argparse.Namespace,
                     configs: dict[str, type], what: str, kind: str | None = None, **fixed):
    """An instance of ``cls`` from the flags given; a flag given that ``cls`` does not read
    (another owner's) is refused in one line naming ``what`` (e.g. ``--task sst5``), and so
    is one whose field is read by other kinds of model than ``kind`` (its ``kinds``)."""
    values, foreign = dict(fixed), {}
    for flag, owners in config_flags(configs).items():
        if not hasattr(args, dest(flag)):
            continue
        if owner not in owners:
            foreign[flag] = " or ".join(owners)
            continue
        kinds = owners[owner].metadata.get("kinds")
        if kind is not None and kinds and kind not in kinds:
            raise TreennError(f"{flag}: read by {' and '.join(kinds)} models only, not by "
                              f"--model {args.model} (a {kind} model)")
        values[owners[owner].name] = getattr(args, dest(flag))
    if foreign:
        raise TreennError(f"{', '.join(foreign)}: not read by {what} (those flags are for "
                          f"{' and '.join(sorted(set(foreign.values())))})")
    return cls(**values)


# ------------------------------------------------------------ train --resume


def resume_settings(args: argparse.Namespace, configs: dict[str, type]) -> None:
    """``train --resume``: ``--task`` and ``--model`` set from the run's ``config.json``, and a
    setting given (a flag of ``configs``, as :func:`add_config_arguments` made them) must be
    the run's own: resuming keeps them all, only ``--epochs`` extends the run."""
    from treenn.runs import read_run_config

    info = read_run_config(args.out)
    train = info.get("train") if info is not None else None
    if not isinstance(train, dict) or "model" not in train:
        raise TreennError(f"--resume: {args.out} holds no run to resume (no config.json with "
                          "its settings)")
    parser_run = info.get("kind") == "parser"
    saved = {"task": "ptb" if parser_run else train.get("task"), "model": train["model"]}
    for key, value in saved.items():
        if getattr(args, key) not in (None, value):
            raise TreennError(f"--{key} {getattr(args, key)}: {args.out} is a --{key} "
                              f"{value} run (with --resume, --task and --model come from it)")
        setattr(args, key, value)
    owner = "parsers" if parser_run else "classifiers"
    given = {flag: (train, owners[owner].name) for flag, owners in config_flags(configs).items()
             if hasattr(args, dest(flag)) and flag != "--epochs" and owner in owners}
    if any(hasattr(args, dest(flag)) for flag in LISTOPS_FLAGS):
        saved_listops = train.get("listops") if isinstance(train.get("listops"), dict) else {}
        known = {f.name for f in fields(ListOpsConfig)}
        listops = asdict(listops_config({k: v for k, v in saved_listops.items()
                                         if k in known}))
        given.update({flag: (listops, key) for flag, (key, _) in LISTOPS_FLAGS.items()
                      if hasattr(args, dest(flag))})
    differ = [f"{flag} {getattr(args, dest(flag))} (the run's: {where.get(key)})"
              for flag, (where, key) in given.items()
              if not _same_setting(where.get(key), getattr(args, dest(flag)))]
    if differ:
        raise TreennError(f"{', '.join(differ)}: --resume keeps {args.out}'s settings (only "
                          "--epochs changes); leave these flags out")


def _same_setting(saved, given) -> bool:
    """A setting given equals the run's (paths compared as the files they name)."""
    if isinstance(saved, str) and isinstance(given, str):
        return saved == given or Path(saved).resolve() == Path(given).resolve()
    return saved == given

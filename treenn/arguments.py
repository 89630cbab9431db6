"""Command-line pieces shared by the commands of :mod:`treenn.cli`, :mod:`treenn.show`,
:mod:`treenn.report` and the experiment tools: one place for flags that several commands
take, so that they are spelt and explained once.
"""

from __future__ import annotations

import argparse
from dataclasses import Field, fields

from treenn.data.listops import ListOpsConfig
from treenn.errors import TreennError
from treenn.options import check_value, describe_range, field_type, flag_name

#: Command-line flag -> (ListOpsConfig field, help): the generator's fields that have a flag.
LISTOPS_FLAGS = {f.metadata["flag"]: (f.name, f.metadata["help"])
                 for f in fields(ListOpsConfig) if f.metadata.get("flag")}


def dest(flag: str) -> str:
    """The attribute argparse stores a long flag in: ``--listops-seed`` -> ``listops_seed``."""
    return flag[2:].replace("-", "_")


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


def int_at_least(low: int):
    """argparse ``type=`` for an integer flag that is at least ``low`` (messages as the
    config fields' own, :func:`checked_type`)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= {low}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value}: give an integer >= {low}")
        return value

    convert.__name__ = "int"
    return convert


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


def add_chart_arguments(p: argparse.ArgumentParser) -> None:
    """``--beam K`` and ``--pairs P``, the rnn-parser's chart when parsing (parse, predict,
    show, and the measurement commands of ``parsers/``); ``load_parser`` refuses them for
    any other parser."""
    p.add_argument("--beam", type=int_at_least(1), metavar="K",
                   help="rnn-parser: sub-derivations kept per chart cell when parsing "
                   "(default: the beam it was trained with; 1 is fastest)")
    p.add_argument("--pairs", type=int_at_least(1), metavar="P",
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


def checked_type(f: Field):
    """argparse ``type=``: convert to the field's type, then check its range and choices."""
    kind = field_type(f)

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give {describe_range(f)}") from None
        try:
            return check_value(f, value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = kind.__name__
    return convert


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
                     configs: dict[str, type], what: str, **fixed):
    """An instance of ``cls`` from the flags given; a flag given that ``cls`` does not read
    (another owner's) is refused in one line naming ``what`` (e.g. ``--task sst5``)."""
    values, foreign = dict(fixed), {}
    for flag, owners in config_flags(configs).items():
        if not hasattr(args, dest(flag)):
            continue
        if owner in owners:
            values[owners[owner].name] = getattr(args, dest(flag))
        else:
            foreign[flag] = " or ".join(owners)
    if foreign:
        raise TreennError(f"{', '.join(foreign)}: not read by {what} (those flags are for "
                          f"{' and '.join(sorted(set(foreign.values())))})")
    return cls(**values)

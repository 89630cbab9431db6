"""Every numeric flag of every command and measurement tool has a declared range, and the
parser refuses what is outside it (nan, inf, negative or zero counts, 10**12 epochs) in one
``error:`` line with exit status 2.

The parsers are walked, not listed: a flag added later is checked without touching this file.
Parsing only, in-process.
"""

from __future__ import annotations

import argparse
import importlib
import math
import pkgutil

import pytest

import treenn.experiments
from treenn import cli
from treenn.arguments import Number

VALUES = ["0", "-1", "nan", "inf", "-inf", "1e309", str(10**12)]
ALWAYS_REFUSED = {"nan", "inf", "-inf", "1e309"}


class _Captured(Exception):
    def __init__(self, parser):
        self.parser = parser


def _tool_parser(module_name: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a tool's ``main`` builds, caught at its ``parse_args``."""
    module = importlib.import_module(module_name)

    def capture(self, *args, **kwargs):
        raise _Captured(self)

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(_Captured) as caught:
            module.main([])
    return caught.value.parser


def _tools() -> list[str]:
    names = [f"treenn.experiments.{m.name}"
             for m in pkgutil.iter_modules(treenn.experiments.__path__)]
    return ["treenn.bench", *(n for n in names
                              if hasattr(importlib.import_module(n), "main"))]


def _subparsers(parser: argparse.ArgumentParser):
    """(argv prefix, parser) for ``parser`` and every subcommand under it."""
    yield [], parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for prefix, p in _subparsers(sub):
                    yield [name, *prefix], p


def _valid(action: argparse.Action) -> list[str]:
    """A value the action takes (for filling in required arguments)."""
    if action.choices:
        return [str(next(iter(action.choices)))]
    if isinstance(action.type, Number):
        return [str(action.type.range.low or 1)]
    return ["x"]


def _required(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments that make ``parser`` parse: its positionals and required options."""
    argv, done = [], set()
    for group in parser._mutually_exclusive_groups:
        if group.required:
            first = group._group_actions[0]
            argv += [first.option_strings[0], *_valid(first)]
            done |= set(group._group_actions)
    for action in parser._actions:
        if action in done or isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:
            argv += _valid(action)
        elif action.required:
            argv += [action.option_strings[0], *_valid(action)]
    return argv


def _is_numeric(action: argparse.Action) -> bool:
    """An option that takes a number (also one typed by default only: ``default=3``)."""
    if not action.option_strings:
        return False
    untyped_number = (action.type is None and isinstance(action.default, int | float)
                      and not isinstance(action.default, bool) and action.nargs != 0)
    return action.type in (int, float) or isinstance(action.type, Number) or untyped_number


def _numeric_flags(parser: argparse.ArgumentParser, prog: str):
    """(name, argv prefix, action) for every numeric option of ``parser`` and its
    subcommands."""
    return [(" ".join([prog, *prefix, action.option_strings[-1]]), prefix, action)
            for prefix, p in _subparsers(parser) for action in p._actions
            if _is_numeric(action)]


def _check(parser, prefix, action, capsys) -> list[str]:
    """Parse each of VALUES for ``action``; the problems found, as text."""
    problems = []
    if not isinstance(action.type, Number):
        return [f"{action.option_strings[-1]}: no declared range (type {action.type!r})"]
    rng = action.type.range
    if rng.low is None and rng.high is None:
        return [f"{action.option_strings[-1]}: a number with no bounds"]
    sub = parser
    for name in prefix:
        sub = next(a for a in sub._actions
                   if isinstance(a, argparse._SubParsersAction)).choices[name]
    base = [*prefix, *_required(sub)]
    flag = action.option_strings[-1]
    for text in VALUES:
        capsys.readouterr()
        try:
            value = rng.kind(float(text)) if rng.kind is float else int(text)
        except ValueError:
            value = None
        inside = (value is not None and value in rng and text not in ALWAYS_REFUSED)
        try:
            args = parser.parse_args([*base, f"{flag}={text}"])
        except SystemExit as exit_:
            err = capsys.readouterr().err
            lines = err.splitlines()
            if inside:
                problems.append(f"{flag}={text}: refused although in range: {err!r}")
            elif exit_.code != 2 or len(lines) != 1 or not lines[0].startswith("error:"):
                problems.append(f"{flag}={text}: exit {exit_.code}, stderr {err!r}")
            continue
        got = getattr(args, action.dest)
        got = got[0] if isinstance(got, list) else got
        if not inside:
            problems.append(f"{flag}={text}: accepted as {got!r}, outside {rng.describe()}")
        elif isinstance(got, float) and not math.isfinite(got):
            problems.append(f"{flag}={text}: accepted a non-finite {got!r}")
    return problems


def test_every_numeric_flag_of_every_command_is_ranged(capsys):
    parser = cli.build_parser()
    flags = _numeric_flags(parser, "treenn")
    names = {name for name, _, _ in flags}
    assert {"treenn train --lr", "treenn train --listops-train", "treenn compare --seeds",
            "treenn compare --listops-args", "treenn demo --epochs",
            "treenn parse --batch-size", "treenn show --limit"} <= names
    problems = [p for _, prefix, action in flags
                for p in _check(parser, prefix, action, capsys)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module_name", _tools())
def test_every_numeric_flag_of_every_tool_is_ranged(module_name, monkeypatch, capsys):
    parser = _tool_parser(module_name, monkeypatch)
    problems = [p for _, prefix, action in _numeric_flags(parser, module_name)
                for p in _check(parser, prefix, action, capsys)]
    assert not problems, "\n".join(problems)


def _one_line_error(argv, capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(argv)
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_an_unknown_device_is_refused_in_one_line(capsys):
    line = _one_line_error(["train", "--task", "sst5", "--model", "lstm", "--out", "r",
                            "--device", "foo"], capsys)
    assert "argument --device: 'foo': give cpu, cuda or cuda:N" in line
    line = _one_line_error(["compare", "--out", "r", "--device", "cuda:x"], capsys)
    assert "--device" in line


def test_a_usage_error_is_one_line_without_the_usage(capsys):
    line = _one_line_error(["train", "--lr", "nan"], capsys)
    assert line.startswith("error: argument --lr: nan: give a number > 0 and <= 1000 (see")
    _one_line_error(["no-such-command"], capsys)

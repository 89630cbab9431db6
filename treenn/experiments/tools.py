"""What the measurement commands of ``parsers/`` (bench, crossdomain, search) share: the
``--threads`` and ``--json`` options, their set-up, and writing the JSON figures."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from treenn.arguments import FIELD_BOUNDS, ArgumentParser, int_in, output_file
from treenn.runs import atomic_write_text

#: ``--threads``, as ``train`` takes it
THREADS = int_in(1, FIELD_BOUNDS["threads"][1])
#: ``--repeats``: best of N timed passes
REPEATS = int_in(1, 1000)


def tool_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The tools' parser (usage errors in one line, as the ``treenn`` commands') with the
    options they share."""
    ap = ArgumentParser(prog=prog, description=description)
    ap.add_argument("--threads", type=THREADS, help="torch intra-op threads")
    ap.add_argument("--json", type=output_file, metavar="PATH",
                    help="also write the figures as JSON")
    return ap


def parse_tool_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line, quieten logging and set torch's thread count."""
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def write_figures(path: str | None, figures: dict | list) -> None:
    """Write ``figures`` to ``path`` (when given) whole or not at all."""
    if path:
        atomic_write_text(Path(path), json.dumps(figures, indent=2))

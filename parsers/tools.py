"""What the measurement commands of ``parsers/`` (bench, crossdomain, search) share: the
``--threads`` and ``--json`` options, their set-up, the chart options of the commands that
parse with any parser, and writing the JSON figures."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from treenn.runs import atomic_write_text


def tool_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--threads", type=int, help="torch intra-op threads")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return ap


def add_chart_options(ap: argparse.ArgumentParser) -> None:
    """``--beam K`` and ``--pairs P`` for every rnn-parser among the PARSERs (``load_parser``
    refuses them for any other parser)."""
    ap.add_argument("--beam", type=int, metavar="K",
                    help="parse the rnn-parsers (all PARSERs must be) with K sub-derivations "
                    "per chart cell instead of their trained beam")
    ap.add_argument("--pairs", type=int, metavar="P",
                    help="parse the rnn-parsers composing only P pairs of sub-derivations "
                    "per split point")


def parse_tool_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line, quieten logging and set torch's thread count."""
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def write_figures(path: str | None, figures: dict) -> None:
    """Write ``figures`` to ``path`` (when given) whole or not at all."""
    if path:
        atomic_write_text(Path(path), json.dumps(figures, indent=2))

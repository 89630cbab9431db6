"""``PARSERS``: the one place where a parser's name becomes its class.

Each entry says how the parser comes to be: a ``baseline`` is built by name with no
training, a ``neural`` parser is trained by the training loop (:func:`treenn.loop.fit`) and a
``counted`` one is estimated once from the treebank's counts. Trained parsers rebuild from a
checkpoint with ``cls.from_checkpoint(ckpt)``. Adding a parser is its module plus one line
here.
"""

from __future__ import annotations

from dataclasses import dataclass

from treenn.parsers import Parser
from treenn.parsers.baselines import Balanced, LeftBranching, RightBranching
from treenn.parsers.neural import BiLSTMChartParser, RecursiveChartParser
from treenn.parsers.pcfg import PCFG


@dataclass(frozen=True)
class ParserSpec:
    cls: type[Parser]
    training: str  # "baseline", "neural" or "counted"


PARSERS: dict[str, ParserSpec] = {
    "right-branching": ParserSpec(RightBranching, "baseline"),
    "left-branching": ParserSpec(LeftBranching, "baseline"),
    "balanced": ParserSpec(Balanced, "baseline"),
    "rnn-parser": ParserSpec(RecursiveChartParser, "neural"),
    "bilstm-parser": ParserSpec(BiLSTMChartParser, "neural"),
    "pcfg": ParserSpec(PCFG, "counted"),
}


def baselines() -> list[str]:
    """Names of the parsers that need no training."""
    return [name for name, spec in PARSERS.items() if spec.training == "baseline"]


def trainable() -> list[str]:
    """Names of the parsers ``train --task ptb`` trains."""
    return [name for name, spec in PARSERS.items() if spec.training != "baseline"]

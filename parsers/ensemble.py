"""Recursive chart parsers decoding together as one ensemble."""

from __future__ import annotations

import torch
from nltk import Tree

from treenn.errors import TreennError
from treenn.parsers import Parser
from treenn.parsers.chart import to_tree
from treenn.parsers.chart_search import chart_decode, check_beam, check_pairs
from treenn.parsers.neural import RecursiveChartParser


class EnsembleChartParser(Parser):
    """Recursive chart parsers (trained separately, e.g. with different seeds) decoding
    together: one chart, each member composing its own vectors, label scores averaged."""

    name = "rnn-parser-ensemble"

    def __init__(self, members: list[RecursiveChartParser], beam: int | None = None,
                 pairs: int | None = None):
        """``beam``: the chart's width; by default the members' (who must then agree).
        ``pairs``: pairs composed per split point, as :func:`chart_decode`'s."""
        if len(members) < 2:
            raise TreennError("an ensemble needs two or more rnn-parser runs")
        for m in members:
            if not isinstance(m, RecursiveChartParser):
                raise TreennError(f"an ensemble is made of rnn-parser runs, not {m.name}")
        names = members[0].labels.names
        if any(m.labels.names != names for m in members[1:]):
            raise TreennError("the ensemble's parsers have different label sets: train them "
                              "on the same treebank")
        beams = sorted({m.beam for m in members})
        if beam is None and len(beams) > 1:
            raise TreennError(f"the ensemble's parsers keep different beams ({beams}): "
                              "ensemble runs trained with the same --beam, or give --beam")
        self.members = members
        self.labels = members[0].labels
        self.beam = beams[0] if beam is None else check_beam(beam)
        self.pairs = check_pairs(pairs)
        self.max_length = min(m.cfg.max_length for m in members)

    def parse(self, tokens: list[str]) -> Tree:
        return self.parse_all([tokens])[0]

    @torch.no_grad()
    def parse_all(self, sentences):
        for s in sentences:
            self.check(s)
        for m in self.members:
            m.eval()
        found = chart_decode(self.members, sentences, None, self.beam, self.pairs)
        return [to_tree(s, d, self.labels) for s, d in zip(sentences, found, strict=True)]

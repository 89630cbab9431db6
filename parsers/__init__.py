"""Parsers: turn a sentence (a list of tokens) into an ``nltk.Tree`` whose leaves are the tokens.

Tree models need a tree for every input. Treebanks provide gold trees; for raw text a parser
provides them. Every parser implements :class:`Parser`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from nltk import Tree


class Parser(ABC):
    """Interface shared by every parser in this package."""

    #: Name used on the command line and in reports.
    name: str = "parser"
    #: Longest sentence (in tokens) the parser accepts; ``None``: no limit.
    max_length: int | None = None

    @abstractmethod
    def parse(self, tokens: list[str]) -> Tree:
        """Parse one tokenised sentence; the tree's leaves are exactly ``tokens``."""

    def check(self, tokens: list[str]) -> None:
        """Raise ``ValueError`` with a one-line reason if ``tokens`` cannot be parsed."""
        if not tokens:
            raise ValueError("empty sentence")
        if self.max_length is not None and len(tokens) > self.max_length:
            raise ValueError(f"a {len(tokens)}-token sentence is longer than this parser's "
                             f"limit of {self.max_length} tokens")

    def parse_all(self, sentences: list[list[str]]) -> list[Tree]:
        """Parse one batch of sentences (parsers that batch override this)."""
        return [self.parse(tokens) for tokens in sentences]

    def parse_many(self, sentences: list[list[str]], batch_size: int = 64,
                   max_cells: int = 200_000, shard: tuple[int, int] = (0, 1)
                   ) -> list[Tree | None]:
        """Parse any number of sentences: sorted by length into batches of at most
        ``batch_size`` sentences and ``max_cells`` chart cells (sentences x longest^2, which
        bounds a chart parser's memory), results in the input order. ``shard=(rank, size)``
        parses batches ``rank``, ``rank + size``, ... only (None for the others' sentences),
        each in the batch it has without it."""
        order = sorted(range(len(sentences)), key=lambda k: len(sentences[k]))
        out: list[Tree | None] = [None] * len(sentences)
        start, number = 0, 0
        while start < len(order):
            end = start + 1
            while (end < len(order) and end - start < batch_size
                   and (end - start + 1) * len(sentences[order[end]]) ** 2 <= max_cells):
                end += 1
            chunk = order[start:end]
            if number % shard[1] == shard[0]:
                for k, tree in zip(chunk, self.parse_all([sentences[k] for k in chunk]),
                                   strict=True):
                    out[k] = tree
            start, number = end, number + 1
        return out

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

    @abstractmethod
    def parse(self, tokens: list[str]) -> Tree:
        """Parse one tokenised sentence; the tree's leaves are exactly ``tokens``."""

    def check(self, tokens: list[str]) -> None:
        """Raise ``ValueError`` with a one-line reason if ``tokens`` cannot be parsed."""
        if not tokens:
            raise ValueError("empty sentence")

    def parse_all(self, sentences: list[list[str]]) -> list[Tree]:
        """Parse many sentences (parsers that batch override this)."""
        return [self.parse(tokens) for tokens in sentences]

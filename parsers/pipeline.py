"""Raw text -> tokens -> parse tree -> binary tree for the tree models.

``load_parser`` accepts a baseline name (``right-branching``, ``left-branching``,
``balanced``), the run directory of a trained parser, or several rnn-parser run directories
joined by commas (an ensemble that decodes them together); ``beam`` parses an rnn-parser (or
an ensemble) with another chart width than it was trained with (1 is faster, see
docs/parsing.md) and ``pairs`` composes fewer pairs of sub-derivations per split point.
"""

from __future__ import annotations

from pathlib import Path

from nltk import Tree

from treenn.data.trees import copy_tree, iter_subtrees, read_input_lines
from treenn.errors import DataError, TreennError
from treenn.parsers import Parser
from treenn.parsers.registry import PARSERS, baselines
from treenn.parsers.tokenize import tokenize


def load_parser(spec: str, beam: int | None = None, pairs: int | None = None) -> Parser:
    """The parser ``spec`` names; ``beam`` and ``pairs`` set an rnn-parser's (or an
    ensemble's) chart for parsing, see ``parsers.chart_search.chart_decode``."""
    chart = {flag: v for flag, v in (("--beam", beam), ("--pairs", pairs)) if v is not None}
    if chart:
        from treenn.parsers.chart_search import check_beam, check_pairs
        from treenn.parsers.ensemble import EnsembleChartParser
        from treenn.parsers.neural import RecursiveChartParser

        if beam is not None:
            check_beam(beam)
        check_pairs(pairs)
    if spec in baselines():
        parser = PARSERS[spec].cls()
    else:
        parser = _load_run(spec, beam)
    if chart:
        if not isinstance(parser, (RecursiveChartParser, EnsembleChartParser)):
            flags = " ".join(f"{flag} {v}" for flag, v in chart.items())
            raise TreennError(f"{flags}: {spec} is not an rnn-parser run (only the "
                              "recursive parser has a chart)")
        if beam is not None:
            parser.beam = beam  # an ensemble got it when built (its members may disagree)
        parser.pairs = pairs
    return parser


def _load_run(spec: str, beam: int | None) -> Parser:
    path = Path(spec)
    if "," in spec and not path.is_dir():
        parts = spec.split(",")
        if any(not part.strip() for part in parts):
            raise TreennError(f"parser {spec!r}: an empty entry in the comma-separated list")
        return load_ensemble(parts, beam)
    if path.is_dir() and (path / "config.json").is_file():
        from treenn.parsers.latent import LatentTreeParser
        from treenn.parsers.training import load_trained_parser
        from treenn.runs import is_parser_run

        # a classifier run parses only if it builds its own trees (else LatentTreeParser
        # says why not)
        return load_trained_parser(path) if is_parser_run(path) else \
            LatentTreeParser.from_run(path)
    raise TreennError(f"unknown parser {spec!r}: give {', '.join(baselines())}, the run "
                      "directory of a trained parser, or rnn-parser run directories joined "
                      "by commas")


def load_ensemble(run_dirs: list[str], beam: int | None = None) -> Parser:
    """rnn-parser runs decoding together (``parsers.ensemble.EnsembleChartParser``), with the
    members' beam or ``beam``."""
    from treenn.parsers.ensemble import EnsembleChartParser
    from treenn.parsers.neural import RecursiveChartParser

    seen: set[Path] = set()
    members = []
    for part in run_dirs:
        resolved = Path(part).resolve()
        if resolved in seen:
            raise TreennError(f"{part}: given twice to one ensemble")
        seen.add(resolved)
        member = load_parser(part)
        if not isinstance(member, RecursiveChartParser):
            raise TreennError(f"{part}: an ensemble is made of rnn-parser runs, not "
                              f"{member.name}")
        members.append(member)
    return EnsembleChartParser(members, beam)


def read_sentences(path: str) -> list[tuple[int, str]]:
    """One sentence per line of ``path`` (``-``: standard input), with line numbers."""
    return read_input_lines(path, "sentence")


def binarize(tree: Tree | str) -> Tree:
    """A binary copy for the tree models: unary chains collapsed (the top label kept), wider
    nodes right-factored, every word under a preterminal.

    >>> print(binarize(Tree.fromstring("(S (NP (DT the) (JJ big) (NN dog)) (VP (VBZ barks)))")))
    (S (NP (DT the) (NP (JJ big) (NN dog))) (VP barks))
    """
    if isinstance(tree, str):
        return Tree("XX", [tree])
    out = copy_tree(tree)  # iterative: nltk's deep copy recurses (1,000 words failed)
    for node in iter_subtrees(out):  # pre-order: a node is fixed before its children
        while len(node) == 1 and isinstance(node[0], Tree):
            node[:] = list(node[0])  # (S (VP ...)) -> (S ...); (NP (PRP it)) -> (NP it)
        if len(node) > 2:
            node[:] = [node[0], Tree(node.label(), list(node[1:]))]
        if len(node) == 2:
            node[:] = [Tree("XX", [c]) if isinstance(c, str) else c for c in node]
    return out


def text_to_trees(path: str, parser: Parser) -> tuple[list[list[str]], list[Tree]]:
    """Tokenise and parse every line of ``path``; returns the tokens and binary trees."""
    name = "<stdin>" if path == "-" else path
    sentences = []
    for lineno, line in read_sentences(path):
        tokens = tokenize(line)
        try:
            parser.check(tokens)
        except ValueError as err:
            raise DataError.at(name, lineno, str(err)) from None
        sentences.append((lineno, tokens))
    tokens = [t for _, t in sentences]
    return tokens, [binarize(tree) for tree in parser.parse_many(tokens)]

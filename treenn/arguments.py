"""Command-line pieces shared by the commands of :mod:`treenn.cli`, :mod:`treenn.show`,
:mod:`treenn.report` and the experiment tools: one place for flags that several commands
take, so that they are spelt and explained once.
"""

from __future__ import annotations

import argparse

from treenn.errors import TreennError

#: Command-line flag -> (ListOpsConfig field, help).
LISTOPS_FLAGS = {
    "--listops-train": ("n_train", "number of training expressions"),
    "--listops-depth": ("max_depth", "maximum nesting depth"),
    "--listops-args": ("max_args", "maximum arguments per operator"),
    "--listops-max-length": ("max_length", "maximum tokens per training expression"),
    "--listops-seed": ("seed", "generator seed"),
}


def dest(flag: str) -> str:
    """The attribute argparse stores a long flag in: ``--listops-seed`` -> ``listops_seed``."""
    return flag[2:].replace("-", "_")


#: ``train`` flags that only one kind of task reads (dest -> flag): given to the other kind
#: they are refused rather than ignored. (The training loop's own flags, --ema, --lr-patience
#: and --clip, serve every model.)
PARSER_ONLY = {"cell": "--cell", "leaves": "--leaves", "beam": "--beam"}
CLASSIFIER_ONLY = {"freeze_embeddings": "--freeze-embeddings", "lower": "--no-lowercase",
                   "min_count": "--min-count", "layers": "--layers",
                   "bidirectional": "--bidirectional", "optimizer": "--optimizer",
                   "emb_lr": "--emb-lr", "weight_decay": "--weight-decay", "engine": "--engine",
                   "seq_train": "--seq-train", "device": "--device",
                   **{dest(flag): flag for flag in LISTOPS_FLAGS}}


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


def add_chart_arguments(p: argparse.ArgumentParser) -> None:
    """``--beam K`` and ``--pairs P``, the rnn-parser's chart when parsing (parse, predict,
    show, and the measurement commands of ``parsers/``); ``load_parser`` refuses them for
    any other parser."""
    p.add_argument("--beam", type=int, metavar="K",
                   help="rnn-parser: sub-derivations kept per chart cell when parsing "
                   "(default: the beam it was trained with; 1 is fastest)")
    p.add_argument("--pairs", type=int, metavar="P",
                   help="rnn-parser: at each split point compose only the P pairs of the "
                   "children's kept sub-derivations that score highest (of K*K; default: "
                   "all; faster, approximate)")

"""Parsing speed: ``python -m treenn.experiments.parser_bench --data-dir NLTK_DATA PARSER...``.

Parses the PTB-sample dev and test sentences of at most ``--max-length`` tokens (40 by
default) in batches sorted by length, with each parser in turn, in one process, and prints
sentences per second, next to its evalb F1 on the whole test split (so that one table holds
the branching baselines too). A parser is a run directory (``train --task ptb``), rnn-parser
run directories joined by commas (an ensemble), or a baseline name.
"""

from __future__ import annotations

import sys
import time

import torch

from treenn.arguments import FIELD_BOUNDS, add_chart_arguments, int_in
from treenn.data.ptb import load_ptb
from treenn.errors import run_main
from treenn.experiments.tools import REPEATS, parse_tool_args, tool_parser, write_figures
from treenn.parsers.pipeline import load_parser
from treenn.parsers.training import evaluate_parser


def measure(parser, sentences: list[list[str]], batch_size: int, repeats: int) -> float:
    """Best-of-``repeats`` sentences per second over ``sentences``."""
    parser.parse_many(sentences[:batch_size], batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        parser.parse_many(sentences, batch_size)
        best = min(best, time.perf_counter() - t0)
    return len(sentences) / best


def main(argv: list[str] | None = None) -> int:
    ap = tool_parser("python -m treenn.experiments.parser_bench", __doc__)
    ap.add_argument("parsers", nargs="+", metavar="PARSER")
    ap.add_argument("--data-dir", help="nltk_data folder with corpora/treebank")
    ap.add_argument("--max-length", type=int_in(1, 100_000), default=40,
                    help="only sentences of at most N tokens (default: 40)")
    ap.add_argument("--batch-size", type=int_in(1, FIELD_BOUNDS["batch_size"][1]), default=64,
                    help="sentences parsed together (default: 64)")
    ap.add_argument("--repeats", type=REPEATS, default=2, help="best of N passes (default: 2)")
    add_chart_arguments(ap)  # as parse and predict take them
    args = parse_tool_args(ap, argv)
    data = load_ptb(args.data_dir)
    sentences = [t.leaves() for split in ("dev", "test") for t in data[split]
                 if len(t.leaves()) <= args.max_length]
    words = sum(map(len, sentences))
    print(f"{len(sentences)} PTB-sample dev+test sentences of <= {args.max_length} tokens "
          f"({words} tokens), batches of {args.batch_size}, {torch.get_num_threads()} threads"
          + ("" if args.beam is None else f", rnn-parsers parsed with beam {args.beam}")
          + ("" if args.pairs is None else f", {args.pairs} pairs per split point"))
    width = max(40, *map(len, args.parsers))
    print(f"{'parser':<{width}} {'sentences/s':>12} {'test labelled F1':>17} {'unlabelled F1':>14}")
    rows, scores = {}, {}
    # load every parser first: a bad one is refused before any is measured
    parsers = {spec: load_parser(spec, args.beam, args.pairs) for spec in args.parsers}
    for spec, parser in parsers.items():
        with torch.no_grad():
            rate = measure(parser, sentences, args.batch_size, args.repeats)
            result = evaluate_parser(parser, data["test"], "test", args.batch_size)
        rows[spec] = rate
        scores[spec] = {k: result[k]["f1"] for k in ("labelled", "unlabelled")}
        print(f"{spec:<{width}} {rate:12.1f} {100 * scores[spec]['labelled']:17.2f} "
              f"{100 * scores[spec]['unlabelled']:14.2f}")
    write_figures(args.json, {"sentences": len(sentences), "max_length": args.max_length,
                              "beam": args.beam, "pairs": args.pairs,
                              "threads": torch.get_num_threads(),
                              "sentences_per_second": rows, "test_f1": scores})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

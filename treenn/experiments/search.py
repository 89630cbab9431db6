"""How much the recursive parser's approximate chart costs it:
``python -m treenn.experiments.search RUN_DIR --data-dir NLTK_DATA [--split dev] [--beam K ...]
[--pairs P ...]``.

For each beam width K the trained ``rnn-parser`` parses the split with K sub-derivations per
chart cell (whatever beam it was trained with), composing every pair of sub-derivations at
each split point and, for each ``--pairs`` P, only the P best
(``parsers.chart_search.chart_decode``);
the command prints evalb F1, sentences per second, and its *search errors*: sentences parsed
wrongly (some span labelled differently from gold) although the model scores the gold tree
higher than the tree it found. A search error is a failure of the chart, not of the model; a
wrong parse without one is the model's own preference. Nothing in the run directory is
written.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import torch

from treenn.arguments import BEAM, PAIRS
from treenn.data.ptb import load_ptb
from treenn.errors import TreennError, run_main
from treenn.experiments.tools import parse_tool_args, tool_parser, write_figures
from treenn.parsers.chart import cost, make_example, to_tree
from treenn.parsers.evalb import Scores
from treenn.parsers.neural import RecursiveChartParser
from treenn.parsers.training import load_trained_parser


@torch.no_grad()
def search_report(parser: RecursiveChartParser, trees: list, beam: int, batch_size: int = 32,
                  pairs: int | None = None) -> dict:
    """evalb F1, speed and search errors of ``parser`` at ``beam`` (and ``pairs``) on gold
    ``trees``.

    A parse is *wrong* when it costs something in training's sense (``parsers.chart.cost``:
    some span's label differs from gold), so trees that differ from gold only in how
    unlabelled spans are binarised count as right, as they do for evalb.
    """
    trained = parser.beam, parser.pairs
    parser.beam, parser.pairs = beam, pairs
    scores, wrong, search_errors, seconds = Scores(), 0, 0, 0.0
    try:
        for s in range(0, len(trees), batch_size):
            batch = trees[s:s + batch_size]
            sentences = [t.leaves() for t in batch]
            golds = [make_example(t, parser.labels).gold for t in batch]
            t0 = time.perf_counter()
            found = parser.decode(sentences)
            seconds += time.perf_counter() - t0
            both = parser.score_derivations(sentences * 2, found + golds).tolist()
            found_score, gold_score = both[:len(batch)], both[len(batch):]
            for k, tree in enumerate(batch):
                scores.add(tree, to_tree(sentences[k], found[k], parser.labels))
                if cost(found[k], golds[k]) > 0:
                    wrong += 1
                    search_errors += gold_score[k] > found_score[k]
    finally:
        parser.beam, parser.pairs = trained
    f1 = scores.to_dict()
    return {"beam": beam, "pairs": pairs, "sentences": len(trees),
            "labelled_f1": f1["labelled"]["f1"], "unlabelled_f1": f1["unlabelled"]["f1"],
            "wrong": wrong,
            "search_errors": search_errors, "sentences_per_second": len(trees) / seconds}


def main(argv: list[str] | None = None) -> int:
    ap = tool_parser("python -m treenn.experiments.search", __doc__)
    ap.add_argument("run_dir", metavar="RUN_DIR", help="a trained rnn-parser run")
    ap.add_argument("--data-dir", help="nltk_data folder with corpora/treebank")
    ap.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    ap.add_argument("--beam", type=BEAM, nargs="+", default=[1, 2],
                    help="beam widths to try (default: 1 2)")
    ap.add_argument("--pairs", type=PAIRS, nargs="+", default=[], metavar="P",
                    help="also try each beam composing only P pairs per split point")
    args = parse_tool_args(ap, argv)
    parser = load_trained_parser(Path(args.run_dir))
    if not isinstance(parser, RecursiveChartParser):
        raise TreennError(f"{args.run_dir} is not an rnn-parser run: only the recursive "
                          "parser's chart is approximate")
    trained = parser.beam
    trees = load_ptb(args.data_dir)[args.split]
    print(f"{args.run_dir} (trained with beam {trained}), PTB-sample {args.split}, "
          f"{len(trees)} sentences, {torch.get_num_threads()} threads")
    print(f"{'beam':>4} {'pairs':>5} {'labelled F1':>12} {'unlabelled F1':>14} {'wrong':>6} "
          f"{'search errors':>14} {'sentences/s':>12}")
    with torch.no_grad():  # untimed: the chart's tables grow to size on the first batch
        parser.decode([t.leaves() for t in trees[:32]])
    rows = []
    for beam, pairs in itertools.product(args.beam, [None, *args.pairs]):
        r = search_report(parser, trees, beam, pairs=pairs)
        rows.append(r)
        print(f"{beam:>4} {pairs or 'all':>5} {100 * r['labelled_f1']:12.2f} "
              f"{100 * r['unlabelled_f1']:14.2f} {r['wrong']:6d} {r['search_errors']:14d} "
              f"{r['sentences_per_second']:12.1f}")
    print("(wrong: some span's label differs from gold; search errors: wrong parses whose gold "
          "tree the model scores higher)")
    write_figures(args.json, {"run": args.run_dir, "split": args.split,
                              "trained_beam": trained, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""Parsers on SST:
``python -m treenn.experiments.crossdomain --sst-dir DIR --sentiment RUN PARSER...``.

1. Cross-domain bracketing: each PTB-trained parser (or baseline) parses the SST test
   sentences (SST's own tokens) and its binarised trees are scored against SST's binary trees
   by unlabelled span F1 (``parsers.evalb.binary_unlabelled``: spans of two or more words,
   the whole sentence excluded).
2. The raw-text pipeline: each SST test sentence is turned back into plain text
   (``parsers.tokenize.detokenize``), tokenised again, parsed, binarised and classified by the
   sentiment run; its root accuracy is printed next to the same model's accuracy on SST's gold
   trees.
"""

from __future__ import annotations

import sys

import torch

from treenn.arguments import add_chart_arguments
from treenn.data.sst import read_sst, sst_dir
from treenn.data.trees import leaves
from treenn.errors import run_main
from treenn.experiments.tools import parse_tool_args, tool_parser, write_figures
from treenn.parsers.evalb import PRF, binary_unlabelled
from treenn.parsers.pipeline import binarize, load_parser
from treenn.parsers.tokenize import detokenize, tokenize
from treenn.training import predict_trees, run_task


def root_accuracy(run_dir: str, trees: list, gold: list[int]) -> float:
    task, probs = predict_trees(run_dir, trees)
    pred = [int(p[-1].argmax()) for p in probs]  # the root is the last node
    keep = [(p, g) for p, g in zip(pred, gold, strict=True) if g >= 0]
    return sum(p == g for p, g in keep) / len(keep)


def main(argv: list[str] | None = None) -> int:
    ap = tool_parser("python -m treenn.experiments.crossdomain", __doc__)
    ap.add_argument("parsers", nargs="+", metavar="PARSER")
    ap.add_argument("--sst-dir", help="SST folder (default: download into the cache)")
    ap.add_argument("--sentiment", required=True, metavar="RUN_DIR",
                    help="a trained sentiment run (sst5 or sst2)")
    add_chart_arguments(ap)  # as parse and predict take them
    args = parse_tool_args(ap, argv)
    parsers = {spec: load_parser(spec, args.beam, args.pairs) for spec in args.parsers}
    gold_trees = read_sst(sst_dir(args.sst_dir) / "test.txt")
    task = run_task(args.sentiment)
    gold = [task.gold_or_none(t.label()) for t in gold_trees]
    sentences = [leaves(t) for t in gold_trees]
    texts = [detokenize(s) for s in sentences]
    retokenised = [tokenize(t) for t in texts]
    same = sum(a == b for a, b in zip(retokenised, sentences, strict=True))
    gold_acc = root_accuracy(args.sentiment, gold_trees, gold)
    print(f"SST test: {len(gold_trees)} sentences; detokenised then tokenised again, "
          f"{same} ({100 * same / len(sentences):.1f}%) come back with SST's exact tokens")
    print(f"sentiment run {args.sentiment} ({task.name}): root accuracy on gold trees "
          f"{100 * gold_acc:.2f}%\n")
    width = max(32, *map(len, args.parsers))
    print(f"{'parser':<{width}} {'unlabelled F1 vs SST':>21}{'raw-text root acc.':>20}")
    # sentences whose tokens survive the round trip are parsed once (parsers are deterministic)
    differ = [i for i, (a, b) in enumerate(zip(retokenised, sentences, strict=True)) if a != b]
    rows = {}
    for spec, parser in parsers.items():
        with torch.no_grad():
            parsed = parser.parse_many(sentences)
            raw = list(parsed)
            for i, tree in zip(differ, parser.parse_many([retokenised[i] for i in differ]),
                               strict=True):
                raw[i] = tree
        counts = [binary_unlabelled(g, binarize(p)) for g, p in zip(gold_trees, parsed,
                                                                    strict=True)]
        spans = PRF(*(sum(c) for c in zip(*counts, strict=True)))  # matched, gold, test
        acc = root_accuracy(args.sentiment, [binarize(t) for t in raw], gold)
        rows[spec] = {"unlabelled_f1": spans.f1, "precision": spans.precision,
                      "recall": spans.recall, "raw_text_root_accuracy": acc}
        print(f"{spec:<{width}} {100 * spans.f1:21.2f}{100 * acc:20.2f}", flush=True)
    write_figures(args.json, {"sentences": len(sentences), "exact_retokenisation": same,
                              "sentiment_run": args.sentiment, "beam": args.beam,
                              "pairs": args.pairs,
                              "gold_tree_root_accuracy": gold_acc, "parsers": rows})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

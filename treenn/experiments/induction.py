"""Unsupervised parsing with a latent-tree run: ``python -m treenn.experiments.induction RUN
[--split test] [--nltk-data DIR] [--json PATH]``.

A latent-tree run (``gumbel-tree-lstm``, ``beam-tree-lstm``, ``beam-tree-grc`` or a ``gumbel-``
beam variant; trained on sentiment, say, with no treebank) parses the sentences of the Penn
Treebank sample's split; its trees, and right- and left-branching trees over the same words,
are scored against the gold trees with evalb's conventions (``COLLINS.prm``: punctuation left
out, every bracket of the gold tree counted, corpus-level unlabelled F1), the figures of the
parsers' table in docs/parsing.md. Words the run never saw are read as ``<unk>`` (their share
is printed).
"""

from __future__ import annotations

import json
import sys

from treenn.arguments import ArgumentParser, output_file
from treenn.data.ptb import load_ptb
from treenn.data.trees import leaves
from treenn.data.vocab import UNK_ID
from treenn.errors import TreennError, run_main
from treenn.parsers.latent import LatentTreeParser, score_induced


def induce_on_ptb(run_dir: str, split: str = "test", nltk_data: str | None = None) -> dict:
    """The run's trees for the PTB sample's ``split`` against gold, with the baselines."""
    parser = LatentTreeParser.from_run(run_dir)
    splits = load_ptb(nltk_data)
    if split not in splits:
        raise TreennError(f"the PTB sample has no {split!r} split; choose from "
                          f"{', '.join(splits)}")
    gold = splits[split]
    words = [leaves(t) for t in gold]
    induced = parser.parse_many(words)
    scores = score_induced(gold, induced, evalb=True)
    tokens = [w for sentence in words for w in sentence]
    known = sum(parser.vocab.id(w) != UNK_ID for w in tokens)
    scores.update({"run": str(run_dir), "split": split, "tokens": len(tokens),
                   "unknown_token_share": 1 - known / len(tokens)})
    return scores


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", metavar="RUN", help="a latent-tree run (gumbel-tree-lstm, "
                   "beam-tree-lstm, beam-tree-grc, or a gumbel- beam variant)")
    p.add_argument("--split", default="test", help="train, dev or test (default test)")
    p.add_argument("--nltk-data", help="NLTK data folder with the treebank sample "
                   "(default: NLTK's search path)")
    p.add_argument("--json", type=output_file, help="write the scores here")
    args = p.parse_args(argv)
    scores = induce_on_ptb(args.run_dir, args.split, args.nltk_data)
    print(f"PTB sample {args.split}: {scores['sentences']} sentences, {scores['tokens']} "
          f"tokens, {100 * scores['unknown_token_share']:.1f}% unknown to the run")
    for name in ("induced", "right-branching", "left-branching"):
        r = scores[name]
        print(f"{name:>16}: unlabelled F1 {100 * r['f1']:.2f} (precision "
              f"{100 * r['precision']:.2f}, recall {100 * r['recall']:.2f})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(scores, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

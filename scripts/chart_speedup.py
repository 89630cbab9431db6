"""The recursive parsers' batched chart at an earlier commit and now, on trained runs, in one
process:

    python scripts/chart_speedup.py --data-dir NLTK_DATA --threads 2 [--before COMMIT] RUN...

The earlier decoder is ``parsers/neural.py`` at ``--before`` (read with ``git show``); by
default ``fbe4611``, the chart before work moved from candidates to slots
(``parsers.chart_search._ChartMember``); ``65a75ef`` is the chart before its tables were kept
between batches and its tanh computed from sigmoid.
For each parser (a run directory, or rnn-parser runs joined by commas for an ensemble), both
decoders parse the PTB-sample dev+test sentences (every length, batches of 64 sorted by
length), then the first 512 training sentences of at most 60 tokens loss-augmented against
their gold trees (batches of 16, as training decodes them). Batches alternate between the two
decoders (which one goes first alternates); the script prints how many derivations differ
and each decoder's sentences/s.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from treenn.data.ptb import load_ptb
from treenn.errors import run_main
from treenn.experiments.tools import parse_tool_args, tool_parser, write_figures
from treenn.parsers.chart import make_example
from treenn.parsers.chart_search import chart_decode
from treenn.parsers.ensemble import EnsembleChartParser
from treenn.parsers.pipeline import load_parser

BEFORE = "fbe4611"


def earlier_decoder(before: str = BEFORE):
    """``chart_decode`` as it was at commit ``before``."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "-C", str(root), "show", f"{before}:parsers/neural.py"],
                            check=True, capture_output=True, text=True).stdout
    # that commit's packages are installed under treenn now (treenn.data, treenn.parsers)
    source = re.sub(r"^from (data|parsers)([. ])", r"from treenn.\1\2", source, flags=re.M)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("neural_before", f.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules["neural_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    Path(f.name).unlink()
    return module.chart_decode


def race(decoders, members, beam, batches) -> tuple[int, list[float]]:
    """Derivations that differ between the two decoders, and each one's sentences/s; which
    one goes first alternates from batch to batch."""
    seconds, differ = [0.0, 0.0], 0
    for b, (sentences, golds) in enumerate(batches):
        found = [None, None]
        for k in ((0, 1) if b % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            found[k] = decoders[k](members, sentences, golds, beam)
            seconds[k] += time.perf_counter() - t0
        differ += sum(a != b for a, b in zip(*found, strict=True))
    count = sum(len(s) for s, _ in batches)
    return differ, [count / s for s in seconds]


def main(argv: list[str] | None = None) -> int:
    ap = tool_parser("python scripts/chart_speedup.py", __doc__)
    ap.add_argument("parsers", nargs="+", metavar="RUN")
    ap.add_argument("--data-dir", help="nltk_data folder with corpora/treebank")
    ap.add_argument("--before", default=BEFORE, metavar="COMMIT",
                    help=f"the earlier chart's commit (default {BEFORE})")
    args = parse_tool_args(ap, argv)
    data = load_ptb(args.data_dir)
    decoders = [earlier_decoder(args.before), chart_decode]
    evaluation = sorted((t.leaves() for s in ("dev", "test") for t in data[s]), key=len)
    training = [t for t in data["train"] if len(t.leaves()) <= 60][:512]
    print(f"decoders: {args.before} and this tree; {torch.get_num_threads()} threads")
    print(f"{'parser':<40} {'sentences':<24} {'differ':>6} {'before/s':>9} {'now/s':>7} "
          f"{'ratio':>6}")
    figures = {}
    for spec in args.parsers:
        parser = load_parser(spec)
        members = parser.members if isinstance(parser, EnsembleChartParser) else [parser]
        beam = parser.beam
        for m in members:
            m.eval()
        examples = [make_example(t, members[0].labels) for t in training]
        sets = {
            "dev+test, parse": [(evaluation[k:k + 64], None)
                                for k in range(0, len(evaluation), 64)],
            "train <= 60, augmented": [([e.tokens for e in examples[k:k + 16]],
                                        [e.gold for e in examples[k:k + 16]])
                                       for k in range(0, len(examples), 16)],
        }
        for name, batches in sets.items():
            with torch.no_grad():
                differ, (before, now) = race(decoders, members, beam, batches)
            figures.setdefault(spec, {})[name] = {
                "sentences": sum(len(s) for s, _ in batches), "differ": differ,
                "before_per_s": before, "now_per_s": now}
            print(f"{spec:<40} {name:<24} {differ:6d} {before:9.1f} {now:7.1f} "
                  f"{now / before:6.2f}")
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""An ensemble of recursive parsers against its members:
``python -m treenn.experiments.ensemble RUN_DIR... [--data-dir NLTK_DATA] [--json PATH]``.

The members are finished rnn-parser runs (e.g. the seeds of one configuration). The ensemble
decodes them together (one chart in which each member composes its own vectors and label
scores are the members' mean: ``parsers.ensemble.EnsembleChartParser``) and is scored with
evalb on the dev and test splits; the members' figures are read from their eval files. Prints
each one's F1 and the one that dev labelled F1 chooses, without looking at test. Nothing in
the run directories is written. ``train.py parse``, ``predict --parser`` and
``treenn.experiments.parser_bench``
take the same ensemble as the run directories joined by commas.
"""

from __future__ import annotations

import sys

import torch

from treenn.data.ptb import load_ptb
from treenn.errors import run_main
from treenn.experiments.seeds import MEASURES, SPLITS, load_parser_run
from treenn.experiments.tools import parse_tool_args, tool_parser, write_figures
from treenn.parsers.pipeline import load_ensemble
from treenn.parsers.training import evaluate_parser
from treenn.runs import read_run_config


def main(argv: list[str] | None = None) -> int:
    ap = tool_parser("python -m treenn.experiments.ensemble", __doc__)
    ap.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="finished rnn-parser runs")
    ap.add_argument("--data-dir", help="nltk_data folder with corpora/treebank (default: the "
                    "first run's)")
    args = parse_tool_args(ap, argv)
    members = [load_parser_run(p) for p in args.run_dirs]
    ensemble = load_ensemble([m.path for m in members])
    data_dir = args.data_dir or read_run_config(members[0].path)["train"].get("data_dir")
    data = load_ptb(data_dir)
    name = f"ensemble of {len(members)}"
    rows = {m.path: m.f1 for m in members}
    speed, rows[name] = {}, {}
    for split in SPLITS:
        result = evaluate_parser(ensemble, data[split], split)
        rows[name][split] = {m: result[m]["f1"] for m in MEASURES}
        speed[split] = result["sentences_per_second"]
    width = max(len(r) for r in rows)
    print(f"{'parser':<{width}} {'dev L':>6} {'dev U':>6} {'test L':>6} {'test U':>6}")
    for r, f1 in rows.items():
        print(f"{r:<{width}} " + " ".join(f"{100 * f1[s][m]:6.2f}" for s in SPLITS
                                          for m in MEASURES))
    chosen = max(rows, key=lambda r: rows[r]["dev"]["labelled"])
    print(f"(evalb F1, L labelled, U unlabelled; the members' from their eval files; the "
          f"ensemble parsed {speed['test']:.1f} test sentences/s, all lengths, "
          f"{torch.get_num_threads()} threads)")
    print(f"chosen by dev labelled F1: {chosen}: test {100 * rows[chosen]['test']['labelled']:.2f}"
          f" labelled, {100 * rows[chosen]['test']['unlabelled']:.2f} unlabelled")
    write_figures(args.json, {"members": [m.path for m in members], "f1": rows,
                              "ensemble_sentences_per_second": speed,
                              "threads": torch.get_num_threads(), "chosen_by_dev": chosen})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

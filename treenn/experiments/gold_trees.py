"""Latent-tree runs made to read the gold trees: ``python -m treenn.experiments.gold_trees RUN
[RUN ...] [--split test] [--checkpoint best] [--json PATH]``.

For each run, its root accuracy on the split when its embeddings, cell and classifier read the
split's gold trees instead of building their own (:func:`treenn.parsers.latent.on_gold_trees`,
which ``evaluate`` also writes), beside its accuracy on its own trees where ``evaluate`` has
written ``eval-<split>.json`` for that checkpoint. Reading given trees needs no search, so this
takes seconds where ``evaluate`` takes minutes on the long ListOps sets.

The gold trees are one binarisation of each tree (ListOps: every list left-branching, as
Nangia & Bowman's files bracket it); a model that learnt to compute along another binarisation
of the same structure is scored lower on it than it would be on its own. ``--right-binarised``
scores the runs on the other one (every left spine of the gold tree made a right spine: the
ListOps list ``(((MAX a) b) ])`` becomes ``(MAX (a (b ])))``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from nltk import Tree

from treenn.arguments import ArgumentParser, output_file
from treenn.data.graphs import TreeArrays, tree_to_arrays
from treenn.data.vocab import Vocab
from treenn.datasets import Dataset, prepare
from treenn.errors import TreennError, run_main
from treenn.experiments.tools import write_figures
from treenn.induced import gold_shape
from treenn.parsers.latent import on_gold_trees
from treenn.training import TrainConfig, load_model


def right_binarised(arrays: TreeArrays, vocab: Vocab) -> TreeArrays:
    """``arrays``' tree with every left spine made a right spine (words and the root's label
    kept, other nodes unlabelled). Recursive: for ListOps' shallow spines (<= 6 arguments)."""
    shape = gold_shape(arrays)

    def rebuild(node: Tree) -> Tree | str:
        if len(node) == 1:  # a leaf: XX over its position
            return vocab.words[arrays.word[int(node[0])]]
        items = []
        while len(node) == 2:  # down the left spine, collecting its right children
            items.append(node[1])
            node = node[0]
        items = [rebuild(k) for k in [node, *reversed(items)]]
        tree = items[-1]
        for item in reversed(items[:-1]):
            tree = Tree("", [item, tree])
        return tree

    tree = rebuild(shape)
    tree = tree if isinstance(tree, Tree) else Tree("", [tree])
    tree.set_label(str(int(arrays.label[-1])))
    return tree_to_arrays(tree, vocab, lambda label: int(label) if label else -1)


def score_run(run_dir: str, split: str, which: str = "best", right: bool = False) -> dict:
    """``on_gold_trees`` of one run's checkpoint on its own data's ``split`` (``right``: on
    :func:`right_binarised` gold trees), with the run's epoch and, where ``evaluate`` wrote
    it for this checkpoint, its accuracy on its own trees."""
    model, ckpt = load_model(run_dir, which)
    if not model.cfg.is_latent:
        raise TreennError(f"{run_dir}: a {model.cfg.model} run reads given trees already; "
                          "give a latent-tree run")
    cfg = TrainConfig.from_dict(ckpt["train_config"], Path(run_dir) / f"{which}.pt")
    vocab = Vocab.from_dict(ckpt["vocab"])
    _, _, data = prepare(cfg, vocab)
    if split not in data:
        raise TreennError(f"{run_dir}: no {split!r} split; choose from {', '.join(data)}")
    gold = data[split]
    if right:
        gold = Dataset([right_binarised(a, vocab) for a in gold.arrays])
    result = {"run": str(run_dir), "checkpoint": f"{which}.pt", "epoch": ckpt["epoch"],
              "split": split, "gold_trees": "right-binarised" if right else "as given",
              "on_gold_trees": on_gold_trees(model, gold)}
    own = Path(run_dir) / f"eval-{split}{'' if which == 'best' else '@' + which}.json"
    if own.is_file():  # scored from this very checkpoint file
        scored = json.loads(own.read_text(encoding="utf-8"))
        with open(Path(run_dir) / f"{which}.pt", "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if scored.get("checkpoint", {}).get("sha256") == digest:
            result["own_trees_root_accuracy"] = scored["root"]["accuracy"]
    return result


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN", help="latent-tree runs")
    p.add_argument("--split", default="test", help="a split of the runs' data (default test)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--right-binarised", action="store_true",
                   help="every left spine of the gold trees made a right spine")
    p.add_argument("--json", type=output_file, help="write the results here (a list)")
    args = p.parse_args(argv)
    results = []
    for run_dir in args.run_dirs:
        r = score_run(run_dir, args.split, args.checkpoint, args.right_binarised)
        own = r.get("own_trees_root_accuracy")
        gold = 100 * r["on_gold_trees"]["root_accuracy"]
        print(f"{run_dir} ({r['checkpoint']}, epoch {r['epoch']}), {args.split}: on the gold "
              f"trees ({r['gold_trees']}) {gold:.2f}, on its own "
              + ("(not evaluated)" if own is None else f"{100 * own:.2f}"), flush=True)
        results.append(r)
    write_figures(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

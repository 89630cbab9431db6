"""NLTK's 10% sample of the Penn Treebank (WSJ), cleaned for parsing and split by file.

* :func:`clean`: strip function tags and indices (``NP-SBJ-1`` -> ``NP``), remove traces and
  empty constituents (``-NONE-`` and what becomes empty without it), drop the unlabelled top.
* :func:`load_ptb`: the sample, split by file number (train 0001-0159, dev 0160-0179, test
  0180-0199).

>>> print(clean(Tree.fromstring("(S (NP-SBJ-1 (-NONE- *)) (VP (VBD ran) (NP (PRP it))) (. .))")))
(S (VP (VBD ran) (NP (PRP it))) (. .))
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nltk import Tree

from treenn.data.trees import iter_subtrees
from treenn.errors import TreennError

#: file number ranges of the splits (inclusive)
SPLITS = {"train": (1, 159), "dev": (160, 179), "test": (180, 199)}


def base_label(label: str) -> str:
    """``NP-SBJ-1`` -> ``NP``, ``PP=2`` -> ``PP``; ``-NONE-``, ``-LRB-`` stay as they are."""
    if label.startswith("-"):
        return label
    return re.split(r"[-=]", label, maxsplit=1)[0] or label


def clean(tree: Tree) -> Tree:
    """Remove traces, empty constituents and function tags; unwrap an unlabelled top node."""
    tree = tree.copy(deep=True)
    while tree.label() in ("", "TOP", "ROOT") and len(tree) == 1 and isinstance(tree[0], Tree):
        tree = tree[0]
    # post-order pruning: visit parents after children
    nodes = list(iter_subtrees(tree))
    for node in reversed(nodes):
        node[:] = [c for c in node
                   if isinstance(c, str) or (c.label() != "-NONE-" and len(c) > 0)]
        node.set_label(base_label(node.label()))
    if len(tree) == 0:
        raise ValueError("the tree is empty once traces are removed")
    return tree


def load_ptb(data_dir: str | None = None) -> dict[str, list[Tree]]:
    """NLTK's treebank sample, cleaned, split by file (train 0001-0159, dev 0160-0179,
    test 0180-0199). ``data_dir`` is an ``nltk_data`` folder; else NLTK's usual search path
    (``NLTK_DATA``) is used."""
    import nltk

    if data_dir is not None:
        if not Path(data_dir, "corpora", "treebank").is_dir():
            raise TreennError(f"data directory {data_dir} has no corpora/treebank "
                              "(expected an nltk_data folder)")
        root = str(Path(data_dir).resolve())
        if root not in nltk.data.path:
            nltk.data.path.insert(0, root)  # registered, so nltk's reader accepts the path
    try:
        # a fresh reader on the root nltk finds (nltk.corpus.treebank would cache the first one)
        root = nltk.data.find("corpora/treebank/combined")
        treebank = nltk.corpus.reader.BracketParseCorpusReader(str(root), r"wsj_.*\.mrg")
        fileids = treebank.fileids()
    except LookupError:
        raise TreennError(
            "the Penn Treebank sample is not installed: run `python -m nltk.downloader "
            f"treebank`, or point NLTK_DATA (now {os.environ.get('NLTK_DATA')!r}) or "
            "--data-dir at an nltk_data folder") from None
    out: dict[str, list[Tree]] = {name: [] for name in SPLITS}
    for fileid in fileids:
        number = int(fileid[4:8])
        split = next(name for name, (lo, hi) in SPLITS.items() if lo <= number <= hi)
        out[split].extend(clean(t) for t in treebank.parsed_sents(fileid))
    return out

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

from treenn.data.trees import MalformedTree, copy_tree, decode_lines, iter_subtrees, parse_tree
from treenn.errors import DataError, TreennError

#: file number ranges of the splits (inclusive)
SPLITS = {"train": (1, 159), "dev": (160, 179), "test": (180, 199)}


def base_label(label: str) -> str:
    """``NP-SBJ-1`` -> ``NP``, ``PP=2`` -> ``PP``; ``-NONE-``, ``-LRB-`` stay as they are."""
    if label.startswith("-"):
        return label
    return re.split(r"[-=]", label, maxsplit=1)[0] or label


def clean(tree: Tree) -> Tree:
    """Remove traces, empty constituents and function tags; unwrap an unlabelled top node.

    Iterative (any depth); ``tree`` itself is not changed.
    """
    tree = copy_tree(tree)
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


def _normalize(text: str) -> str:
    """nltk's treebank normalisation: ``(.)`` -> ``(. .)``, ``(tag word root)`` -> ``(tag
    word)`` (neither crosses a line, so line numbers stay true)."""
    text = re.sub(r"\((.)\)", r"(\1 \1)", text)
    return re.sub(r"\(([^\s()]+) ([^\s()]+) [^\s()]+\)", r"(\1 \2)", text)


def read_mrg(raw: bytes, name: object) -> list[Tree]:
    r"""The cleaned trees of a treebank ``.mrg`` file's bytes.

    As nltk's ``BracketParseCorpusReader`` reads it, a tree starts on a line that begins
    with ``(``; unlike that reader, a tree that does not parse is an error, not a flat
    "recovered" sentence.

    Raises:
        DataError: ``name:line: ...`` for undecodable bytes, text before the first tree,
            malformed brackets (the line where it was found), or a tree that is only traces.

    >>> [str(t) for t in read_mrg(b"( (S (NP (-NONE- *)) (VB Go) (.)))\n", "f")]
    ['(S (VB Go) (. .))']
    """
    blocks: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(decode_lines(raw, name), start=1):
        if line.startswith("("):
            blocks.append((lineno, [line]))
        elif blocks:
            blocks[-1][1].append(line)
        elif line.strip():
            raise DataError.at(name, lineno, "text before the first tree (a tree starts "
                               "with '(' at the beginning of a line)")
    trees = []
    for first, block in blocks:
        text = _normalize("\n".join(block))
        try:
            trees.append(clean(parse_tree(text)))
        except MalformedTree as err:
            lineno = first + text.count("\n", 0, err.index)
            column = err.index - text.rfind("\n", 0, err.index)
            raise DataError.at(name, lineno, f"{err.reason} at column {column}") from None
        except ValueError as err:
            raise DataError.at(name, first, str(err)) from None
    return trees


def load_ptb(data_dir: str | None = None) -> dict[str, list[Tree]]:
    """NLTK's treebank sample, cleaned, split by file (train 0001-0159, dev 0160-0179,
    test 0180-0199). ``data_dir`` is an ``nltk_data`` folder; else NLTK's usual search path
    (``NLTK_DATA``) is used. Files numbered outside 0001-0199 are not part of the sample
    and are left out.

    Raises:
        TreennError: no treebank, or a split without files.
        DataError: a file that cannot be read or does not parse (see :func:`read_mrg`).
    """
    treebank = _treebank_reader(data_dir)
    out: dict[str, list[Tree]] = {name: [] for name in SPLITS}
    for fileid in treebank.fileids():
        number = int(fileid[4:8])
        split = next((name for name, (lo, hi) in SPLITS.items() if lo <= number <= hi), None)
        if split is None:
            continue
        pointer = treebank.abspath(fileid)
        try:
            # nltk's own open: it checks that the file lies under a registered data root
            with pointer.open() as stream:
                raw = stream.read()
        except (OSError, ValueError) as err:
            raise DataError(f"{pointer}: cannot be read ({err})") from None
        out[split].extend(read_mrg(raw, pointer))
    for name, (lo, hi) in SPLITS.items():
        if not out[name]:
            raise TreennError(f"{treebank.root}: no trees in wsj_{lo:04d}.mrg-wsj_{hi:04d}.mrg "
                              f"(the {name} split)")
    return out


def _treebank_reader(data_dir: str | None):
    import nltk

    if data_dir is not None:
        if not Path(data_dir, "corpora", "treebank").is_dir():
            raise TreennError(f"data directory {data_dir} has no corpora/treebank "
                              "(expected an nltk_data folder)")
        root = str(Path(data_dir).resolve())
        # registered first, so nltk's reader accepts the path and finds this folder's
        # treebank before one registered earlier in this process
        if root in nltk.data.path:
            nltk.data.path.remove(root)
        nltk.data.path.insert(0, root)
    try:
        # a fresh reader on the root nltk finds (nltk.corpus.treebank would cache the first one)
        root = nltk.data.find("corpora/treebank/combined")
        return nltk.corpus.reader.BracketParseCorpusReader(str(root), r"wsj_\d{4}\.mrg")
    except LookupError:
        raise TreennError(
            "the Penn Treebank sample is not installed: run `python -m nltk.downloader "
            f"treebank`, or point NLTK_DATA (now {os.environ.get('NLTK_DATA')!r}) or "
            "--data-dir at an nltk_data folder") from None

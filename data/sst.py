"""Stanford Sentiment Treebank: location, download and reading.

The official archive ``trainDevTestTrees_PTB.zip`` holds ``trees/{train,dev,test}.txt``: one
PTB-bracketed binary tree per line, a 0-4 sentiment label on every node (8544 / 1101 / 2210
sentences).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from nltk import Tree

from treenn.data.download import cache_dir, download, sha256, verify
from treenn.data.trees import check_int_labels, data_folder, iter_subtrees, read_tree_file
from treenn.errors import TreennError

log = logging.getLogger(__name__)

SST_URL = "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
SPLITS = ("train", "dev", "test")
#: SHA-256 of the three files inside the official archive.
SST_SHA256 = {
    "train.txt": "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
    "dev.txt": "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
    "test.txt": "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761",
}


def sst_dir(data_dir: str | Path | None) -> Path:
    """The folder with ``train.txt``, ``dev.txt`` and ``test.txt``.

    With ``data_dir`` that folder is used as given (a missing folder or file is an error).
    Without it the official archive is downloaded once into the cache and checked.
    """
    if data_dir is not None:
        folder = data_folder(data_dir)
        missing = [f"{s}.txt" for s in SPLITS if not (folder / f"{s}.txt").is_file()]
        if missing:
            raise TreennError(f"data directory {folder} lacks {', '.join(missing)} "
                              "(expected SST's train.txt, dev.txt and test.txt)")
        return folder
    folder = cache_dir() / "sst"
    if all((folder / name).is_file() and sha256(folder / name) == digest
           for name, digest in SST_SHA256.items()):
        return folder
    archive = download(SST_URL, cache_dir() / "trainDevTestTrees_PTB.zip")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zf:
            for name in SST_SHA256:
                (folder / name).write_bytes(zf.read(f"trees/{name}"))
    except (zipfile.BadZipFile, KeyError) as err:
        archive.unlink(missing_ok=True)  # the next run downloads it again
        raise TreennError(f"{archive}: not the SST archive ({err}); it was deleted, run "
                          "again to download it anew") from None
    except OSError as err:
        raise TreennError(f"cannot unpack {archive} into {folder} ({err})") from None
    for name, digest in SST_SHA256.items():
        verify(folder / name, digest)
    archive.unlink()
    return folder


def read_sst(path: str | Path) -> list[Tree]:
    """Read an SST file, checking every node has an integer label 0-4.

    Three SST tokens contain a space (``(2 8 1\\/2)``); each is kept as one word.
    """
    trees = read_tree_file(path, check=lambda tree: check_int_labels(tree, 5))
    for tree in trees:
        join_spaced_words(tree)
    return trees


def join_spaced_words(tree: Tree) -> None:
    """Turn a node whose children are several words into a one-word node, in place.

    >>> t = Tree.fromstring("(2 (2 8 1/2) (2 stars))")
    >>> join_spaced_words(t); t
    Tree('2', [Tree('2', ['8 1/2']), Tree('2', ['stars'])])
    """
    for node in iter_subtrees(tree):
        if len(node) > 1 and all(isinstance(child, str) for child in node):
            node[:] = [" ".join(node)]

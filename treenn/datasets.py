"""A classification task's data, ready for training: the splits as per-tree arrays (batched
into DGL graphs on the fly), with the vocabulary built from the training split.

:func:`prepare` caches its result (see ``treenn.data.prepared``), so a second run with the same
data and vocabulary settings skips parsing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nltk import Tree

from treenn.data import prepared
from treenn.data.graphs import Batch, TreeArrays, collate_arrays, tree_to_arrays
from treenn.data.tasks import Task, get_task
from treenn.data.trees import leaves
from treenn.data.vocab import Vocab, embedding_words
from treenn.errors import TreennError

log = logging.getLogger(__name__)

@dataclass
class Dataset:
    """One split as flat per-tree arrays (batched into DGL graphs on the fly); the nltk trees
    too when they were parsed in this process (not when loaded from the cache)."""

    arrays: list[TreeArrays]
    trees: list[Tree] | None = None

    def __len__(self) -> int:
        return len(self.arrays)


def build_vocab(cfg, splits: dict[str, list[Tree]]) -> Vocab:
    """Training words seen at least ``min_count`` times; with pretrained vectors also every
    word of any split that has a vector (no labels are used, and those words would otherwise
    all be ``<unk>`` although their vectors are known)."""
    train_words = [leaves(t) for t in splits["train"]]
    extra: list[str] = []
    if cfg.embeddings:
        known = embedding_words(cfg.embeddings)

        def has_vector(word: str) -> bool:
            return (word.lower() if cfg.lower else word) in known or word in known

        extra = [w for trees in splits.values() for t in trees for w in leaves(t)
                 if has_vector(w)]
    return Vocab.build(train_words, lower=cfg.lower, min_count=cfg.min_count, extra=extra)


def to_datasets(task: Task, vocab: Vocab, splits: dict[str, list[Tree]]) -> dict[str, Dataset]:
    """Convert every split's trees to arrays with the task's labels."""
    return {name: Dataset([tree_to_arrays(t, vocab, task.label_of) for t in trees], trees)
            for name, trees in splits.items()}


def batches(data: Dataset, batch_size: int) -> Iterator[Batch]:
    """Batches of ``batch_size`` trees in order (training's shuffled order is the loop's)."""
    for start in range(0, len(data), batch_size):
        index = list(range(start, min(start + batch_size, len(data))))
        yield collate_arrays([data.arrays[i] for i in index], index)



def prepare(cfg, vocab: Vocab | None = None, use_cache: bool = True
            ) -> tuple[Task, Vocab, dict[str, Dataset]]:
    """Load the task's splits, build (or reuse) the vocabulary, convert trees to arrays.

    The result is cached (see ``treenn.data.prepared``); a cache hit skips parsing entirely.
    """
    task = get_task(cfg.task)
    t0 = time.perf_counter()
    options = {"listops": cfg.listops}
    parts = {"task": task.name, "source": task.source(cfg.data_dir, options),
             "lower": cfg.lower, "min_count": cfg.min_count,
             "embeddings": _embeddings_fingerprint(cfg.embeddings)}
    key = prepared.cache_key({**parts, "vocab": None if vocab is None else vocab.to_dict()})
    hit = prepared.load(key) if use_cache else None
    if hit is not None:
        vocab, arrays = hit
        datasets = {name: Dataset(items) for name, items in arrays.items()}
        how = "from the cache"
    else:
        splits = task.load(cfg.data_dir, options)
        built = vocab is None
        if built and "train" not in splits:
            raise TreennError(f"data directory {cfg.data_dir} has no train split to train on")
        if built:
            vocab = build_vocab(cfg, splits)
        datasets = to_datasets(task, vocab, splits)
        if use_cache:
            # stored under the key with the vocabulary, which evaluating the run computes;
            # the key without it (a new run's) is an alias of that entry
            stored = prepared.cache_key({**parts, "vocab": vocab.to_dict()})
            prepared.save(stored, vocab, {k: v.arrays for k, v in datasets.items()})
            if built:
                prepared.save_alias(key, stored)
        how = "parsed"
    log.info("%s: %s in %.1fs (%s)", task.name,
             ", ".join(f"{k} {len(v)}" for k, v in datasets.items()),
             time.perf_counter() - t0, how)
    return task, vocab, datasets


def _embeddings_fingerprint(source: str | None) -> str | None:
    if source is None or not Path(source).is_file():
        return source
    stat = Path(source).stat()
    return f"{Path(source).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

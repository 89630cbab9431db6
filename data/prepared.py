"""A cache of converted datasets: vocabulary plus every split's tree arrays.

Parsing and converting SST's 11,855 trees takes seconds; loading them back from one ``.npz``
(no pickle) takes a fraction of a second. The cache key covers everything the result depends
on (task, data files' checksums or generator settings, vocabulary options, embeddings file,
format version), so a stale entry is never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from treenn.data.download import cache_dir
from treenn.data.graphs import TreeArrays
from treenn.data.vocab import Vocab

log = logging.getLogger(__name__)

FORMAT = 1
FIELDS = ("word", "label", "parent", "pos", "height", "start", "end")


def cache_key(parts: dict) -> str:
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_fingerprint(path: Path) -> str:
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{stat.st_size}:{digest.hexdigest()}"


def pack(arrays: list[TreeArrays]) -> dict[str, np.ndarray]:
    """Concatenate per-tree arrays; ``sizes`` and ``n_leaves`` give the boundaries."""
    out = {name: np.concatenate([getattr(a, name) for a in arrays]) for name in FIELDS}
    out["sizes"] = np.array([a.n_nodes for a in arrays], dtype=np.int64)
    out["n_leaves"] = np.array([a.n_leaves for a in arrays], dtype=np.int64)
    return out


def unpack(packed: dict[str, np.ndarray]) -> list[TreeArrays]:
    bounds = np.concatenate([[0], np.cumsum(packed["sizes"])])
    columns = [packed[name] for name in FIELDS]
    return [TreeArrays(*(col[lo:hi] for col in columns), int(k))
            for lo, hi, k in zip(bounds[:-1], bounds[1:], packed["n_leaves"], strict=True)]


def _paths(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "prepared"
    return folder / f"{key}.json", folder / f"{key}.npz"


def load(key: str) -> tuple[Vocab, dict[str, list[TreeArrays]]] | None:
    meta_path, data_path = _paths(key)
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if "alias" in meta:  # see save_alias: no second copy of the arrays
            return load(meta["alias"]) if meta["alias"] != key else None
        if not data_path.is_file():
            return None
        with np.load(data_path, allow_pickle=False) as npz:
            splits = {split: unpack({f: npz[f"{split}/{f}"] for f in (*FIELDS, "sizes",
                                                                      "n_leaves")})
                      for split in meta["splits"]}
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring unreadable cache entry %s (%s)", data_path, err)
        return None
    return Vocab.from_dict(meta["vocab"]), splits


def save_alias(key: str, target: str) -> None:
    """Make ``key`` load the entry of ``target`` (the same arrays under a second key: a
    training run looks them up before its vocabulary exists, evaluation with it)."""
    meta_path, _ = _paths(key)
    try:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_meta = meta_path.with_name(meta_path.name + f".{os.getpid()}.tmp")
        tmp_meta.write_text(json.dumps({"alias": target}))
        os.replace(tmp_meta, meta_path)
    except OSError as err:
        log.warning("could not write the dataset cache (%s)", err)


def save(key: str, vocab: Vocab, splits: dict[str, list[TreeArrays]]) -> None:
    """Write atomically; a cache that cannot be written is only a lost speed-up."""
    meta_path, data_path = _paths(key)
    try:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{split}/{name}": value for split, items in splits.items()
                  for name, value in pack(items).items()}
        tmp = data_path.with_name(data_path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, data_path)
        tmp_meta = meta_path.with_name(meta_path.name + f".{os.getpid()}.tmp")
        tmp_meta.write_text(json.dumps({"vocab": vocab.to_dict(), "splits": list(splits)}))
        os.replace(tmp_meta, meta_path)
    except OSError as err:
        log.warning("could not write the dataset cache (%s)", err)

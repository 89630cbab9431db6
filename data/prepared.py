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
import zipfile
from pathlib import Path

import numpy as np

from treenn.data.download import cache_dir
from treenn.data.graphs import TreeArrays
from treenn.data.vocab import Vocab

log = logging.getLogger(__name__)

FORMAT = 2  # 2: the metadata carries its own digest
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
    """Split :func:`pack`'s arrays back into trees; ``ValueError`` when they do not fit
    together (a damaged cache entry)."""
    sizes, n_leaves = packed["sizes"], packed["n_leaves"]
    total = int(sizes.sum()) if sizes.ndim == 1 and len(sizes) else 0
    if (sizes.ndim != 1 or n_leaves.shape != sizes.shape or (sizes < 1).any()
            or any(packed[name].shape != (total,) or packed[name].dtype.kind not in "iu"
                   for name in FIELDS)):
        raise ValueError("the arrays do not fit together")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    columns = [packed[name] for name in FIELDS]
    return [TreeArrays(*(col[lo:hi] for col in columns), int(k))
            for lo, hi, k in zip(bounds[:-1], bounds[1:], n_leaves, strict=True)]


def _paths(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "prepared"
    return folder / f"{key}.json", folder / f"{key}.npz"


def _digest(meta: dict) -> str:
    """Of the metadata without its digest: the arrays have zip's CRCs, the JSON has this."""
    rest = {k: v for k, v in meta.items() if k != "digest"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


#: what a damaged or foreign cache entry raises while it is read
_DAMAGE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def load(key: str) -> tuple[Vocab, dict[str, list[TreeArrays]]] | None:
    """The cached entry of ``key``, or None when there is none. A damaged entry is only a
    lost speed-up: it is logged and ignored."""
    meta_path, data_path = _paths(key)
    try:
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text())
        if isinstance(meta, dict) and "alias" in meta:  # see save_alias: one level only
            if not isinstance(meta["alias"], str) or meta["alias"] == key:
                return None
            meta_path, data_path = _paths(meta["alias"])
            if not meta_path.is_file():
                return None
            meta = json.loads(meta_path.read_text())
        if not data_path.is_file():
            return None
        if not isinstance(meta, dict) or meta.get("digest") != _digest(meta):
            raise ValueError("the metadata does not match its digest")
        with np.load(data_path, allow_pickle=False) as npz:
            splits = {split: unpack({f: npz[f"{split}/{f}"] for f in (*FIELDS, "sizes",
                                                                      "n_leaves")})
                      for split in meta["splits"]}
        return Vocab.from_dict(meta["vocab"]), splits
    except _DAMAGE as err:
        log.warning("ignoring unreadable cache entry %s (%s)", data_path, err)
        return None


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
        meta = {"vocab": vocab.to_dict(), "splits": list(splits)}
        tmp_meta.write_text(json.dumps({**meta, "digest": _digest(meta)}))
        os.replace(tmp_meta, meta_path)
    except OSError as err:
        log.warning("could not write the dataset cache (%s)", err)

"""Downloading into a cache directory, with checksums and a clear message when offline."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from treenn.errors import TreennError

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$TREENN_CACHE``, else ``$XDG_CACHE_HOME/treenn``, else ``~/.cache/treenn``."""
    if os.environ.get("TREENN_CACHE"):
        return Path(os.environ["TREENN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "treenn"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` atomically (a partial download never takes the final name)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TreennError(f"cannot write the cache folder {dest.parent} ({err.strerror}); set "
                          "TREENN_CACHE to a writable folder") from None
    log.info("downloading %s -> %s", url, dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                shutil.copyfileobj(response, tmp)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise TreennError(
            f"could not download {url} ({reason}); if this machine is offline, fetch the file "
            f"elsewhere and pass its folder with --data-dir") from None
    os.replace(tmp.name, dest)
    return dest


def verify(path: Path, expected: str) -> None:
    actual = sha256(path)
    if actual != expected:
        raise TreennError(f"{path}: checksum mismatch (sha256 {actual}, expected {expected}); "
                          "delete it and try again")

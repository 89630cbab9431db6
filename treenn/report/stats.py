"""Statistics of the comparison report, with numpy only.

>>> round(mcnemar_exact(1, 9), 4)  # 1 vs 9 discordant pairs: 2 * P(X <= 1), X ~ B(10, 1/2)
0.0215
>>> paired_bootstrap([1, 1, 0, 1], [1, 1, 0, 1])
(0.0, 0.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

N_BOOTSTRAP = 10_000
BOOTSTRAP_SEED = 0
ALPHA = 0.05


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    x = np.asarray(values, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test from the discordant counts.

    Args:
        b: items the first model gets right and the second wrong.
        c: items the second model gets right and the first wrong.

    Returns:
        ``min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)`` (1 when
        ``b + c == 0``), computed with exact integers.

    >>> mcnemar_exact(0, 5), mcnemar_exact(3, 3), mcnemar_exact(0, 0)
    (0.0625, 1.0, 1.0)
    """
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2 ** n)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOTSTRAP,
                     seed: int = BOOTSTRAP_SEED, alpha: float = ALPHA
                     ) -> tuple[float, float, float]:
    """Accuracy difference ``mean(a) - mean(b)`` with a paired percentile bootstrap interval.

    Args:
        a, b: ``[n]`` per-item correctness of two models on the same items (0/1, or the mean
            over seeds); item ``i`` of ``a`` and ``b`` is the same sentence.
        n_boot: resamples of the items (with replacement, the same items for both models).
        seed: seed of the resampling (fixed, so a report is reproducible).
        alpha: ``1 - alpha`` is the interval's coverage.

    Returns:
        ``(difference, low, high)`` as fractions (multiply by 100 for points).
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)  # [n]
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("paired_bootstrap needs two equally long, non-empty sequences")
    rng = np.random.default_rng(seed)
    n = len(d)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)  # bounded memory: [chunk, n] indices at a time
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))  # [size, n]
        means[start:start + size] = d[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(d.mean()), float(low), float(high)


def bucket_edges(values: Sequence[int], max_buckets: int = 6, min_count: int | None = None
                 ) -> list[int]:
    """Lower edges of equal-width buckets over positive integers, the last one open.

    The width is the smallest of 1, 2, 3, 5, 10, 15, 20, 25, 50, 100, ... giving at most
    ``max_buckets`` buckets (aligned as 1-10, 11-20, ... and starting at the bucket of the
    smallest value) up to the ``min_count``-th largest value (default: 2% of the values, at
    least 5), so that the last bucket holds at least ``min_count`` values and a long tail
    (ListOps' lengths: mean 44, a few over 1,000) does not stretch the buckets until one
    holds everything.

    >>> bucket_edges([1, 4, 8, 12, 19, 25, 30, 33, 35, 37, 38, 39, 40] * 10)
    [1, 11, 21, 31]
    >>> bucket_edges([7, 9, 12, 30, 31], min_count=1)
    [6, 11, 16, 21, 26, 31]
    >>> bucket_edges([*range(1, 41)] * 5 + [500])  # 500 joins the last bucket, 31+
    [1, 11, 21, 31]
    """
    x = np.sort(np.asarray(values, dtype=np.int64))
    min_count = max(5, len(x) // 50) if min_count is None else min_count
    low = int(x[0]) if len(x) else 1
    top = int(x[max(0, len(x) - max(1, min_count))]) if len(x) else 1
    widths = [1, 2, 3, 5, 10, 15, 20, 25] + [50 * 2 ** i for i in range(20)]
    width = next(w for w in widths
                 if math.ceil((top - ((low - 1) // w) * w) / w) <= max_buckets)
    start = ((low - 1) // width) * width + 1  # buckets stay aligned: 1-10, 11-20, ...
    return list(range(start, top + 1, width))


def bucket_labels(edges: Sequence[int], top: int) -> list[str]:
    """``["1-10", "11-20", "21+"]`` style names for :func:`bucket_edges`' buckets."""
    out = []
    for k, lo in enumerate(edges):
        hi = edges[k + 1] - 1 if k + 1 < len(edges) else top
        out.append(str(lo) if lo == hi else (f"{lo}\u2013{hi}" if k + 1 < len(edges)
                                             else f"{lo}+"))
    return out


def bucket_accuracy(correct: np.ndarray, values: np.ndarray, edges: Sequence[int]
                    ) -> tuple[list[float], list[int]]:
    """Mean of ``correct`` ``[n]`` and item counts within each bucket of ``values`` ``[n]``."""
    which = np.searchsorted(np.asarray(edges), values, side="right") - 1  # [n] bucket index
    accs, counts = [], []
    for k in range(len(edges)):
        sel = which == k
        counts.append(int(sel.sum()))
        accs.append(float(correct[sel].mean()) if sel.any() else float("nan"))
    return accs, counts


def format_p(p: float) -> str:
    """``p = 0.02``, ``p = 0.31``, ``p < 0.001``."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"

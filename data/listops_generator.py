"""Generated ListOps: this project's small default distribution, and Nangia & Bowman's.

Two presets (``--listops-preset``); a flag given next to a preset overrides that setting:

* ``treenn`` (the default): 30,000 training, 1,000 dev and 2,000 test expressions of 10-60
  tokens, nesting depth <= 5, and an ``extrap`` split of 1,000 expressions of 61-120 tokens
  and depth <= 8.
* ``nb``: the distribution of Nangia & Bowman (2018). The top level is an operator; every
  argument is itself an operator with chance 0.25 (else a digit 0-9) as long as it sits above
  depth 20 (the top level is depth 1); an operator takes 2-5 arguments, uniformly; no length
  limit. 90,000 training and 10,000 test expressions, all distinct (the published files are
  a set too), and, as the published release has no dev split, 5% of train held out as dev
  exactly as the reader does for the published files (:func:`treenn.data.listops.hold_out_dev`).
  Extra test sets, 1,000 expressions each: ``len200-300``, ``len500-600``, ``len900-1000``
  (the same distribution conditioned on the length in tokens, drawn by rejection) and
  ``args10``, ``args15`` (operators take 2-10 or 2-15 arguments; 100-1000 tokens and nesting
  depth <= 8, since with that many arguments the expressions would otherwise grow without
  bound).

Lengths count tokens: operators, digits and ``]``. Everything is drawn from one
``random.Random(seed)``, so a config always gives the same data.

>>> data = generate(config({"preset": "nb", "n_train": 40, "n_test": 10, "lengths": "30-40",
...                         "arg_counts": "", "n_extrap": 3}))
>>> {name: len(trees) for name, trees in data.items()}
{'train': 38, 'dev': 2, 'test': 10, 'len30-40': 3}
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

from nltk import Tree

from treenn.data.listops import DIGITS, END, OPERATORS, hold_out_dev, parse_expression
from treenn.data.trees import leaves
from treenn.options import option

#: Settings of each preset that differ from the ``ListOpsConfig`` defaults.
PRESETS: dict[str, dict] = {
    "treenn": {},
    "nb": {"n_train": 90000, "n_dev": 0, "n_test": 10000, "n_extrap": 1000, "max_depth": 20,
           "max_args": 5, "op_p": 0.25, "min_length": 1, "max_length": 0,
           "lengths": "200-300,500-600,900-1000", "arg_counts": "10,15"},
}
#: Token range and nesting depth of the argument-count test sets. With up to 15 arguments an
#: expression more often grows than ends, so deep draws almost never stay under 1,000 tokens
#: (at depth 20, 3 in 10,000 draws do: ~30 minutes for 1,000); depth <= 8 takes about 1 s.
ARG_SET_LENGTHS = (100, 1000)
ARG_SET_DEPTH = 8


@dataclass
class ListOpsConfig:
    """Generator settings. Lengths count tokens (operators, digits and ``]``)."""

    n_train: int = option(30000, "number of training expressions", low=1,
                          flag="--listops-train")
    n_dev: int = option(1000, "dev expressions (0: hold out 5% of train)", low=0)
    n_test: int = option(2000, "test expressions", low=1, flag="--listops-test")
    n_extrap: int = option(1000, "expressions of each extrapolation split", low=1,
                           flag="--listops-extrap")
    max_depth: int = option(5, "maximum nesting depth", low=1, flag="--listops-depth")
    max_args: int = option(5, "maximum arguments per operator", low=2,
                           flag="--listops-args")
    min_length: int = option(10, "minimum tokens per expression", low=1)
    max_length: int = option(60, "maximum tokens per training expression (0: no limit)",
                             low=0, flag="--listops-max-length")
    extrap_max_depth: int = option(8, "maximum depth of the extrapolation split", low=1)
    extrap_max_length: int = option(120, "maximum tokens of the extrapolation split", low=1)
    #: chance that an argument is an operator (0.25 in the paper)
    op_p: float = option(0.25, "chance that an argument is an operator", low=0, high=1,
                         high_open=True)
    seed: int = option(1234, "generator seed", flag="--listops-seed")
    preset: str = option("treenn", "data distribution: treenn (small, the default) or nb "
                         "(Nangia & Bowman 2018: 90k train, 10k test, depth <= 20, with "
                         "length and argument-count test sets)", choices=tuple(PRESETS),
                         flag="--listops-preset")
    lengths: str = option("", "extra test sets by length, token ranges such as 200-300,500-600",
                          flag="--listops-lengths", metavar="A-B,...")
    arg_counts: str = option("", "extra test sets whose operators take 2-K arguments, such as "
                             "10,15", flag="--listops-arg-counts", metavar="K,...")
    #: latent-tree models cost O(n^2) per expression: the long tail of the nb distribution
    #: (up to ~1,100 tokens) would dominate their training
    train_max_length: int = option(0, "drop training expressions longer than N tokens, "
                                   "generated or read (0: keep all; the other splits keep "
                                   "theirs)", low=0, flag="--listops-train-max-length",
                                   metavar="N")

    def to_dict(self) -> dict:
        """The settings; the preset and extra-set fields only when set, so that a default
        config has the same dict (and dataset cache key) as before they existed."""
        out = asdict(self)
        for key in ("preset", "lengths", "arg_counts", "train_max_length"):
            if out[key] == _DEFAULTS[key]:
                del out[key]
        return out


_DEFAULTS = {f.name: f.default for f in fields(ListOpsConfig)}


def config(options: dict) -> ListOpsConfig:
    """The config for the given settings: the preset's values, then the settings given."""
    preset = options.get("preset", "treenn")
    return ListOpsConfig(**{**PRESETS.get(preset, {}), **options})


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """``"200-300,500-600"`` -> ``[(200, 300), (500, 600)]``; ValueError if malformed.

    >>> parse_ranges("200-300, 900-1000")
    [(200, 300), (900, 1000)]
    """
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        if not (sep and lo.isascii() and lo.isdigit() and hi.isascii() and hi.isdigit()
                and 1 <= int(lo) <= int(hi)):
            raise ValueError(f"length range {part!r}: give A-B with 1 <= A <= B, e.g. 200-300")
        out.append((int(lo), int(hi)))
    return out


def parse_counts(text: str) -> list[int]:
    """``"10,15"`` -> ``[10, 15]``; ValueError unless each is an integer >= 2."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not (part.isascii() and part.isdigit() and int(part) >= 2):
            raise ValueError(f"argument count {part!r}: give integers >= 2, e.g. 10,15")
        out.append(int(part))
    return out


def random_expression(rng: random.Random, max_depth: int, max_args: int, op_p: float,
                      max_tokens: int | None = None) -> list[str] | None:
    """Tokens of a random expression; the top level is always an operator.

    Iterative, drawing from ``rng`` in the order of the recursive definition: an argument at
    depth ``d`` (the top level is depth 1) is an operator with chance ``op_p`` while
    ``d < max_depth``, each operator having ``randint(2, max_args)`` arguments. With
    ``max_tokens``, gives up (returns None) as soon as the expression is longer.
    """
    toks = [rng.choice(OPERATORS)]
    remaining = [rng.randint(2, max_args)]  # arguments still to draw, per open operator
    limit = math.inf if max_tokens is None else max_tokens
    while remaining:
        if len(toks) > limit:
            return None
        if remaining[-1] == 0:
            remaining.pop()
            toks.append(END)
            continue
        remaining[-1] -= 1
        depth = len(remaining) + 1  # of the argument drawn now
        if depth >= max_depth or rng.random() >= op_p:
            toks.append(rng.choice(DIGITS))
        else:
            toks.append(rng.choice(OPERATORS))
            remaining.append(rng.randint(2, max_args))
    return None if len(toks) > limit else toks


def _sample(rng: random.Random, n: int, lo: int, hi: float, max_depth: int, max_args: int,
            op_p: float, seen: set[str], max_tries: int, early_stop: bool = False
            ) -> Iterator[Tree]:
    """``n`` distinct expressions of ``lo``-``hi`` tokens, by rejection. ``early_stop``
    abandons a draw once it is longer than ``hi`` (the same distribution, fewer random
    numbers; off for the default preset, whose data must stay as it was)."""
    made = tries = 0
    cap = int(hi) if early_stop and hi != math.inf else None
    while made < n:
        tries += 1
        if tries > max_tries:
            raise ValueError(f"could not draw {n} distinct expressions of length {lo}-{hi} in "
                             f"{max_tries:,} tries; widen the length range or the depth")
        toks = random_expression(rng, max_depth, max_args, op_p, cap)
        if toks is None or not lo <= len(toks) <= hi:
            continue
        key = " ".join(toks)
        if key in seen:
            continue
        seen.add(key)
        made += 1
        yield parse_expression(key)


def generate(cfg: ListOpsConfig) -> dict[str, list[Tree]]:
    """The splits of ``cfg``: train, dev, test; ``extrap`` (longer and deeper) when
    ``max_length`` is set; one split per length range (``len200-300``) and per argument count
    (``args10``). All expressions distinct. Raises ValueError for unusable settings."""
    ranges, counts = parse_ranges(cfg.lengths), parse_counts(cfg.arg_counts)
    rng = random.Random(cfg.seed)
    seen: set[str] = set()
    hi = cfg.max_length or math.inf
    splits = {}
    for name, n in (("train", cfg.n_train), ("dev", cfg.n_dev), ("test", cfg.n_test)):
        if n:
            splits[name] = list(_sample(rng, n, cfg.min_length, hi, cfg.max_depth,
                                        cfg.max_args, cfg.op_p, seen, 50 * n + 20000))
    if cfg.max_length:
        splits["extrap"] = list(_sample(rng, cfg.n_extrap, cfg.max_length + 1,
                                        cfg.extrap_max_length, cfg.extrap_max_depth,
                                        cfg.max_args, cfg.op_p, seen, 50 * cfg.n_extrap + 20000))
    # Long expressions are rare under the training distribution: allow many tries.
    tries = 100000 * cfg.n_extrap + 10**6
    for lo, top in ranges:
        splits[f"len{lo}-{top}"] = list(_sample(rng, cfg.n_extrap, lo, top, cfg.max_depth,
                                                cfg.max_args, cfg.op_p, seen, tries, True))
    for k in counts:
        depth = min(cfg.max_depth, ARG_SET_DEPTH)
        splits[f"args{k}"] = list(_sample(rng, cfg.n_extrap, *ARG_SET_LENGTHS, depth, k,
                                          cfg.op_p, seen, tries, True))
    return shorten_train(splits if cfg.n_dev else hold_out_dev(splits), cfg.train_max_length)


def shorten_train(splits: dict[str, list[Tree]], max_length: int) -> dict[str, list[Tree]]:
    """``splits`` with the training expressions longer than ``max_length`` tokens left out
    (0: all kept). The other splits, and the draws of every split, are unchanged."""
    if not max_length or "train" not in splits:
        return splits
    kept = [t for t in splits["train"] if len(leaves(t)) <= max_length]
    if not kept:
        raise ValueError(f"no training expression has <= {max_length} tokens "
                         "(--listops-train-max-length)")
    return {**splits, "train": kept}

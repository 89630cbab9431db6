"""The ``nb`` ListOps preset against the distribution Nangia & Bowman (2018) state.

The stated properties are checked on draws of the generator: operator and argument-count
probabilities by binomial and chi-square tests, and the depth histogram and the label
distribution against their exact values, computed here from the definition alone (a
recursion over depth), not by running the generator.
"""

import hashlib
import itertools
import random

import numpy as np
import pytest
from scipy import stats

from treenn.data.listops import DIGITS, END, OPERATORS, evaluate_tokens
from treenn.data.listops import tokens as expression_tokens
from treenn.data.listops_generator import (
    PRESETS,
    config,
    generate,
    parse_counts,
    parse_ranges,
    random_expression,
)
from treenn.errors import TreennError

NB = PRESETS["nb"]
N_DRAWS = 20000
ALPHA = 1e-3  # a correct generator fails one of these tests about once in 1,000 runs per test


@pytest.fixture(scope="module")
def draws():
    rng = random.Random(7)
    return [random_expression(rng, NB["max_depth"], NB["max_args"], NB["op_p"])
            for _ in range(N_DRAWS)]


def walk(toks):
    """(depth of each argument, is it an operator) and each operator's argument count."""
    args, counts, stack = [], [], []
    for tok in toks:
        if tok == END:
            counts.append(stack.pop())
            continue
        if stack:
            stack[-1] += 1
            args.append((len(stack) + 1, tok in OPERATORS))
        if tok in OPERATORS:
            stack.append(0)
    return args, counts


def nesting_depth(toks):
    depth = best = 0
    for tok in toks:
        depth += tok in OPERATORS
        depth -= tok == END
        best = max(best, depth)
    return best


def test_hand_computed_values():
    assert evaluate_tokens("[MED 1 2 ]".split()) == 1  # int(1.5)
    assert evaluate_tokens("[MED 3 1 4 1 ]".split()) == 2  # median of 1 1 3 4
    assert evaluate_tokens("[SM 9 9 9 ]".split()) == 7
    assert evaluate_tokens("[MIN [MAX 1 9 ] 4 [SM 5 5 ] ]".split()) == 0
    assert evaluate_tokens("[MAX 2 9 [MIN 4 7 ] 0 ]".split()) == 9


def test_operator_and_argument_probabilities(draws):
    walked = [walk(t) for t in draws]
    args = [a for w in walked for a in w[0]]
    below = [is_op for depth, is_op in args if depth < NB["max_depth"]]
    assert stats.binomtest(sum(below), len(below), NB["op_p"]).pvalue > ALPHA
    assert not any(is_op for depth, is_op in args if depth >= NB["max_depth"])
    counts = np.bincount([c for w in walked for c in w[1]], minlength=NB["max_args"] + 1)
    assert counts[:2].sum() == 0
    assert stats.chisquare(counts[2:]).pvalue > ALPHA  # uniform over 2..5
    ops = np.array([sum(t.count(op) for t in draws) for op in OPERATORS])
    assert stats.chisquare(ops).pvalue > ALPHA
    assert all(t[0] in OPERATORS for t in draws)  # the top level is an operator


def exact_distributions(max_depth, max_args, op_p, levels=30):
    """P(nesting depth = m) and P(value = v) of an expression, from the definition.

    Operators sit at depths 1 .. max_depth - 1 (an argument at depth max_depth is a digit).
    ``deep[d][m]``: P(an operator at depth d heads a sub-expression whose deepest operator
    is at depth <= m); ``value[d]``: the distribution of its value. Computed from depth
    ``max_depth - 1`` (whose arguments are all digits) up to 1.
    """
    ks = range(2, max_args + 1)
    digit = np.full(10, 0.1)
    deep, value = {}, {}
    for d in range(max_depth - 1, 0, -1):
        if d + 1 >= max_depth:
            arg_ok, arg = np.ones(levels), digit
        else:
            arg_ok = (1 - op_p) + op_p * deep[d + 1]
            arg = (1 - op_p) * digit + op_p * value[d + 1]
        deep[d] = np.array([np.mean([arg_ok[m] ** k for k in ks]) if m >= d else 0.0
                            for m in range(levels)])
        value[d] = operator_values(arg, ks)
    return np.diff(deep[1], prepend=0.0), value[1]


def operator_values(p, ks):
    """Value distribution of a random operator (uniform) over ``k`` (uniform) i.i.d.
    arguments whose values are distributed as ``p``."""
    out = np.zeros(10)
    for k in ks:
        combos = np.array(list(itertools.product(range(10), repeat=k)))
        weight = np.prod(p[combos], axis=1)
        s = np.sort(combos, axis=1)
        median = s[:, k // 2] if k % 2 else (s[:, k // 2 - 1] + s[:, k // 2]) // 2
        for values in (s[:, 0], s[:, -1], median, combos.sum(1) % 10):
            out += np.bincount(values, weights=weight, minlength=10) / (4 * len(ks))
    return out


def test_depth_histogram_and_labels_match_the_exact_distribution(draws):
    depth_p, label_p = exact_distributions(NB["max_depth"], NB["max_args"], NB["op_p"])
    assert depth_p.sum() == pytest.approx(1) and label_p.sum() == pytest.approx(1)
    depths = np.bincount([nesting_depth(t) for t in draws], minlength=len(depth_p))
    # pool the rare deep tail so every expected count is at least 5
    expected = depth_p * N_DRAWS
    cut = int(np.nonzero(expected >= 5)[0].max())
    observed = np.append(depths[1:cut], depths[cut:].sum())
    assert stats.chisquare(observed, np.append(expected[1:cut], expected[cut:].sum())
                           ).pvalue > ALPHA
    labels = np.bincount([evaluate_tokens(t) for t in draws], minlength=10)
    assert stats.chisquare(labels, label_p * N_DRAWS).pvalue > ALPHA
    # nearly balanced: every value 9.4-10.9% (a guess of the commonest value scores 10.8%)
    assert 0.09 < label_p.min() and label_p.max() < 0.11


def test_nb_preset_splits_with_small_sizes():
    data = generate(config({"preset": "nb", "n_train": 400, "n_test": 100, "n_extrap": 5,
                            "lengths": "40-50,80-90", "arg_counts": "8"}))
    assert {k: len(v) for k, v in data.items()} == {
        "train": 380, "dev": 20, "test": 100, "len40-50": 5, "len80-90": 5, "args8": 5}
    seen = [" ".join(expression_tokens(t)) for split in data.values() for t in split]
    assert len(seen) == len(set(seen))
    for name, (lo, hi) in (("len40-50", (40, 50)), ("len80-90", (80, 90))):
        assert all(lo <= len(expression_tokens(t)) <= hi for t in data[name])
    many = [max(walk(expression_tokens(t))[1]) for t in data["args8"]]
    assert max(many) <= 8 and max(many) > NB["max_args"]
    assert all(100 <= len(expression_tokens(t)) <= 1000 for t in data["args8"])
    assert all(int(t.label()) == evaluate_tokens(expression_tokens(t))
               for split in data.values() for t in split)
    assert all(nesting_depth(expression_tokens(t)) <= 20 for t in data["train"])
    assert "extrap" not in data  # no length limit in training, so no "longer" split


def test_default_preset_is_unchanged():
    cfg = config({})
    assert cfg.preset == "treenn" and cfg.max_length == 60 and cfg.n_dev == 1000
    assert "preset" not in cfg.to_dict() and "lengths" not in cfg.to_dict()
    assert config({"preset": "nb", "n_train": 7}).n_train == 7  # a flag beats the preset
    assert config({"preset": "nb"}).n_train == 90000
    data = generate(config({"n_train": 200, "n_dev": 20, "n_test": 20, "n_extrap": 10}))
    assert list(data) == ["train", "dev", "test", "extrap"]
    # the draws of the generator before the presets existed (data/listops.py at 619d522)
    text = "\n".join(f"{k}\t{' '.join(expression_tokens(t))}" for k, v in data.items()
                     for t in v)
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "e802a5fdafdcbedc901b9fb650f9b415e313f0e34c7f59e4bad6d46c7b680cae")
    assert cfg.to_dict() == {  # the dataset cache key's part, as before
        "n_train": 30000, "n_dev": 1000, "n_test": 2000, "n_extrap": 1000, "max_depth": 5,
        "max_args": 5, "min_length": 10, "max_length": 60, "extrap_max_depth": 8,
        "extrap_max_length": 120, "op_p": 0.25, "seed": 1234}


@pytest.mark.parametrize("text", ["200", "300-200", "0-5", "a-b", "1-2-3", "２-3"])
def test_bad_ranges_are_refused(text):
    with pytest.raises(ValueError, match="give A-B"):
        parse_ranges(text)


@pytest.mark.parametrize("text", ["1", "x", "-3", "2.5"])
def test_bad_counts_are_refused(text):
    with pytest.raises(ValueError, match="integers >= 2"):
        parse_counts(text)


def test_digits_and_operators_are_the_published_ones():
    assert OPERATORS == ("[MIN", "[MAX", "[MED", "[SM")
    assert DIGITS == tuple("0123456789")


def test_train_max_length_drops_long_training_expressions_only(tmp_path):
    options = {"preset": "nb", "n_train": 300, "n_test": 50, "n_extrap": 3,
               "lengths": "40-50", "arg_counts": ""}
    full = generate(config(options))
    cut = generate(config({**options, "train_max_length": 20}))
    assert {k: v for k, v in cut.items() if k != "train"} == \
        {k: v for k, v in full.items() if k != "train"}
    assert cut["train"] == [t for t in full["train"] if len(expression_tokens(t)) <= 20]
    assert 0 < len(cut["train"]) < len(full["train"])
    assert "train_max_length" not in config(options).to_dict()
    # published files: the same cut, and the dataset cache tells the two apart
    from treenn.data.listops import write_tsv
    from treenn.data.tasks import get_task

    for split in ("train", "test"):
        write_tsv(full[split], tmp_path / f"{split}.tsv")
    task = get_task("listops")
    read = task.load(str(tmp_path), {"listops": {"train_max_length": 20}})
    assert all(len(expression_tokens(t)) <= 20 for t in read["train"])
    assert read["test"] == full["test"]
    assert task.source(str(tmp_path), {"listops": {"train_max_length": 20}}) != \
        task.source(str(tmp_path), {})
    with pytest.raises(ValueError, match="no training expression has <= 3 tokens"):
        generate(config({**options, "train_max_length": 3}))
    with pytest.raises(TreennError, match="no training expression has <= 3 tokens"):
        task.load(str(tmp_path), {"listops": {"train_max_length": 3}})

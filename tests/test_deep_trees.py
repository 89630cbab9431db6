"""Long sentences and deep trees through every tree path of the application: raw text ->
parser -> binarisation -> prediction -> drawing (terminal, SVG, HTML, PNG's size check), at
1,000 and 5,000 words and levels, under Python's default recursion limit (a recursive step
anywhere fails near 1,000)."""

from __future__ import annotations

import sys

import pytest
import torch
from nltk import Tree

from treenn.data.graphs import n_graph_nodes
from treenn.data.tasks import get_task
from treenn.data.trees import height, leaves, to_bracketed
from treenn.errors import TreennError
from treenn.parsers.baselines import LeftBranching, RightBranching
from treenn.parsers.pipeline import binarize
from treenn.show import build_shown_tree, draw_tree, html_page, term_tree, to_svg
from treenn.show.png import check_png_size
from treenn.show.term import MAX_PICTURE_DEPTH

SIZES = [1000, 5000]


@pytest.fixture(autouse=True)
def _default_recursion_limit():
    """Python's default limit, whatever the test runner set."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(limit)


def _words(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


def _shown(tree: Tree, task: str = "sst5"):
    n_classes = len(get_task(task).class_names)
    return build_shown_tree(get_task(task), tree,
                            torch.full((n_graph_nodes(tree), n_classes), 1 / n_classes))


@pytest.mark.parametrize("n", SIZES)
def test_binarize_takes_chains_and_wide_nodes_of_any_size(n):
    for parser in (RightBranching(), LeftBranching()):
        tree = binarize(parser.parse(_words(n)))
        assert leaves(tree) == _words(n) and height(tree) == n
    flat = binarize(Tree("S", [Tree("NN", [w]) for w in _words(n)]))  # right-factored
    assert leaves(flat) == _words(n) and height(flat) == n
    unary = Tree("NN", ["w"])
    for _ in range(n):
        unary = Tree("NP", [unary])
    assert to_bracketed(binarize(unary)) == "(NP w)"  # the chain collapses


@pytest.mark.parametrize("n", SIZES)
def test_every_picture_of_a_deep_tree_is_drawn(n):
    shown = _shown(binarize(RightBranching().parse(_words(n))))
    outline = term_tree(shown, color=False).splitlines()
    assert f"{n} levels" in outline[0] and len(outline) == 1 + 2 * n - 1
    assert outline[-1].endswith(f"w{n - 1}")
    table = term_tree(shown, probabilities=True, color=False, width=80).splitlines()
    assert len(table) == 1 + 2 * n - 1
    svg = to_svg(draw_tree(shown, legend=True, title="deep"))
    assert svg.startswith("<svg") and svg.count(">w") >= n
    assert html_page([shown], "deep").count("<svg") >= 1
    with pytest.raises(TreennError, match="--format png: this tree would be .* pixels"):
        check_png_size(draw_tree(shown))


def test_the_top_down_picture_is_kept_for_trees_up_to_its_depth():
    shallow = _shown(binarize(RightBranching().parse(_words(MAX_PICTURE_DEPTH - 2))))
    assert "levels" not in term_tree(shallow, color=False).splitlines()[0]
    wide = _shown(binarize(Tree("X", [Tree("X", _words(8)) for _ in range(125)])))
    assert "w7" in term_tree(wide, color=False)  # 1,000 words, 10 levels: a picture


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from treenn.training import TrainConfig, train

    root = tmp_path_factory.mktemp("deep")
    (root / "sst").mkdir()
    for split in ("train", "dev", "test"):
        (root / "sst" / f"{split}.txt").write_text("(3 (2 a) (4 good))\n(1 (2 a) (0 bad))\n")
    train(TrainConfig(task="sst2", model="tree-lstm", out=str(root / "run"),
                      data_dir=str(root / "sst"), epochs=1, x_size=4, h_size=4, seed=1,
                      progress=False, threads=1))
    return root / "run"


@pytest.mark.parametrize("n", SIZES)
def test_a_long_raw_text_line_is_parsed_predicted_and_shown(tiny_run, tmp_path, capsys, n):
    from treenn.cli import main

    text = tmp_path / "long.txt"
    text.write_text(" ".join(["good"] * n) + "\n")
    assert main(["-q", "parse", "right-branching", "--text", str(text)]) == 0
    assert capsys.readouterr().out.count("(XX good)") == n
    assert main(["-q", "predict", str(tiny_run), "--text", str(text)]) == 0
    assert capsys.readouterr().out.count("good)") == n
    assert main(["-q", "show", str(tiny_run), "--text", str(text), "--color", "never"]) == 0
    assert f"{n} levels" in capsys.readouterr().out
    assert main(["-q", "show", str(tiny_run), "--text", str(text),
                 "--out", str(tmp_path / "t.svg")]) == 0
    assert (tmp_path / "t.svg").read_text().startswith("<svg")

"""``train.py show``: node/prediction pairing, colours, legend, layout, terminal, SVG, HTML, PNG."""

import random
import re
from itertools import combinations

import pytest
import torch

from tests.reference import random_tree
from treenn.data.graphs import n_graph_nodes
from treenn.data.listops import parse_expression
from treenn.data.tasks import TASKS, get_task
from treenn.data.trees import parse_tree, to_bracketed
from treenn.show import (
    BOX_H,
    BOX_W,
    NO_GOLD_FILL,
    NONE_FILL,
    SENTIMENT2_COLORS,
    SENTIMENT5_COLORS,
    build_shown_tree,
    draw_legend,
    draw_tree,
    html_page,
    legend_items,
    task_colors,
    term_legend,
    term_tree,
    text_width,
    to_png,
    to_svg,
)

PAPER = "( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )"


def one_hot(classes, n_classes):
    """``[n, n_classes]`` probabilities putting 0.9 on each given class."""
    probs = torch.full((len(classes), n_classes), 0.1 / (n_classes - 1))
    probs[torch.arange(len(classes)), torch.tensor(classes)] = 0.9
    return probs


def make_tiny_sst(folder, n=(30, 8, 8), seed=0):
    """An SST-format data directory of random trees (labels 0-4)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in zip(("train", "dev", "test"), n, strict=True):
        lines = [to_bracketed(random_tree(rng, rng.randint(1, 7))) for _ in range(size)]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


def train_tiny(data_dir, out, **kw):
    """A run trained in about a second (x_size = h_size = 8)."""
    from treenn.training import TrainConfig, train

    base = dict(task="sst5", model="tree-lstm", out=str(out), data_dir=str(data_dir), epochs=1,
                x_size=8, h_size=8, batch_size=8, seed=1, progress=False, threads=1)
    base.update(kw)
    train(TrainConfig(**base))
    return out


# graph order of "(3 (2 The) (4 (3 (2 Rock) (4 rocks)) (2 .)))": The, Rock, rocks, ., (Rock
# rocks), (Rock rocks .), root.
SST_TREE = "(3 (2 The) (4 (3 (2 Rock) (4 rocks)) (2 .)))"
SST_PRED = [2, 2, 3, 2, 3, 4, 1]


def test_build_shown_tree_pairs_nodes_in_graph_order_with_gold_labels():
    shown = build_shown_tree(get_task("sst5"), parse_tree(SST_TREE), one_hot(SST_PRED, 5))
    assert shown.words == ["The", "Rock", "rocks", "."]
    assert [n.gold for n in shown.nodes] == [2, 2, 4, 2, 3, 4, 3]
    assert [n.pred for n in shown.nodes] == SST_PRED
    assert shown.root.children == [0, 5] and shown.nodes[5].children == [4, 3]
    assert [n.depth for n in shown.nodes] == [1, 3, 3, 2, 2, 1, 0]
    assert shown.root_error is True and shown.node_errors == 2 and shown.n_scored == 7


def test_build_shown_tree_rejects_probabilities_of_another_tree():
    with pytest.raises(ValueError, match="7 nodes"):
        build_shown_tree(get_task("sst5"), parse_tree(SST_TREE), one_hot([0, 1], 5))


def test_sst2_neutral_nodes_have_no_gold_and_inputs_without_labels_have_no_errors():
    shown = build_shown_tree(get_task("sst2"), parse_tree("(4 (3 good) (2 fun))"),
                             one_hot([1, 0, 0], 2))
    assert [n.gold for n in shown.nodes] == [1, -1, 1]
    assert shown.root_error is True and shown.node_errors == 1
    unlabelled = build_shown_tree(get_task("sst5"), parse_tree("(S (NP good) (VP fun))"),
                                  one_hot([1, 2, 3], 5))
    assert unlabelled.root_error is None and unlabelled.node_errors == 0
    assert not unlabelled.has_gold
    assert ("pred", "colour: predicted class (no gold labels)") in legend_items(unlabelled)


def test_listops_shows_predicted_and_true_values_of_complete_subexpressions_only():
    tree = parse_expression(PAPER)
    n = 17  # 9 tokens + 8 inner nodes
    shown = build_shown_tree(get_task("listops"), tree, one_hot([5] * n, 10))
    valued = [(n.gold, n.pred) for n in shown.nodes if n.pred >= 0]
    # [MIN 4 7 ] = 4 and the whole expression = 9: the only complete operator sub-trees.
    assert sorted(valued) == [(4, 5), (9, 5)]
    assert all(n.pred < 0 and n.gold < 0 for n in shown.nodes if n.word is not None)
    assert shown.root.gold == 9 and shown.root_error is True and shown.node_errors == 2
    svg = to_svg(draw_tree(shown))
    assert svg.count('stroke-dasharray="3,2"') == 8 - 2 + 1  # incomplete nodes + legend
    assert "incomplete sub-expression (no value)" in svg
    assert "true value" in svg
    # A lone digit is a complete expression too.
    digit = build_shown_tree(get_task("listops"), parse_expression("7"), one_hot([7], 10))
    assert (digit.root.gold, digit.root.pred, digit.root_error) == (7, 7, False)


def test_colours_follow_the_sentiment_palette_and_the_legend_names_every_class():
    five = build_shown_tree(get_task("sst5"), parse_tree(SST_TREE), one_hot(SST_PRED, 5))
    assert five.colors == SENTIMENT5_COLORS == ("#B2182B", "#F4A582", "#999999", "#92C5DE",
                                                "#2166AC")
    svg = to_svg(draw_tree(five))
    for color, name in zip(SENTIMENT5_COLORS, get_task("sst5").class_names, strict=True):
        assert f'fill="{color}"' in svg and name in svg
    two = build_shown_tree(get_task("sst2"), parse_tree("(4 (3 good) (1 bad))"),
                           one_hot([1, 0, 1], 2))
    assert two.colors == SENTIMENT2_COLORS == ("#F4A582", "#92C5DE")
    svg2 = to_svg(draw_tree(two))
    assert "#B2182B" not in svg2 and "#2166AC" not in svg2
    assert "negative" in svg2 and "positive" in svg2
    listops = build_shown_tree(get_task("listops"), parse_expression(PAPER),
                               one_hot([0] * 17, 10))
    legend = [text for kind, text in legend_items(listops) if kind.startswith("class:")]
    assert legend == [str(d) for d in range(10)] and len(set(listops.colors)) == 10


def test_svg_shows_gold_and_prediction_halves_and_marks_mismatches():
    shown = build_shown_tree(get_task("sst5"), parse_tree(SST_TREE), one_hot(SST_PRED, 5))
    svg = to_svg(draw_tree(shown))
    groups = re.findall(r'<g class="(node[^"]*)" data-node="(\d+)" data-gold="(-?\d+)" '
                        r'data-pred="(-?\d+)" data-probs="([^"]*)">', svg)
    assert len(groups) == 7
    wrong = {int(i) for cls, i, *_ in groups if cls == "node wrong"}
    assert wrong == {2, 6}  # "rocks" (gold 4, predicted 3) and the root (gold 3, predicted 1)
    for _, i, gold, pred, probs in groups:
        assert (int(gold), int(pred)) == (shown.nodes[int(i)].gold, SST_PRED[int(i)])
        assert len(probs.split(",")) == 5
    root = svg[svg.index('data-node="6"'):]
    root = root[:root.index("</g>")]
    # left half gold (positive #92C5DE), right half predicted (negative #F4A582)
    halves = re.findall(rf'<rect x="([\d.]+)"[^>]*width="{BOX_W / 2:g}"[^>]*fill="(#\w+)"',
                        root)
    assert [c for _, c in sorted(halves, key=lambda h: float(h[0]))] == ["#92C5DE", "#F4A582"]
    assert 'stroke="#000000" stroke-width="2.5"' in root and "\u2717" in root
    assert "<title>predicted: negative\ngold: positive \u2717 wrong" in root


def _random_sentence(n_words, seed=0):
    rng = random.Random(seed)
    tree = random_tree(rng, n_words, max_arity=3, unary_p=0.1)
    words = iter(["unremittingly", "a", "the", "extraordinarily", ",", "film", "I", "moving"]
                 * n_words)
    for pos in tree.treepositions("leaves"):
        tree[pos] = next(words)
    return tree


def _overlap(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_layout_of_a_50_word_sentence_is_readable_and_boxes_never_overlap():
    tree = _random_sentence(50)
    n = len(tree.treepositions()) - len(tree.leaves())
    probs = torch.softmax(torch.randn(n, 5), -1)
    drawing = draw_tree(build_shown_tree(get_task("sst5"), tree, probs), title="#1 long")
    sizes = {s.attrs["size"] for s in drawing.shapes if s.kind == "text"}
    assert min(sizes) >= 10 and max(sizes) <= 16
    assert drawing.width <= 50 * 120 and drawing.height <= 60 * 50 + 300
    boxes = drawing.boxes()
    assert len(boxes) == n
    assert all((w, h) == (BOX_W, BOX_H) for _, _, w, h in boxes)
    assert not [pair for pair in combinations(boxes, 2) if _overlap(*pair)]
    words = [(s.attrs["x"] - text_width(s.attrs["text"], s.attrs["size"]) / 2,
              s.attrs["y"] - s.attrs["size"], text_width(s.attrs["text"], s.attrs["size"]),
              s.attrs["size"] * 1.2) for s in drawing.shapes if s.role == "word"]
    assert len(words) == 50
    assert not [pair for pair in combinations(words, 2) if _overlap(*pair)]
    assert not [(b, w) for b in boxes for w in words if _overlap(b, w)]
    for s in drawing.shapes:  # everything inside the canvas
        if s.kind == "rect":
            assert 0 <= s.attrs["x"] and s.attrs["x"] + s.attrs["w"] <= drawing.width
            assert 0 <= s.attrs["y"] and s.attrs["y"] + s.attrs["h"] <= drawing.height


def test_terminal_tree_colours_each_label_by_class_and_has_a_legend():
    shown = build_shown_tree(get_task("sst5"), parse_tree(SST_TREE), one_hot(SST_PRED, 5))
    plain = term_tree(shown, color=False)
    colored = term_tree(shown, color=True)
    assert "\x1b[" not in plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain
    assert "\x1b[1;38;2;244;165;130m\u2212\x1b[0m" in colored  # negative root, #F4A582
    assert plain.splitlines()[-1].split() == ["The", "Rock", "rocks", "."]
    assert "\u2212\u2717+" in plain  # root: predicted negative, gold positive
    assert "+\u2717++" in plain  # rocks: predicted positive, gold very positive
    with_probs = term_tree(shown, probabilities=True, color=False).splitlines()
    assert with_probs[0].split() == ["\u2212\u2212", "\u2212", "0", "+", "++"]
    # one node a line, root first: its label and distribution under the class names
    assert with_probs[1].split() == ["\u2212\u2717+", ".03", ".90", ".03", ".03", ".03"]
    assert [line[:line.index(".")].split() for line in with_probs[2:]] == [
        ["\u251c\u2500", "0", "The"], ["\u2514\u2500", "++"], ["\u251c\u2500", "+"],
        ["\u2502", "\u251c\u2500", "0", "Rock"],
        ["\u2502", "\u2514\u2500", "+\u2717++", "rocks"], ["\u2514\u2500", "0"]]
    legend = term_legend(shown, color=False)
    for name in get_task("sst5").class_names:
        assert name in legend
    assert "predicted p, gold g" in legend


@pytest.mark.parametrize("task_name", ["sst5", "sst2"])
def test_no_gold_legend_swatch_has_a_colour_no_class_has(task_name):
    task = get_task(task_name)
    shown = build_shown_tree(task, parse_tree("(S (NP good) (VP fun))"),
                             one_hot([0, 1, 0], task.n_classes))
    assert not shown.has_gold  # raw text (--text): no gold labels
    shapes, _ = draw_legend(shown, 0, 0, 2000)
    label = next(k for k, s in enumerate(shapes) if "no gold" in s.attrs.get("text", ""))
    swatch = shapes[label - 1]  # each entry is its swatch, then its text
    assert swatch.kind == "rect" and swatch.attrs["fill"] == NO_GOLD_FILL
    assert f'fill="{NO_GOLD_FILL}"' in to_svg(draw_tree(shown))


def test_no_gold_swatch_colour_differs_from_every_class_colour_of_every_task():
    for name in TASKS:
        colors = {c.lower() for c in task_colors(get_task(name))}
        assert NO_GOLD_FILL.lower() not in colors, name
    assert NO_GOLD_FILL not in (NONE_FILL, "none")  # nor the incomplete-expression swatch


@pytest.mark.parametrize("seed", [0, 1])
def test_terminal_probabilities_of_a_long_sentence_fit_a_terminal(seed, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # as when not writing to a terminal
    deep = "(2 extraordinarily)"  # right-branching, as --text's default parser makes them
    for k in range(23):
        deep = f"(2 (2 unremittingly{k}) {deep})"
    for tree in (_random_sentence(30, seed), parse_tree(deep)):
        n = n_graph_nodes(tree)
        assert len(tree.leaves()) >= 22
        shown = build_shown_tree(get_task("sst5"), tree, torch.softmax(torch.randn(n, 5), -1))
        for color in (False, True):
            lines = (term_tree(shown, probabilities=True, color=color) + "\n"
                     + term_legend(shown, color)).splitlines()
            widths = [len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in lines]
            assert max(widths) <= 80  # the terminal width; the bug drew 484 columns
        assert len(lines) == n + 1 + 2  # header, one line per node, legend
        assert [w for w in tree.leaves() if any(w in line for line in lines)] == tree.leaves()


def test_html_page_is_self_contained_and_its_filter_attributes_match_the_errors():
    task = get_task("sst5")
    trees = [
        build_shown_tree(task, parse_tree(SST_TREE), one_hot(SST_PRED, 5)),  # root wrong
        build_shown_tree(task, parse_tree("(3 (3 a) (2 b))"), one_hot([3, 1, 3], 5)),  # node
        build_shown_tree(task, parse_tree("(1 (1 a) (2 b))"), one_hot([1, 2, 1], 5)),  # right
    ]
    page = html_page(trees, "title <&>", ["meta line"])
    sections = re.findall(r'<section class="sentence" id="s(\d)" data-root-error="(\d)" '
                          r'data-node-errors="(\d+)">', page)
    assert sections == [("1", "1", "2"), ("2", "0", "1"), ("3", "0", "0")]
    assert page.count("<svg") == 4  # one legend + one per tree
    assert 'id="filter"' in page and 'value="root"' in page and 'value="node"' in page
    assert "title &lt;&amp;&gt;" in page
    for needle in ("http://", "https://", "src=", "<link", "@import"):
        assert needle not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    with pytest.raises(ValueError):
        html_page([], "empty")


def test_png_is_drawn_with_matplotlib_agg(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    shown = build_shown_tree(get_task("sst5"), parse_tree(SST_TREE), one_hot(SST_PRED, 5))
    drawing = draw_tree(shown, title="#1 The Rock rocks .")
    to_png(drawing, tmp_path / "tree.png", scale=1)
    pixels = matplotlib.image.imread(tmp_path / "tree.png")
    assert abs(pixels.shape[1] - drawing.width) <= 2 and abs(pixels.shape[0] - drawing.height) <= 2
    assert pixels[..., :3].std() > 0.05  # not blank
    # the very negative red appears nowhere, the negative salmon of the root does
    rgb = (pixels[..., :3] * 255).round().reshape(-1, 3)
    assert ((abs(rgb - torch.tensor([244, 165, 130]).numpy()).sum(1)) < 6).any()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("show")
    data = make_tiny_sst(root / "sst")
    return train_tiny(data, root / "run"), data


def _main(*args):
    from treenn.cli import main

    return main(["-q", *map(str, args)])


def test_cli_show_writes_every_format(tiny_run, tmp_path, capsys):
    run, data = tiny_run
    trees = data / "test.txt"
    assert _main("show", run, "--trees", trees, "--limit", "2", "--color", "always") == 0
    out = capsys.readouterr().out
    assert "\x1b[1;38;2;" in out and "legend:" in out
    assert _main("show", run, "--trees", trees, "--limit", "2", "--out", tmp_path / "t.svg") == 0
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == ["t-1.svg", "t-2.svg"]
    assert _main("show", run, "--trees", trees, "--out", tmp_path / "page.html") == 0
    page = (tmp_path / "page.html").read_text()
    assert page.count('<section class="sentence"') == 8
    assert _main("show", run, "--trees", trees, "--limit", "1", "--format", "svg") == 0
    assert capsys.readouterr().out.startswith("<svg")
    pytest.importorskip("matplotlib")
    assert _main("show", run, "--trees", trees, "--limit", "1", "--out", tmp_path / "t.png") == 0
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_show_input_errors_are_one_line(tiny_run, tmp_path, capsys):
    run, data = tiny_run
    assert _main("show", run, "--trees", data / "test.txt", "--format", "png") == 2
    assert "needs --out" in capsys.readouterr().err
    assert _main("show", run, "--trees", data / "test.txt", "--format", "svg") == 2
    assert "pass --out" in capsys.readouterr().err
    assert _main("show", tmp_path / "nothing", "--trees", data / "test.txt") == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_show_checks_every_file_it_will_write_first(tiny_run, tmp_path, capsys):
    run, data = tiny_run
    (tmp_path / "t-2.svg").mkdir()  # two trees make t-1.svg and t-2.svg
    assert _main("show", run, "--trees", data / "test.txt", "--limit", "2",
                 "--out", tmp_path / "t.svg") == 2
    assert "t-2.svg is a folder" in capsys.readouterr().err
    assert not (tmp_path / "t-1.svg").exists()

"""Induced trees of latent-tree runs: built right, scored right, drawn like any tree."""

import json
import subprocess
import sys

import pytest
import torch
from nltk import Tree

from treenn import evaluation
from treenn.data.graphs import tree_to_arrays
from treenn.data.listops import parse_expression
from treenn.data.trees import leaves, parse_tree, relabel_uniform
from treenn.data.vocab import Vocab
from treenn.datasets import Dataset, batches
from treenn.errors import TreennError
from treenn.induced import _build, gold_shape, induce
from treenn.models import Classifier, ModelConfig, gold_tree_twin
from treenn.parsers.baselines import LeftBranching, RightBranching
from treenn.parsers.latent import (
    LatentTreeParser,
    induced_tree_scores,
    on_gold_trees,
    score_induced,
)
from treenn.training import TrainConfig, evaluate_run, load_model, train

EXPRESSIONS = ["[MAX 2 9 [MIN 4 7 ] 0 ]", "[SM 1 2 ]", "[MED 3 [MAX 1 8 ] 5 ]"]


def train_latent(out, model):
    train(TrainConfig(task="listops", model=model, out=str(out), epochs=1,
                      listops={"n_train": 200, "n_dev": 30, "n_test": 30, "n_extrap": 10},
                      h_size=16, x_size=8, threads=1, progress=False))
    return out


@pytest.fixture(scope="module")
def latent_run(tmp_path_factory):
    return train_latent(tmp_path_factory.mktemp("runs") / "gumbel", "gumbel-tree-lstm")


@pytest.fixture(scope="module", params=["gumbel-tree-lstm", "beam-tree-lstm"])
def any_latent_run(request, tmp_path_factory, latent_run):
    if request.param == "gumbel-tree-lstm":
        return latent_run
    return train_latent(tmp_path_factory.mktemp("runs") / "beam", request.param)


def test_build_numbers_nodes_as_the_encoder_does():
    # padded to 5 words: merge nodes are 5, 6, ...; graph order is leaves then post-order
    tree, order = _build(["a", "b", "c"], [0, 0], first_merge=5)
    assert str(tree) == "(6 (5 (0 a) (1 b)) (2 c))"
    assert order == [0, 1, 2, 5, 6]
    tree, order = _build(["a", "b", "c", "d"], [2, 0, 0], first_merge=4)
    assert order == [0, 1, 2, 3, 5, 4, 6]  # (a b) is finished before (c d) in post-order


@pytest.mark.parametrize("text", ["(3 (2 a) (4 (2 b) (1 c)))", "(1 (2 (2 a) (2 b)) (3 c))",
                                  "(2 x)"])
def test_gold_shape_keeps_every_bracket(text):
    tree = parse_tree(text)
    shape = gold_shape(tree_to_arrays(tree, Vocab.build([["a", "b", "c", "x"]]), int))
    assert leaves(shape) == [str(i) for i in range(len(leaves(tree)))]
    renamed = relabel_uniform(tree)  # the original shape, words put back as positions
    for k, pre in enumerate(t for t in renamed.subtrees() if isinstance(t[0], str)):
        pre[0] = str(k)
    assert shape == renamed


def test_gold_shape_of_a_listops_expression():
    tree = parse_expression("[MAX 2 9 [MIN 4 7 ] 0 ]")
    shape = gold_shape(tree_to_arrays(tree, Vocab.build([leaves(tree)]), lambda label: -1))
    assert len(leaves(shape)) == 9
    right = RightBranching().parse(leaves(shape))
    left = LeftBranching().parse(leaves(shape))
    scores = score_induced([shape, shape], [right, left])
    # gold spans of >= 2 words, whole sentence left out: ([MAX 2) (+9) ([MIN 4) (+7) (+])
    # ([MAX..[MIN..]) (+0) = (0,2) (0,3) (3,5) (3,6) (3,7) (0,7) (0,8): 7 per sentence
    assert scores["induced"]["gold"] == 14
    # left-branching matches (0,2) (0,3) (0,7) (0,8); right-branching, ending at 9, none
    assert scores["induced"]["matched"] == 0 + 4
    assert scores["right-branching"]["matched"] == 0
    assert scores["left-branching"]["matched"] == 8
    assert scores["left-branching"]["f1"] == pytest.approx(8 / 14)


def test_induced_trees_agree_with_the_classifier(any_latent_run):
    model, ckpt = load_model(any_latent_run)
    vocab = Vocab.from_dict(ckpt["vocab"])
    trees = [parse_expression(e) for e in EXPRESSIONS]
    data = Dataset([tree_to_arrays(t, vocab, lambda label: -1) for t in trees], trees)
    induced, probs = induce(model, data, root_labels=[t.label() for t in trees])
    model.eval()
    batch = next(batches(data, 64))
    with torch.no_grad():
        root_probs = torch.softmax(model(batch, batch.roots), -1)
    for tree, got, p, want in zip(trees, induced, probs, root_probs, strict=True):
        assert leaves(got) == leaves(tree)
        assert got.label() == tree.label()  # the gold value on the root, nowhere else
        assert all(t.label() == "" for t in got.subtrees() if t is not got)
        assert all(len(t) in (1, 2) for t in got.subtrees())
        n = len(leaves(tree))
        assert p.shape == (2 * n - 1, 10)
        torch.testing.assert_close(p[-1], want, atol=1e-6, rtol=0)  # the root, last


def test_evaluate_scores_labels_and_trees_in_one_pass(any_latent_run, monkeypatch):
    want = evaluate_run(any_latent_run, "test")  # labels from predict_nodes, no trees

    def second_pass(*args, **kwargs):
        raise AssertionError("the model ran a second time to score the labels")

    monkeypatch.setattr(evaluation, "predict_nodes", second_pass)
    got = evaluate_run(any_latent_run, "test", extra=induced_tree_scores)
    assert got["induced_trees"]["sentences"] == 30
    for key in ("root", "all", "per_sentence"):
        assert got[key] == want[key]
    assert got["on_gold_trees"]["n"] == 30
    assert got["on_gold_trees"]["model"] == "tree-lstm"  # the latent runs' cell


def _root_probs(model, data):
    model.eval()
    batch = next(batches(data, 64))
    with torch.no_grad():
        return torch.softmax(model(batch, batch.roots), -1)


@pytest.mark.parametrize("name, gold_name", [("gumbel-tree-lstm", "tree-lstm"),
                                             ("beam-tree-lstm", "tree-lstm"),
                                             ("gumbel-beam-tree-grc", "tree-grc")])
def test_the_gold_tree_twin_is_the_latent_model_where_only_one_tree_exists(name, gold_name):
    """Over two words there is one binary tree: the latent model must build the gold one
    (every beam the same), so its twin on that tree gives its probabilities."""
    torch.manual_seed(0)
    vocab = Vocab.build([["a", "b", "c"]])
    model = Classifier(ModelConfig(name, len(vocab), 5, x_size=6, h_size=8))
    trees = [parse_tree(t) for t in ("(1 (2 a) (3 b))", "(4 (2 c) (0 a))", "(0 b)")]
    data = Dataset([tree_to_arrays(t, vocab, int) for t in trees], trees)
    twin = gold_tree_twin(model)
    assert twin.cfg.model == gold_name and twin.encoder.cell is model.encoder.tree.cell
    torch.testing.assert_close(_root_probs(twin, data), _root_probs(model, data), atol=1e-6,
                               rtol=0)
    assert on_gold_trees(model, data)["root_accuracy"] == pytest.approx(
        float((_root_probs(model, data).argmax(-1) == torch.tensor([1, 4, 0])).float().mean()))


def test_the_gold_tree_twin_reads_the_trees_it_is_given(latent_run):
    """Given the Gumbel model's own (greedy) trees as the gold ones, the twin predicts what
    the model does; given other trees, something else."""
    model, ckpt = load_model(latent_run)
    vocab = Vocab.from_dict(ckpt["vocab"])
    trees = [parse_expression(e) for e in EXPRESSIONS]
    label = lambda text: int(text) if text else -1  # noqa: E731 (the root's is the value)
    data = Dataset([tree_to_arrays(t, vocab, label) for t in trees], trees)
    own, _ = induce(model, data, root_labels=[t.label() for t in trees])
    assert [leaves(t) for t in own] == [leaves(t) for t in trees]
    own_data = Dataset([tree_to_arrays(t, vocab, label) for t in own], own)
    twin = gold_tree_twin(model)
    want = _root_probs(model, data)
    torch.testing.assert_close(_root_probs(twin, own_data), want, atol=1e-6, rtol=0)
    assert not torch.allclose(_root_probs(twin, data), want, atol=1e-4)  # the gold trees


def test_evaluate_refuses_given_probabilities_in_a_sharded_run(latent_run):
    """Each process would count every tree, and the summed counts would be too large."""
    model, _ = load_model(latent_run)
    with pytest.raises(ValueError, match="not both"):
        evaluation.evaluate(model, None, None, "x", probs=[], sharded=True)


def test_latent_parser_parses_words_it_never_saw(latent_run, tmp_path):
    parser = LatentTreeParser.from_run(latent_run)
    trees = parser.parse_all([["[MAX", "2", "9", "]"], ["unseen", "words", "here"]])
    assert [leaves(t) for t in trees] == [["[MAX", "2", "9", "]"], ["unseen", "words", "here"]]
    assert all(isinstance(t, Tree) and t.label() == "X" for t in trees)
    (tmp_path / "s.txt").write_text("one two three four\n")
    done = cli("parse", str(latent_run), "--text", str(tmp_path / "s.txt"))  # as any parser
    assert done.returncode == 0, done.stderr
    assert leaves(Tree.fromstring(done.stdout)) == ["one", "two", "three", "four"]


def cli(*args):
    return subprocess.run([sys.executable, "train.py", *args], capture_output=True, text=True)


def test_evaluate_predict_and_show_use_the_induced_trees(latent_run, tmp_path):
    done = cli("evaluate", str(latent_run), "--split", "test")
    assert done.returncode == 0, done.stderr
    assert "induced trees, unlabelled F1" in done.stdout
    result = json.loads((latent_run / "eval-test.json").read_text())
    gold = result["on_gold_trees"]["root_accuracy"]
    assert f"on the gold trees instead (its cell and classifier as tree-lstm): root accuracy " \
           f"{100 * gold:.2f}%" in done.stdout
    scores = result["induced_trees"]
    assert scores["sentences"] == 30
    assert {"induced", "right-branching", "left-branching"} <= set(scores)
    assert 0 <= scores["induced"]["f1"] <= 1
    (tmp_path / "x.txt").write_text("\n".join(EXPRESSIONS) + "\n")
    done = cli("predict", str(latent_run), "--trees", str(tmp_path / "x.txt"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    for line, expr in zip(lines, EXPRESSIONS, strict=True):
        assert leaves(Tree.fromstring(line)) == expr.split()
    done = cli("show", str(latent_run), "--trees", str(tmp_path / "x.txt"), "--limit", "1")
    assert done.returncode == 0, done.stderr
    assert "[MAX" in done.stdout


def test_compare_puts_latent_runs_beside_the_others(latent_run, tmp_path):
    done = cli("evaluate", str(latent_run), "--split", "test")
    assert done.returncode == 0, done.stderr
    done = cli("compare", str(latent_run), "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| Gumbel Tree-LSTM (latent trees) | latent |" in report
    assert "## Induced trees" in report
    gold = json.loads((latent_run / "eval-test.json").read_text())["on_gold_trees"]
    assert f"| {100 * gold['root_accuracy']:.2f} |" in report.split("## Induced trees")[1]


def test_induction_on_the_treebank_scores_the_baselines_as_the_parser_table(latent_run,
                                                                            tiny_ptb, tmp_path):
    from treenn.experiments.induction import induce_on_ptb, main

    scores = induce_on_ptb(str(latent_run), "test", str(tiny_ptb))
    assert scores["sentences"] == 6 and scores["metric"] == "evalb"
    # every tiny-PTB word is unknown to a ListOps run
    assert scores["unknown_token_share"] == 1.0
    for name in ("induced", "right-branching", "left-branching"):
        assert 0 <= scores[name]["f1"] <= 1 and scores[name]["gold"] > 0
    assert main([str(latent_run), "--nltk-data", str(tiny_ptb), "--json",
                 str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["right-branching"] == \
        scores["right-branching"]


def test_latent_bench_runs_on_a_few_batches(tiny_sst, tmp_path):
    from treenn.experiments.latent_bench import main

    assert main(["--data-dir", str(tiny_sst), "--batches", "1", "--json",
                 str(tmp_path / "b.json")]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())["models"]
    assert set(rows) == {"tree-lstm", "gumbel-tree-lstm", "beam-tree-lstm"}
    assert rows["tree-lstm"]["epoch_over_tree_lstm"] == 1.0
    assert all(r["epoch_seconds"] > 0 and r["batches_timed"] == 1 for r in rows.values())
    assert "floor_epoch_seconds" in rows["beam-tree-lstm"]  # the carried path's compositions
    assert "floor_epoch_seconds" not in rows["tree-lstm"]


def test_latent_bench_times_the_grc_models_and_their_floor(tiny_sst, tmp_path):
    from treenn.experiments.latent_bench import main

    assert main(["--data-dir", str(tiny_sst), "--batches", "2", "--dev-batches", "1",
                 "--models", "tree-grc,beam-tree-grc", "--json", str(tmp_path / "b.json")]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())["models"]
    beam = rows["beam-tree-grc"]
    assert beam["compositions_per_batch"] > 0 and beam["floor_epoch_seconds"] > 0
    assert beam["epoch_over_floor"] == beam["epoch_seconds"] / beam["floor_epoch_seconds"]
    assert rows["tree-grc"]["dev_batches_timed"] == 1


@pytest.mark.parametrize("lengths, pairs", [
    ([2], 1),  # the one pair; after its merge nothing is left to pair
    ([3], 2 + 2),  # 2 first pairs; each of the 2 beams pairs its new node with the other
    # 3 first pairs; 3 beams pair their new node once, twice (the middle merge), once;
    # then 5 of their 6 expansions are kept, each with 2 nodes left: one pair each
    ([4], 3 + 4 + 5),
    ([4, 3], 12 + 4),
])
def test_the_bench_counts_every_composition_of_the_carried_beams(lengths, pairs):
    from treenn.experiments.latent_bench import _counting_compositions
    from treenn.latent import BeamTreeLSTM

    torch.manual_seed(0)
    model = BeamTreeLSTM(4, 6).train()
    with _counting_compositions() as count:
        model(torch.randn(len(lengths), max(lengths), 4), torch.tensor(lengths))
    assert count[0] == pairs


def test_the_python_api_predicts_on_the_induced_trees(latent_run):
    import treenn

    clf = treenn.TreeClassifier.from_pretrained(latent_run)
    got = clf.predict(EXPRESSIONS)
    for p, expr in zip(got, EXPRESSIONS, strict=True):
        n = len(expr.split())
        assert leaves(p.tree) == expr.split()
        assert p.probabilities.shape == (2 * n - 1, 10) and len(p.node_labels) == 2 * n - 1
        assert p.label == clf.class_names[int(p.tree.label())]


def test_gold_trees_script_scores_what_evaluate_writes(latent_run, tmp_path, capsys):
    from treenn.experiments.gold_trees import main

    want = evaluate_run(latent_run, "test", extra=induced_tree_scores)
    assert main([str(latent_run), "--json", str(tmp_path / "g.json")]) == 0
    (got,) = json.loads((tmp_path / "g.json").read_text())
    assert got["on_gold_trees"] == want["on_gold_trees"]
    assert got["own_trees_root_accuracy"] == want["root"]["accuracy"]
    assert main([str(latent_run), "--checkpoint", "last"]) == 0  # last.pt: never evaluated
    assert "on its own (not evaluated)" in capsys.readouterr().out


def test_right_binarised_makes_every_list_a_right_spine():
    from treenn.experiments.gold_trees import right_binarised

    vocab = Vocab.build([["[MAX", "[MIN", "]", "0", "2", "4", "7", "9"]])
    label = lambda text: int(text) if text else -1  # noqa: E731
    given = tree_to_arrays(parse_expression("[MAX 2 9 [MIN 4 7 ] 0 ]"), vocab, label)
    def spine(*items):  # (a (b (c ...)))
        tree = items[-1]
        for item in reversed(items[:-1]):
            tree = Tree("", [item, tree])
        return tree

    want = spine("[MAX", "2", "9", spine("[MIN", "4", "7", "]"), "0", "]")
    want.set_label("9")
    got = right_binarised(given, vocab)
    assert gold_shape(got) == gold_shape(tree_to_arrays(want, vocab, label))
    assert list(got.word) == list(given.word) and got.label[-1] == 9


def test_evaluate_leaves_out_the_gold_trees_for_a_cell_no_gold_tree_model_has(monkeypatch):
    from treenn.cells import GatedRecursiveCell
    from treenn.latent import BeamTreeLSTM
    from treenn.models import MODELS, ModelSpec

    class OwnCell(GatedRecursiveCell):  # a user's cell, registered for latent trees only
        pass

    monkeypatch.setitem(MODELS, "beam-own", ModelSpec("latent", BeamTreeLSTM,
                                                      options={"cell": OwnCell}))
    vocab = Vocab.build([["a", "b", "c"]])
    model = Classifier(ModelConfig("beam-own", len(vocab), 5, x_size=6, h_size=8))
    trees = [parse_tree("(1 (2 a) (3 (2 b) (0 c)))")]
    data = Dataset([tree_to_arrays(t, vocab, int) for t in trees], trees)
    with pytest.raises(TreennError, match="no gold-tree model is registered for OwnCell"):
        gold_tree_twin(model)
    scores, _ = induced_tree_scores(model, data)
    assert "induced_trees" in scores and "on_gold_trees" not in scores

"""The Python API (``import treenn``): train, load, predict, save, parse, building blocks,
and extending the registries from outside the package."""

import json
import random
from dataclasses import dataclass

import pytest
import torch
from nltk import Tree
from torch import nn

import treenn
from tests.reference import random_tree, recursive_states
from treenn.cells import NaryTreeLSTMCell, TreeCell
from treenn.data.tasks import TASKS, Task
from treenn.data.trees import to_bracketed
from treenn.models import MODELS, ModelSpec
from treenn.training import predict_trees

TINY = dict(x_size=8, h_size=8, batch_size=8, seed=3, epochs=2, progress=False)


@pytest.fixture(scope="module")
def sst_run(tiny_sst, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    treenn.train("sst5", "tree-lstm", out, data_dir=str(tiny_sst), **TINY)
    return out


def test_public_names_load_lazily():
    assert {"TreeClassifier", "Parser", "train", "trees_to_batch", "TreeLSTM"} <= set(dir(treenn))
    with pytest.raises(AttributeError):
        treenn.no_such_name  # noqa: B018


def test_from_pretrained_predicts_what_the_cli_predicts(sst_run, tiny_sst):
    clf = treenn.TreeClassifier.from_pretrained(sst_run)
    lines = (tiny_sst / "test.txt").read_text().splitlines()[:5]
    preds = clf.predict(lines)
    _, probs = predict_trees(sst_run, [Tree.fromstring(x) for x in lines])
    for pred, p in zip(preds, probs, strict=True):
        assert torch.allclose(pred.probabilities, p)
        assert pred.label == clf.class_names[int(p[-1].argmax())]
        assert len(pred.node_labels) == len(p)
        assert pred.tree.label() == str(int(p[-1].argmax()))


def test_predict_parses_raw_text_with_the_given_parser(sst_run):
    clf = treenn.TreeClassifier.from_pretrained(sst_run)
    right, balanced = (clf.predict("A gorgeous , witty movie .", parser=name)[0]
                       for name in ("right-branching", "balanced"))
    assert right.tree.leaves() == ["A", "gorgeous", ",", "witty", "movie", "."]
    assert right.probabilities.shape == (11, 5)  # 6 words + 5 binary inner nodes
    assert right.tree != balanced.tree


def test_save_pretrained_round_trips_and_loads_weights_only(sst_run, tmp_path):
    clf = treenn.TreeClassifier.from_pretrained(sst_run)
    saved = clf.save_pretrained(tmp_path / "saved")
    ckpt = torch.load(saved / "best.pt", weights_only=True)
    assert set(ckpt) >= {"config", "vocab", "state_dict", "task"}
    assert json.loads((saved / "config.json").read_text())["model"]["model"] == "tree-lstm"
    again = treenn.TreeClassifier.from_pretrained(saved)
    tree = "(3 (2 a) (3 (3 good) (2 film)))"
    assert torch.equal(clf.predict(tree)[0].probabilities, again.predict(tree)[0].probabilities)
    with pytest.raises(treenn.TreennError, match="already holds a model"):
        clf.save_pretrained(saved)
    clf.save_pretrained(saved, overwrite=True)


def test_predict_rejects_bad_input_with_its_position(sst_run):
    clf = treenn.TreeClassifier.from_pretrained(sst_run)
    with pytest.raises(treenn.TreennError, match="input 2"):
        clf.predict(["(2 fine)", "(2 (3 unbalanced)"])
    with pytest.raises(treenn.TreennError, match="input 1: expected an nltk Tree"):
        clf.predict([42])


def test_parser_parses_strings_and_token_lists():
    parser = treenn.Parser.from_pretrained("left-branching")
    a, b = parser.parse(["It works.", ["It", "works", "."]])
    assert a == b and a.leaves() == ["It", "works", "."]
    with pytest.raises(treenn.TreennError, match="sentence 2: empty sentence"):
        parser.parse(["fine", ""])


def test_tree_lstm_block_matches_the_recursive_reference():
    rng = random.Random(1)
    trees = [random_tree(rng, rng.randint(1, 7)) for _ in range(4)]
    vocab = treenn.Vocab.build([t.leaves() for t in trees])
    batch = treenn.trees_to_batch([to_bracketed(t) for t in trees], vocab)
    embed = nn.Embedding(len(vocab), 6)
    lstm = treenn.TreeLSTM(6, 5)
    x = embed(batch.words)
    output, (h_n, c_n) = lstm(batch, x)
    assert output.shape == (batch.graph.num_nodes(), 5) and h_n.shape == (4, 5)
    ref = torch.cat([recursive_states(lstm.cell, t, vocab, embed.weight)[0] for t in trees])
    assert torch.allclose(output, ref, atol=1e-6)
    assert torch.equal(h_n, output[batch.roots])
    h_n.sum().backward()
    assert embed.weight.grad is not None and lstm.cell.W_iou.weight.grad is not None


# ----------------------------------------------------------------- extending from outside


class MeanCell(TreeCell):
    """A toy cell: a leaf projects its word, a node averages its children and projects."""

    def __init__(self, x_size, h_size):
        super().__init__()
        self.x_size, self.h_size, self.c_size = x_size, h_size, 0
        self.leaf_proj = nn.Linear(x_size, h_size)
        self.node_proj = nn.Linear(h_size, h_size)

    def leaf(self, x):
        h = torch.tanh(self.leaf_proj(x))
        return h, h.new_zeros(h.shape[0], 0)

    def compose(self, child_h, child_c):
        h = torch.tanh(self.node_proj(child_h.mean(1)))  # [n, K, h] -> [n, h]
        return h, h.new_zeros(h.shape[0], 0)


@dataclass(frozen=True)
class FirstWordTask(Task):
    """A toy task: the label of a tree is its first word (``0`` or ``1``)."""

    def label_of(self, label):
        return -1 if label == "" else int(label)

    def source(self, data_dir, options):
        return {"toy": 1}

    def load(self, data_dir, options):
        rng = random.Random(0)

        def tree():
            words = [rng.choice("01") for _ in range(rng.randint(2, 6))]
            node = Tree("", [words[-1]])
            for w in reversed(words[:-1]):
                node = Tree("", [w, node])
            node.set_label(words[0])
            return node

        return {split: [tree() for _ in range(n)]
                for split, n in (("train", 200), ("dev", 50), ("test", 50))}

    def parse_line(self, line):
        return Tree.fromstring(line)


@pytest.fixture
def registered():
    MODELS["mean-cell"] = ModelSpec("tree", MeanCell)
    TASKS["first-word"] = FirstWordTask("first-word", 2, ("zero", "one"),
                                        defaults=TASKS["listops"].defaults)
    yield
    del MODELS["mean-cell"], TASKS["first-word"]


def test_a_toy_task_and_cell_registered_from_outside_train_through_the_api(registered,
                                                                            tmp_path):
    results = treenn.train("first-word", "mean-cell", tmp_path / "toy", epochs=3,
                           progress=False)
    assert results["test"]["root"]["accuracy"] > 0.9  # the first word is easy to find
    clf = treenn.TreeClassifier.from_pretrained(tmp_path / "toy")
    trees = TASKS["first-word"].load(None, {})["test"]
    preds = clf.predict(trees)
    agree = sum(p.label == clf.class_names[int(t.label())]
                for p, t in zip(preds, trees, strict=True))
    assert agree / len(trees) == results["test"]["root"]["accuracy"]


def test_the_nary_cell_is_the_default_tree_lstm():
    assert isinstance(treenn.TreeLSTM(3, 4).cell, NaryTreeLSTMCell)
    with pytest.raises(treenn.TreennError, match="unknown Tree-LSTM cell"):
        treenn.TreeLSTM(3, 4, cell="ternary")

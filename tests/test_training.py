"""Training loop, checkpoints, resume, evaluate/predict, and the command line's errors."""

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from treenn.errors import TreennError
from treenn.training import TrainConfig, evaluate_run, load_model, predict_trees, train


def _cfg(tiny_sst, out, **kw):
    base = dict(task="sst5", model="tree-lstm", out=str(out), data_dir=str(tiny_sst), epochs=2,
                x_size=8, h_size=8, batch_size=8, seed=3, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def test_train_writes_run_files_and_checkpoints_load_weights_only(tiny_sst, tmp_path):
    results = train(_cfg(tiny_sst, tmp_path / "run"))
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "best.pt", "last.pt", "eval-dev.json",
                 "eval-test.json"):
        assert (run / name).is_file(), name
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    ckpt = torch.load(run / "best.pt", weights_only=True)
    assert set(ckpt) >= {"name", "config", "vocab", "state_dict"}
    ev = json.loads((run / "eval-test.json").read_text())
    assert {"task", "split", "root", "all"} <= set(ev)
    assert {"accuracy", "n", "confusion"} <= set(ev["root"])
    assert ev["root"]["n"] == 12 and results["test"]["root"] == ev["root"]
    assert sum(map(sum, ev["all"]["confusion"])) == ev["all"]["n"]


def test_same_seed_same_run(tiny_sst, tmp_path):
    train(_cfg(tiny_sst, tmp_path / "a"))
    train(_cfg(tiny_sst, tmp_path / "b"))
    a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["train_loss"] for x in a] == [json.loads(x)["train_loss"] for x in b]


def test_interrupted_run_resumes_to_the_same_result(tiny_sst, tmp_path, monkeypatch):
    import treenn.loop as loop

    train(_cfg(tiny_sst, tmp_path / "straight", epochs=3))

    real = loop.train_epoch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of epoch 2
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_sst, tmp_path / "cut", epochs=3))
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(loop, "train_epoch", real)

    with pytest.raises(Exception, match="already holds a run .*pass --resume to continue it"):
        train(_cfg(tiny_sst, tmp_path / "cut", epochs=3))
    train(TrainConfig(task="sst5", model="tree-lstm", out=str(tmp_path / "cut")), resume=True)

    def losses(run):
        return [json.loads(x)["train_loss"] for x in (run / "metrics.jsonl").read_text().split("\n")
                if x]

    assert losses(tmp_path / "cut") == losses(tmp_path / "straight")
    a = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0)


@pytest.mark.parametrize("model", ["lstm", "rntn"])
def test_evaluate_and_predict_reuse_a_run(tiny_sst, tmp_path, model):
    run = tmp_path / model
    train(_cfg(tiny_sst, run, model=model, epochs=1))
    result = evaluate_run(run, "test")
    assert result == json.loads((run / "eval-test.json").read_text())
    from treenn.data.tasks import TASKS

    trees = TASKS["sst5"].read_input(str(tiny_sst / "test.txt"))[:3]
    task, probs = predict_trees(run, trees)
    assert [p.shape[0] for p in probs] == [len(t.treepositions()) - len(t.leaves())
                                           for t in trees]
    torch.testing.assert_close(probs[0].sum(-1), torch.ones(probs[0].shape[0]))
    model_obj, _ = load_model(run)
    assert model_obj.cfg.model == model


def _cli(*args, stdin=None):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), "-q", *map(str, args)],
                          capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=300)


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def _bad_sst(tmp_path, tiny_sst, train_text):
    folder = tmp_path / "bad"
    folder.mkdir()
    for split in ("dev", "test"):
        (folder / f"{split}.txt").write_text((tiny_sst / f"{split}.txt").read_text())
    (folder / "train.txt").write_text(train_text)
    return folder


@pytest.mark.parametrize("train_text, needle", [
    ("(3 (2 a) (2 b))\n(3 (2 a) (2 b)\n", "train.txt:2: malformed tree"),
    ("(3 (2 a) (2 b))\n(3 (2 a) (y b))\n", "train.txt:2: label 'y' is not an integer"),
    ("(3 (2 a) (2 b))\n\n", "train.txt:2: empty line"),
])
def test_cli_bad_tree_file_is_one_line_error(tmp_path, tiny_sst, train_text, needle):
    folder = _bad_sst(tmp_path, tiny_sst, train_text)
    proc = _cli("train", "--task", "sst5", "--model", "tree-lstm", "--data-dir", folder,
                "--out", tmp_path / "run")
    _assert_one_line_error(proc, needle)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cli_unknown_model_is_one_line_error(tmp_path):
    proc = _cli("train", "--task", "sst5", "--model", "transformer", "--out", tmp_path / "r")
    _assert_one_line_error(proc, "invalid choice: 'transformer'")


def test_cli_missing_data_dir_is_one_line_error(tmp_path):
    proc = _cli("train", "--task", "sst5", "--model", "lstm", "--data-dir", tmp_path / "nope",
                "--out", tmp_path / "r")
    _assert_one_line_error(proc, "data directory", "does not exist")


def test_cli_predict_reads_stdin_and_labels_every_node(tiny_sst, tmp_path):
    run = tmp_path / "run"
    train(_cfg(tiny_sst, run, epochs=1))
    proc = _cli("predict", run, "--trees", "-", "--probabilities",
                stdin="(3 (2 good) (2 film))\n(S (NP a) (VP (V b) (N c)))\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip().splitlines()
    assert len(out) == 2
    assert out[0].count("|") == 3 and out[0].startswith("(")
    bad = _cli("predict", run, "--trees", "-", stdin="(3 (2 good) (2 film)\n")
    _assert_one_line_error(bad, "<stdin>:1: malformed tree")


def test_cli_evaluate_prints_summary(tiny_sst, tmp_path):
    run = tmp_path / "run"
    train(_cfg(tiny_sst, run, epochs=1))
    proc = _cli("evaluate", run, "--split", "test")
    assert proc.returncode == 0, proc.stderr
    assert "Root (sentence) labels: accuracy" in proc.stdout
    assert "Collapsed negative/positive" in proc.stdout
    assert "Root accuracy by" not in proc.stdout  # SST has no sentence groups
    missing = _cli("evaluate", tmp_path / "nothing")
    _assert_one_line_error(missing, "does not exist")


def test_shared_sst_sizes():
    from tests.conftest import shared_path
    from treenn.data.tasks import TASKS

    folder = shared_path("sst")
    five = TASKS["sst5"].load(str(folder), {})
    two = TASKS["sst2"].load(str(folder), {})
    assert [len(five[s]) for s in ("train", "dev", "test")] == [8544, 1101, 2210]
    assert [len(two[s]) for s in ("train", "dev", "test")] == [6920, 872, 1821]



def test_prepared_datasets_come_back_identical_from_the_cache(tiny_sst, tmp_path):
    from treenn.training import prepare

    cfg = _cfg(tiny_sst, tmp_path / "r").resolved()
    _, vocab1, fresh = prepare(cfg, use_cache=False)
    prepare(cfg)  # writes the entry unless an earlier test did
    _, vocab2, cached = prepare(cfg)
    assert fresh["train"].trees is not None and cached["train"].trees is None  # really cached
    assert vocab1.words == vocab2.words
    for split in fresh:
        for a, b in zip(fresh[split].arrays, cached[split].arrays, strict=True):
            for name in ("word", "label", "parent", "pos", "height", "start", "end"):
                assert getattr(a, name).tolist() == getattr(b, name).tolist()
            assert a.n_leaves == b.n_leaves
    # a changed data file is a different cache entry
    changed = tmp_path / "changed"
    changed.mkdir()
    for split in ("train", "dev", "test"):
        (changed / f"{split}.txt").write_text((tiny_sst / f"{split}.txt").read_text())
    with (changed / "test.txt").open("a") as handle:
        handle.write("(4 (3 new) (4 tree))\n")
    _, _, other = prepare(_cfg(changed, tmp_path / "r").resolved())
    assert other["test"].trees is not None and len(other["test"]) == 13


def test_evaluating_a_run_reuses_the_entry_its_training_wrote(tiny_sst, tmp_path,
                                                              monkeypatch):
    from treenn.training import prepare

    monkeypatch.setenv("TREENN_CACHE", str(tmp_path / "cache"))
    cfg = _cfg(tiny_sst, tmp_path / "r").resolved()
    _, vocab, fresh = prepare(cfg)  # as training does: no vocabulary yet
    _, _, again = prepare(cfg, vocab)  # as evaluate does: the run's vocabulary
    assert fresh["train"].trees is not None and again["train"].trees is None
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1  # one copy of the arrays
    _, _, third = prepare(cfg)  # a new run with the same settings: the alias
    assert third["train"].trees is None


def test_min_count_maps_rare_training_words_to_unk(tiny_sst, tmp_path):
    from treenn.training import prepare

    _, everything, _ = prepare(_cfg(tiny_sst, tmp_path / "a").resolved())
    _, none, data = prepare(_cfg(tiny_sst, tmp_path / "b", min_count=10**6).resolved())
    assert len(everything) > 2 and none.words == ["<pad>", "<unk>"]
    leaf_words = {int(w) for a in data["train"].arrays for w in a.word[:a.n_leaves]}
    assert leaf_words == {1}  # every word is <unk>


@pytest.mark.parametrize("flag, value, needle", [
    ("--batch-size", "0", "argument --batch-size: 0: give an integer >= 1"),
    ("--dropout", "1", "argument --dropout: 1.0: give a number in [0, 1)"),
    ("--epochs", "0", "argument --epochs: 0: give an integer >= 1"),
    ("--lr", "nan", "argument --lr: nan: give a number > 0"),
    ("--weight-decay", "-1", "argument --weight-decay: -1.0: give a number >= 0"),
    ("--threads", "-1", "argument --threads: -1: give an integer >= 1"),
    ("--listops-args", "1", "--listops-args: 1: give an integer >= 2"),
])
def test_cli_rejects_impossible_settings(tiny_sst, tmp_path, flag, value, needle):
    proc = _cli("train", "--task", "sst5", "--model", "lstm", "--data-dir", tiny_sst,
                "--out", tmp_path / "r", flag, value)
    _assert_one_line_error(proc, needle)


def test_demo_trains_both_models_prints_the_table_and_reuses_finished_runs(tmp_path, capsys,
                                                                           monkeypatch):
    from treenn import cli, demo

    monkeypatch.setattr(demo, "DEMO_LISTOPS", {**demo.DEMO_LISTOPS, "n_train": 300,
                                               "n_dev": 50, "n_test": 50, "n_extrap": 20})
    args = ["-q", "demo", "--epochs", "1", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    rows = [line.split() for line in first.splitlines() if line.startswith(("tree-lstm", "lstm"))]
    assert [r[0] for r in rows] == ["tree-lstm", "lstm"] and all(len(r) == 7 for r in rows)
    test_acc = json.loads((tmp_path / "lstm" / "eval-test.json").read_text())["root"]["accuracy"]
    assert rows[1][2] == f"{100 * test_acc:.2f}%"
    assert cli.main(args) == 0  # a second run reuses what the first finished
    assert "finished earlier" in capsys.readouterr().out
    # a demo folder from other data settings is refused, not passed off as this demo's result
    monkeypatch.setattr(demo, "DEMO_LISTOPS", {**demo.DEMO_LISTOPS, "n_train": 301})
    assert cli.main(args) == 2
    assert "was trained with listops=" in capsys.readouterr().err


def test_resume_reads_generator_state_of_checkpoints_from_before_treenn_runs(tmp_path):
    import numpy as np

    from treenn.randomness import rng_state, set_rng_state
    from treenn.runs import RunDir

    cfg = TrainConfig(task="sst5", model="tree-lstm", out=str(tmp_path), epochs=3)
    (tmp_path / "config.json").write_text(json.dumps({"train": {"task": "sst5",
                                                               "model": "tree-lstm"}}))
    torch.manual_seed(5)
    np.random.seed(5)
    saved = rng_state()
    # older checkpoints kept the generators under their own keys
    torch.save({"epoch": 1, "torch_rng": saved["torch"], "numpy_rng": saved["numpy"]},
               tmp_path / "last.pt")
    resumed, state = RunDir(tmp_path).start(cfg, resume=True)
    assert resumed.epochs == 3 and set(state["rng"]) == {"torch", "numpy"}
    expect = (torch.rand(1), np.random.rand())
    torch.manual_seed(0)
    np.random.seed(0)
    set_rng_state(state["rng"])
    assert (torch.rand(1), np.random.rand()) == expect


def test_a_finished_run_is_never_replaced_without_overwrite(tiny_sst, tmp_path):
    import hashlib

    run = tmp_path / "run"
    train(_cfg(tiny_sst, run, epochs=1))
    (run / "last.pt").unlink()  # people delete it: it is the larger file
    (run / "eval-extra.json").write_text("{}\n")  # anything the old run left
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir()}
    proc = _cli("train", "--task", "sst5", "--model", "tree-lstm", "--data-dir", tiny_sst,
                "--x-size", "8", "--h-size", "8", "--epochs", "1", "--out", run)
    _assert_one_line_error(proc, "already holds a run", "--overwrite")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir()}
    assert after == before
    from treenn.report.grid import grid_action

    with pytest.raises(TreennError, match="without last.pt"):
        grid_action(_cfg(tiny_sst, run, epochs=1))
    train(_cfg(tiny_sst, run, epochs=1), overwrite=True)
    assert (run / "last.pt").is_file() and not (run / "eval-extra.json").exists()


def test_resume_takes_task_and_model_from_the_run_and_refuses_others(tiny_sst, tmp_path):
    run = tmp_path / "run"
    train(_cfg(tiny_sst, run, epochs=1))
    for task, model, needle in (("sst2", None, "--task sst2 does not match the run's task sst5"),
                                (None, "lstm", "--model lstm does not match the run's model")):
        with pytest.raises(TreennError, match=needle):
            train(TrainConfig(task=task, model=model, out=str(run)), resume=True)
    with pytest.raises(TreennError, match="a new run needs a task and a model"):
        train(TrainConfig(task=None, model=None, out=str(tmp_path / "new")))
    from treenn.runs import read_run_config, task_and_model

    assert task_and_model(read_run_config(run)) == ("sst5", "tree-lstm")
    results = train(TrainConfig(task=None, model=None, out=str(run), epochs=2), resume=True)
    assert set(results) == {"dev", "test"}
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().split("\n")
            if x] == [1, 2]


@pytest.mark.parametrize("optimizer", ["adagrad", "adam"])
def test_dense_optimizer_steps_match_the_plain_loop_bit_for_bit(optimizer):
    """make_optimizers asks for torch's multi-tensor (foreach) update; its steps must be the
    single-tensor loop's, so that runs from before that change reproduce."""
    from treenn.training import OPTIMIZERS, make_optimizers

    cfg = TrainConfig(task="sst5", model="tree-lstm", out="-", optimizer=optimizer).resolved()
    weights = []
    for fast in (True, False):
        torch.manual_seed(0)
        model = torch.nn.Module()
        model.layer = torch.nn.Linear(30, 20)
        model.embedding = torch.nn.Embedding(10, 4)  # skipped: the sparse optimiser's
        if fast:
            opt = make_optimizers(model, cfg)[0]
            assert opt.defaults["foreach"] is True
        else:
            opt = OPTIMIZERS[optimizer][0](model.layer.parameters(), lr=cfg.lr,
                                           weight_decay=cfg.weight_decay, foreach=False)
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            for p in model.layer.parameters():
                p.grad = torch.randn(p.shape, generator=gen)
            opt.step()
        weights.append([p.detach().clone() for p in model.layer.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))

"""Fuzzing the run files (issue 19): from one tiny finished run (trained once for the module),
each file is damaged (truncated at any byte, bytes flipped or inserted, random bytes, JSON
values of another type, keys dropped, checkpoints that are ``{}``, not a dict, or hold tensors
of the wrong shape or dtype) and every loader, and evaluate, predict, resume and compare
through the library, must give a correct result or a ``TreennError`` of one line that starts
with the damaged run's path: never another exception. Derandomized (tests/conftest.py)."""

import json
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from treenn.api import TreeClassifier
from treenn.errors import TreennError
from treenn.report import build_report, collect_runs
from treenn.runs import RunDir, load_checkpoint, read_eval, read_metrics, read_run_config
from treenn.training import TrainConfig, evaluate_run, load_model, predict_trees, run_task, train

#: JSON values of every type (a damaged value is one of another type than the original)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 300),
                   st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.text(max_size=4), st.lists(st.integers(0, 3), max_size=3),
                   st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2))


@pytest.fixture
def pristine(finished_sst_run):
    return finished_sst_run


@pytest.fixture(scope="module")
def trees(tiny_sst):
    from treenn.data.tasks import TASKS

    return TASKS["sst5"].read_input(str(tiny_sst / "dev.txt"))[:3]


def _fresh(pristine, tmp_path):
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run)
    return run


def _clean(run, call):
    """``call()``'s result, or None after a TreennError of one line naming a file of ``run``
    (never torch's advice to load a file unsafely). Any other exception fails the test."""
    try:
        return call()
    except TreennError as err:
        text = str(err)
        assert text.startswith(str(run)), text
        assert "\n" not in text and "weights_only" not in text, text
        return None


def _byte_damage(data, raw: bytes) -> bytes:
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "random", "empty"]))
    if kind == "truncate":
        return raw[:data.draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        out = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 4))):
            out[data.draw(st.integers(0, len(out) - 1))] ^= data.draw(st.integers(1, 255))
        return bytes(out)
    if kind == "insert":
        at = data.draw(st.integers(0, len(raw)))
        return raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    return data.draw(st.binary(max_size=300)) if kind == "random" else b""


def _paths(value, prefix=()):
    """Every place in a nested dict/list (the first items of a list only)."""
    yield prefix
    items = value.items() if isinstance(value, dict) else (
        enumerate(value[:3]) if isinstance(value, list) else ())
    for key, inner in items:
        yield from _paths(inner, (*prefix, key))


def _value_damage(data, value):
    """A copy of ``value`` with one place dropped or replaced by a value of another type (a
    tensor's by a tensor of another shape or dtype, too)."""
    value = _copy(value)
    path = data.draw(st.sampled_from([p for p in _paths(value) if p]))
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    old = parent[path[-1]]
    actions = ["replace"] + (["drop"] if isinstance(parent, dict) else [])
    if isinstance(old, torch.Tensor):
        actions += ["shape", "dtype"]
    action = data.draw(st.sampled_from(actions))
    if action == "drop":
        del parent[path[-1]]
    elif action == "shape":
        parent[path[-1]] = torch.zeros(*[n + data.draw(st.integers(-1, 2)) for n in old.shape],
                                       data.draw(st.integers(1, 2)))
    elif action == "dtype":
        parent[path[-1]] = old.to(data.draw(st.sampled_from(
            [torch.float64, torch.float16, torch.int64, torch.bool])))
    else:
        parent[path[-1]] = data.draw(VALUES.filter(lambda v: type(v) is not type(old)))
    return value


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _compare(run):
    """What ``compare`` does with the run: skip it with a reason, or report it."""
    runs, skipped = collect_runs([run])
    assert len(runs) + len(skipped) == 1
    if runs:
        build_report(runs, skipped, n_boot=10, plots=False)


def _resume_start(run):
    return RunDir(run).start(TrainConfig(task=None, model=None, out=str(run)), resume=True)


@given(data=st.data())  # as many examples as the profile says (tests/conftest.py)
def test_a_damaged_config_json(pristine, tmp_path, trees, data):
    run = _fresh(pristine, tmp_path)
    path = run / "config.json"
    if data.draw(st.booleans()):
        path.write_bytes(_byte_damage(data, path.read_bytes()))
    else:
        path.write_text(json.dumps(_value_damage(data, json.loads(path.read_text())), indent=2))
    info = _clean(run, lambda: read_run_config(run))
    assert info is None or isinstance(info["train"]["model"], str)
    started = _clean(run, lambda: _resume_start(run))
    if started is not None:
        _clean(run, lambda: started[0].resolved())
    _clean(run, lambda: run_task(run))
    _clean(run, lambda: predict_trees(run, trees))
    _compare(run)


@given(data=st.data())
def test_a_damaged_metrics_jsonl(pristine, tmp_path, data):
    run = _fresh(pristine, tmp_path)
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines()
    kind = data.draw(st.sampled_from(["bytes", "value", "junk line", "repeat", "drop"]))
    if kind == "bytes":
        path.write_bytes(_byte_damage(data, path.read_bytes()))
    elif kind == "value":
        lines[0] = json.dumps(_value_damage(data, json.loads(lines[0])))
    elif kind == "junk line":
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.text(max_size=10)))
    elif kind == "repeat":
        lines.append(lines[-1])
    else:
        lines.pop()
    if kind != "bytes":
        path.write_text("".join(line + "\n" for line in lines))
    metrics = _clean(run, lambda: read_metrics(run))
    assert metrics is None or [m["epoch"] for m in metrics] == list(range(1, len(metrics) + 1))
    _clean(run, lambda: _resume_start(run))
    _compare(run)


@given(data=st.data(), split=st.sampled_from(["test", "dev"]))
def test_a_damaged_evaluation(pristine, tmp_path, data, split):
    run = _fresh(pristine, tmp_path)
    path = run / f"eval-{split}.json"
    if data.draw(st.booleans()):
        path.write_bytes(_byte_damage(data, path.read_bytes()))
    else:
        path.write_text(json.dumps(_value_damage(data, json.loads(path.read_text()))))
    result = _clean(run, lambda: read_eval(run, split))
    assert result is None or 0 <= result["root"]["accuracy"] <= 1
    _compare(run)


def _damage_checkpoint(data, path):
    kind = data.draw(st.sampled_from(["bytes", "value", "value", "value", "empty", "other"]))
    if kind == "bytes":
        path.write_bytes(_byte_damage(data, path.read_bytes()))
        return
    ckpt = torch.load(path, weights_only=True)
    damaged = {"value": lambda: _value_damage(data, ckpt), "empty": dict,
               "other": lambda: data.draw(st.sampled_from([[1, 2], torch.zeros(2), 3, None]))}
    torch.save(damaged[kind](), path)


@settings(max_examples=80)  # each loads a model and predicts
@given(data=st.data())
def test_a_damaged_best_checkpoint(pristine, tmp_path, trees, tiny_sst, data):
    run = _fresh(pristine, tmp_path)
    _damage_checkpoint(data, run / "best.pt")
    _clean(run, lambda: load_checkpoint(run / "best.pt"))
    loaded = _clean(run, lambda: load_model(run))
    probs = _clean(run, lambda: predict_trees(run, trees))
    assert (loaded is None) == (probs is None)
    if probs is not None:
        assert [p.shape[0] for p in probs[1]] == [len(t.treepositions()) - len(t.leaves())
                                                  for t in trees]
        TreeClassifier.from_pretrained(run).predict(trees[:1])
        # the run's data, named: a checkpoint without its data_dir would download SST
        _clean(run, lambda: evaluate_run(run, "dev", data_dir=str(tiny_sst)))


@settings(max_examples=40)
@given(data=st.data())
def test_a_damaged_last_checkpoint_on_resume(pristine, tmp_path, data):
    run = _fresh(pristine, tmp_path)
    _damage_checkpoint(data, run / "last.pt")
    _clean(run, lambda: load_checkpoint(run / "last.pt"))
    if _clean(run, lambda: _resume_start(run)) is not None:
        # the run's epochs are done: restoring the state, then the final evaluation
        _clean(run, lambda: train(TrainConfig(task=None, model=None, out=str(run)),
                                  resume=True))


@pytest.fixture(scope="module")
def parser_run(tiny_ptb, tmp_path_factory):
    from treenn.parsers.training import ParserTrainConfig, train_parser

    out = tmp_path_factory.mktemp("fuzz") / "rnn-parser"
    train_parser(ParserTrainConfig(model="rnn-parser", out=str(out), data_dir=str(tiny_ptb),
                                   epochs=1, h_size=8, word_dim=8, progress=False, threads=1))
    return out


@settings(max_examples=40)
@given(data=st.data())
def test_a_damaged_parser_checkpoint(parser_run, tmp_path, data):
    from treenn.parsers.training import load_trained_parser

    run = _fresh(parser_run, tmp_path)
    _damage_checkpoint(data, run / "best.pt")
    parser = _clean(run, lambda: load_trained_parser(run))
    if parser is not None:
        [tree] = parser.parse_many([["The", "dog", "ran", "."]], 1)
        assert tree.leaves() == ["The", "dog", "ran", "."]


@given(data=st.data(), name=st.sampled_from(["config.json", "eval-dev.json", "eval-test.json",
                                             "metrics.jsonl"]))
def test_a_damaged_parser_run_file(parser_run, tmp_path, data, name):
    from treenn.experiments.seeds import load_parser_run

    run = _fresh(parser_run, tmp_path)
    path = run / name
    if name == "metrics.jsonl" or data.draw(st.booleans()):
        path.write_bytes(_byte_damage(data, path.read_bytes()))
    else:
        path.write_text(json.dumps(_value_damage(data, json.loads(path.read_text()))))
    found = _clean(run, lambda: load_parser_run(run))
    assert found is None or all(0 <= f <= 1 for split in found.f1.values()
                                for f in split.values())

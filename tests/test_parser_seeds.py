"""``python -m treenn.experiments.seeds``: parser runs grouped by settings, chosen by dev,
never by test."""

import json

import pytest

from tests.test_parser_cli import _train
from treenn.errors import TreennError
from treenn.experiments.seeds import load_parser_run, main


def _fake_run(root, name, seed, dev, test, lr=1e-3, epochs=((1, 0.5), (2, 0.7), (3, 0.6))):
    """A finished parser run folder: dev/test are (labelled, unlabelled) F1 pairs."""
    run = root / name
    run.mkdir()
    train = {"model": "rnn-parser", "out": str(run), "seed": seed, "lr": lr, "threads": seed}
    (run / "config.json").write_text(json.dumps({"kind": "parser", "train": train}))
    for split, (lab, unlab) in (("dev", dev), ("test", test)):
        (run / f"eval-{split}.json").write_text(json.dumps(
            {"labelled": {"f1": lab}, "unlabelled": {"f1": unlab}}))
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e, "dev_labelled_f1": f}) + "\n" for e, f in epochs))
    return run


def test_seeds_are_grouped_by_settings_and_chosen_by_dev_not_test(tmp_path, capsys):
    a = _fake_run(tmp_path, "a", 1, (0.80, 0.83), (0.76, 0.81))
    b = _fake_run(tmp_path, "b", 2, (0.82, 0.84), (0.75, 0.79))  # best dev, worse test
    c = _fake_run(tmp_path, "c", 3, (0.78, 0.80), (0.77, 0.82))
    other = _fake_run(tmp_path, "other", 1, (0.90, 0.90), (0.60, 0.60), lr=5e-4)
    out = tmp_path / "seeds.json"
    assert main([str(a), str(b), str(c), str(other), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    groups = figures["configurations"]
    assert [g["runs"] for g in groups] == [[str(a), str(b), str(c)], [str(other)]]
    assert groups[0]["chosen_by_dev"] == str(b)
    assert groups[0]["test_unlabelled_f1"]["mean"] == pytest.approx((0.81 + 0.79 + 0.82) / 3)
    assert groups[0]["test_unlabelled_f1"]["sd"] == pytest.approx(0.015275, abs=1e-6)
    assert groups[0]["dev_labelled_f1"]["sd"] == pytest.approx(0.02)
    assert groups[1]["test_labelled_f1"]["sd"] == 0.0
    assert [r["best_epoch"] for r in figures["runs"]] == [2, 2, 2, 2]
    printed = capsys.readouterr().out
    assert f"chosen by dev labelled F1: {b} (seed 2): test 75.00 labelled, 79.00" in printed
    assert "test mean ± sd: labelled 76.00 ± 1.00, unlabelled 80.67 ± 1.53" in printed


def test_seeds_reads_a_real_parser_run(tiny_ptb, tmp_path):
    assert _train(tiny_ptb, tmp_path / "pcfg", "pcfg").returncode == 0
    run = load_parser_run(tmp_path / "pcfg")
    assert run.seed == 1 and run.best_epoch is None
    assert 0 < run.f1["test"]["unlabelled"] <= 1
    assert "out" not in run.settings and run.settings["model"] == "pcfg"


def test_seeds_refuses_unfinished_and_foreign_runs(tmp_path):
    run = _fake_run(tmp_path, "a", 1, (0.8, 0.8), (0.8, 0.8))
    (run / "eval-test.json").unlink()
    with pytest.raises(TreennError, match=r"eval-test.json: missing \(the run has not finished"):
        load_parser_run(run)
    for text, reason in [("{cut off", "not valid JSON"), ("[1, 2]", "not an evaluation"),
                         ('{"labelled": {}}', "not a parser evaluation")]:
        (run / "eval-test.json").write_text(text)
        with pytest.raises(TreennError, match=f"eval-test.json(:1)?: {reason}"):
            load_parser_run(run)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "config.json").write_text(json.dumps({"train": {"task": "sst5",
                                                                     "model": "lstm"}}))
    with pytest.raises(TreennError, match="not a parser run"):
        load_parser_run(tmp_path / "cls")
    (tmp_path / "cls" / "config.json").write_text(json.dumps({"kind": "parser", "train": {}}))
    with pytest.raises(TreennError, match="cls/config.json: not a parser run configuration"):
        load_parser_run(tmp_path / "cls")
    with pytest.raises(TreennError, match="no config.json"):
        load_parser_run(tmp_path)

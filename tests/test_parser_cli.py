"""Parser runs through the command line, on a tiny treebank written by the test."""

import json

import pytest
import torch
from nltk import Tree

from tests.test_training import _assert_one_line_error, _cfg, _cli
from treenn.errors import TreennError
from treenn.parsers.chart import to_tree


def _train(tiny_ptb, out, model, *extra):
    return _cli("train", "--task", "ptb", "--model", model, "--data-dir", tiny_ptb, "--out", out,
                "--h-size", "8", "--x-size", "8", "--seed", "1", *extra)


def _records(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _straight_and_resumed(tiny_ptb, tmp_path, args, epochs, stop):
    """Per-epoch records of a run trained straight for ``epochs`` (``tmp_path / "a"``) and of
    one stopped after ``stop`` epochs, then resumed to ``epochs`` (``tmp_path / "b"``)."""
    model, *options = args
    for out, n, extra in (("a", epochs, options), ("b", stop, options),
                          ("b", epochs, ["--resume"])):
        proc = _train(tiny_ptb, tmp_path / out, model, *extra, "--epochs", str(n))
        assert proc.returncode == 0, proc.stderr
    return _records(tmp_path / "a"), _records(tmp_path / "b")


def test_pcfg_run_parses_and_evaluates(tiny_ptb, tmp_path):
    proc = _train(tiny_ptb, tmp_path / "pcfg", "pcfg")
    assert proc.returncode == 0, proc.stderr
    ev = json.loads((tmp_path / "pcfg" / "eval-test.json").read_text())
    assert set(ev) >= {"labelled", "unlabelled", "sentences", "length<=40"}
    assert torch.load(tmp_path / "pcfg" / "best.pt", weights_only=True)["name"] == "pcfg"
    out = _cli("parse", tmp_path / "pcfg", "--text", "-", stdin="The cat saw a dog.\nIt ran.\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("(S")
    assert "(NN cat)" in lines[0]  # the PCFG predicts tags
    bad = _cli("parse", tmp_path / "pcfg", "--text", "-", stdin="ok\n\n")
    _assert_one_line_error(bad, "<stdin>:2: empty line")

    # the benchmark scores what it times: the PCFG's figure is the one its run recorded
    from treenn.experiments import parser_bench as bench

    assert bench.main([str(tmp_path / "pcfg"), "right-branching", "--data-dir", str(tiny_ptb),
                       "--repeats", "1", "--json", str(tmp_path / "bench.json")]) == 0
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["test_f1"][str(tmp_path / "pcfg")]["labelled"] == ev["labelled"]["f1"]
    assert figures["test_f1"]["right-branching"]["labelled"] == 0  # baselines have no labels
    assert set(figures["sentences_per_second"]) == {str(tmp_path / "pcfg"), "right-branching"}


def test_neural_parser_resumes_to_the_same_result(tiny_ptb, tmp_path):
    a, b = _straight_and_resumed(tiny_ptb, tmp_path, ("rnn-parser", "--beam", "2"), 2, 1)
    assert [r["train_loss"] for r in b] == [r["train_loss"] for r in a]
    # resuming without --epochs keeps the run's own epoch count (nothing left to do)
    idle = _train(tiny_ptb, tmp_path / "b", "rnn-parser", "--resume")
    assert idle.returncode == 0, idle.stderr
    assert len(_records(tmp_path / "b")) == 2
    # the beam is part of the saved model: resuming and parsing use it
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["parser"]["beam"] == 2
    assert torch.load(tmp_path / "b" / "best.pt", weights_only=True)["config"]["beam"] == 2
    _assert_one_line_error(_train(tiny_ptb, tmp_path / "c", "rnn-parser", "--beam", "0"),
                           "argument --beam: 0: give an integer >= 1")
    _assert_one_line_error(_train(tiny_ptb, tmp_path / "d", "bilstm-parser", "--beam", "2"),
                           "--beam is the recursive parser's")

    # the search diagnostic parses as evaluate does and writes nothing into the run
    from treenn.experiments import search

    before = sorted(p.name for p in (tmp_path / "b").iterdir())
    out = tmp_path / "search.json"
    assert search.main([str(tmp_path / "b"), "--data-dir", str(tiny_ptb), "--split", "test",
                        "--beam", "1", "2", "--pairs", "1", "--json", str(out)]) == 0
    rows = {(r["beam"], r["pairs"]): r for r in json.loads(out.read_text())["rows"]}
    assert sorted(rows, key=str) == [(1, 1), (1, None), (2, 1), (2, None)]
    ev = json.loads((tmp_path / "b" / "eval-test.json").read_text())
    assert rows[2, None]["labelled_f1"] == ev["labelled"]["f1"]
    from treenn.data.ptb import load_ptb
    from treenn.parsers.training import load_trained_parser

    parser = load_trained_parser(tmp_path / "b")
    search.search_report(parser, load_ptb(str(tiny_ptb))["test"], beam=1, pairs=1)
    assert (parser.cfg.beam, parser.pairs) == (2, None)  # the parser's own chart afterwards
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == before
    ev = _cli("evaluate", tmp_path / "b", "--split", "test")
    assert ev.returncode == 0 and "labelled: precision" in ev.stdout

    # two rnn-parser runs joined by a comma parse as an ensemble; the ensemble tool scores it
    # next to its members' own eval files and writes nothing into them
    pair = f"{tmp_path / 'a'},{tmp_path / 'b'}"
    out = _cli("parse", pair, "--text", "-", stdin="The cat saw a dog.\nIt ran.\n")
    assert out.returncode == 0, out.stderr
    assert [Tree.fromstring(x).leaves() for x in out.stdout.strip().splitlines()] == [
        ["The", "cat", "saw", "a", "dog", "."], ["It", "ran", "."]]
    from treenn.experiments import ensemble

    before = sorted(p.name for p in (tmp_path / "a").iterdir())
    figures_path = tmp_path / "ensemble.json"
    assert ensemble.main([str(tmp_path / "a"), str(tmp_path / "b"), "--json",
                          str(figures_path)]) == 0
    figures = json.loads(figures_path.read_text())
    test_a = json.loads((tmp_path / "a" / "eval-test.json").read_text())
    assert figures["f1"][str(tmp_path / "a")]["test"]["labelled"] == test_a["labelled"]["f1"]
    assert set(figures["f1"]["ensemble of 2"]) == {"dev", "test"}
    assert figures["chosen_by_dev"] in figures["f1"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == before
    for spec, message in [(f"{tmp_path / 'a'},right-branching",
                           "right-branching: an ensemble is made of rnn-parser runs"),
                          (f"{tmp_path / 'a'},", "an empty entry in the comma-separated list"),
                          (f"{tmp_path / 'a'},{tmp_path / 'a'}", "given twice"),
                          (f"{tmp_path / 'a'},{tmp_path / 'nope'}", "unknown parser")]:
        _assert_one_line_error(_cli("parse", spec, "--text", "-", stdin="It ran.\n"), message)
    with pytest.raises(TreennError, match="two or more rnn-parser runs"):
        ensemble.main([str(tmp_path / "a")])

    # --beam parses with another chart width than the run was trained with (2 here)
    from treenn.data.trees import to_bracketed
    from treenn.parsers.chart_search import chart_decode
    from treenn.parsers.pipeline import load_parser

    text = "The cat saw a dog.\nIt ran.\n"
    narrow = _cli("parse", tmp_path / "b", "--beam", "1", "--text", "-", stdin=text)
    assert narrow.returncode == 0, narrow.stderr
    parser.beam = 1
    assert narrow.stdout.splitlines() == [
        to_bracketed(t) for t in parser.parse_all([["The", "cat", "saw", "a", "dog", "."],
                                                   ["It", "ran", "."]])]
    assert load_parser(pair, beam=3).beam == 3
    members = load_parser(pair, beam=1).members
    assert [m.cfg.beam for m in members] == [2, 2]  # the ensemble's width, not its members'
    with torch.no_grad():
        wide = chart_decode(members, [["It", "ran", "."]], None, 3)
    assert _cli("parse", pair, "--beam", "3", "--text", "-", stdin="It ran.\n").stdout \
        .strip() == to_bracketed(to_tree(["It", "ran", "."], wide[0], members[0].labels))
    _assert_one_line_error(_cli("parse", "right-branching", "--beam", "1", "--text", "-",
                                stdin=text), "right-branching is not an rnn-parser run")
    _assert_one_line_error(_cli("parse", tmp_path / "b", "--beam", "0", "--text", "-",
                                stdin=text), "argument --beam: 0: give an integer >= 1")

    # --pairs composes fewer pairs per split point, in parse as in the chart itself
    fewer = _cli("parse", tmp_path / "b", "--pairs", "1", "--text", "-", stdin=text)
    assert fewer.returncode == 0, fewer.stderr
    parser.beam, parser.pairs = 2, 1
    assert fewer.stdout.splitlines() == [
        to_bracketed(t) for t in parser.parse_all([["The", "cat", "saw", "a", "dog", "."],
                                                   ["It", "ran", "."]])]
    assert load_parser(pair, pairs=3).pairs == 3
    _assert_one_line_error(_cli("parse", "balanced", "--pairs", "2", "--text", "-",
                                stdin=text), "--pairs 2: balanced is not an rnn-parser run")
    _assert_one_line_error(_cli("parse", tmp_path / "b", "--pairs", "0", "--text", "-",
                                stdin=text), "argument --pairs: 0: give an integer >= 1")


def test_sentiment_with_a_trained_parser_and_parser_runs_refused_elsewhere(tiny_ptb, tiny_sst,
                                                                           tmp_path):
    from treenn.training import train

    assert _train(tiny_ptb, tmp_path / "p", "bilstm-parser", "--epochs", "1").returncode == 0
    senti = tmp_path / "s"
    train(_cfg(tiny_sst, senti, epochs=1))
    proc = _cli("predict", senti, "--text", "-", "--parser", tmp_path / "p",
                stdin="The dog saw a cat.\nIt ran fast.\n")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2
    _assert_one_line_error(_cli("predict", senti, "--text", "-", "--parser", tmp_path / "p",
                                "--beam", "2", stdin="It ran.\n"),
                           "is not an rnn-parser run")
    _assert_one_line_error(_cli("predict", senti, "--trees", "-", "--beam", "2",
                                stdin="(2 (2 a) (2 b))\n"), "--beam is for --text")
    _assert_one_line_error(_cli("predict", senti, "--trees", "-", "--pairs", "2",
                                stdin="(2 (2 a) (2 b))\n"), "--pairs is for --text")
    _assert_one_line_error(_cli("predict", tmp_path / "p", "--trees", "-", stdin="(2 a)\n"),
                           "is a parser run")
    _assert_one_line_error(_cli("show", tmp_path / "p", "--trees", "-", stdin="(2 a)\n"),
                           "is a parser run")
    report = _cli("compare", tmp_path / "p", senti, "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr
    assert "a parser run" in (tmp_path / "rep" / "report.md").read_text()


def test_model_and_task_must_fit(tmp_path):
    _assert_one_line_error(_cli("train", "--task", "ptb", "--model", "lstm", "--out", tmp_path),
                           "does not fit --task ptb")
    _assert_one_line_error(_cli("train", "--task", "sst5", "--model", "pcfg", "--out", tmp_path),
                           "does not fit --task sst5")
    # a flag the task does not read is refused, not ignored (nothing is written)
    _assert_one_line_error(_cli("train", "--task", "sst5", "--model", "tree-lstm", "--beam", "2",
                                "--leaves", "bilstm", "--ema", "0.9", "--out", tmp_path / "a"),
                           "--leaves, --beam: not read by --task sst5 (those flags are for "
                           "parsers)")
    _assert_one_line_error(_cli("train", "--task", "ptb", "--model", "rnn-parser", "--device",
                                "cuda", "--out", tmp_path / "b"),
                           "--device: not read by --task ptb (those flags are for classifiers)")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_missing_treebank_is_one_line_error(tmp_path):
    _assert_one_line_error(_cli("train", "--task", "ptb", "--model", "pcfg", "--data-dir",
                                tmp_path, "--out", tmp_path / "r"), "has no corpora/treebank")


def test_crossdomain_scores_parsers_against_sst_trees(tiny_sst, tmp_path):
    from treenn.experiments import crossdomain
    from treenn.training import evaluate_run, train

    senti = tmp_path / "s"
    train(_cfg(tiny_sst, senti, epochs=1))
    out = tmp_path / "cross.json"
    assert crossdomain.main(["right-branching", "left-branching", "--sst-dir", str(tiny_sst),
                             "--sentiment", str(senti), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["sentences"] == 12
    # the gold-tree figure is the run's own test root accuracy
    assert figures["gold_tree_root_accuracy"] == pytest.approx(
        evaluate_run(str(senti), "test")["root"]["accuracy"])
    for row in figures["parsers"].values():
        assert 0 <= row["unlabelled_f1"] <= 1 and 0 <= row["raw_text_root_accuracy"] <= 1
    right, left = (figures["parsers"][p]["unlabelled_f1"]
                   for p in ("right-branching", "left-branching"))
    assert right != left  # on these random gold trees the two baselines score differently
    with pytest.raises(TreennError, match="--pairs 2: right-branching is not an rnn-parser"):
        crossdomain.main(["right-branching", "--pairs", "2", "--sst-dir", str(tiny_sst),
                          "--sentiment", str(senti)])


def test_plateau_schedule_halves_the_rate_and_resumes_through_it(tiny_ptb, tmp_path):
    from treenn.optimisation import should_halve_lr

    # patience 2: epochs 3 and 4 miss the best of epoch 2 -> halve after 4; after 6 again
    assert [e for e in range(1, 8) if should_halve_lr(e, 2, 0, 2)] == [4, 5, 6, 7]
    assert not should_halve_lr(5, 2, 4, 2) and should_halve_lr(6, 2, 4, 2)
    assert not any(should_halve_lr(e, 1, 0, 0) for e in range(1, 8))  # 0: constant rate

    args = ("rnn-parser", "--lr-patience", "1", "--lr", "0.01")
    a, b = _straight_and_resumed(tiny_ptb, tmp_path, args, 5, 3)
    assert [(r["train_loss"], r["lr"]) for r in b] == [(r["train_loss"], r["lr"]) for r in a]
    # the logged rates follow the rule from the logged dev scores
    lr, best, best_epoch, halved_at = 0.01, -1.0, 0, 0
    for r in a:
        assert r["lr"] == pytest.approx(lr)
        if r["dev_labelled_f1"] > best:
            best, best_epoch = r["dev_labelled_f1"], r["epoch"]
        if should_halve_lr(r["epoch"], best_epoch, halved_at, 1):
            lr, halved_at = lr / 2, r["epoch"]
    assert a[-1]["lr"] < 0.01  # the tiny treebank stops improving within five epochs
    _assert_one_line_error(_train(tiny_ptb, tmp_path / "c", "pcfg", "--lr-patience", "2"),
                           "the PCFG has no learning rate")
    _assert_one_line_error(_train(tiny_ptb, tmp_path / "d", "rnn-parser", "--lr-patience", "-1"),
                           "argument --lr-patience: -1: give an integer >= 0")


def test_a_damaged_run_config_is_a_one_line_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"kind": "parser",\n "train": \n')
    for command in (("evaluate", run), ("parse", run, "--text", "-"),
                    ("predict", run, "--text", "-")):
        _assert_one_line_error(_cli(*command, stdin="a b\n"),
                               f"{run / 'config.json'}:3: not valid JSON")


def test_weight_averaged_run_saves_the_average_and_resumes_exactly(tiny_ptb, tmp_path):
    a, b = _straight_and_resumed(tiny_ptb, tmp_path, ("rnn-parser", "--ema", "0.9", "--lr",
                                                      "0.01"), 3, 2)
    timing = ("train_time_s", "eval_time_s")  # everything else is the same, epoch by epoch
    assert [{k: v for k, v in r.items() if k not in timing} for r in b] == \
        [{k: v for k, v in r.items() if k not in timing} for r in a]
    assert {"dev_labelled_f1_raw", "dev_unlabelled_f1_raw"} <= set(a[0])
    last = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    assert last["ema_steps"] > 0
    raw, averaged = last["train_state_dict"], last["state_dict"]
    assert not torch.equal(raw["mlp.0.weight"], averaged["mlp.0.weight"])
    # what is evaluated, chosen and saved is the average: the best epoch's logged dev score
    # is what its checkpoint scores again at the end
    best = max(a, key=lambda r: r["dev_labelled_f1"])
    ev = json.loads((tmp_path / "a" / "eval-dev.json").read_text())
    assert ev["labelled"]["f1"] == best["dev_labelled_f1"]
    _assert_one_line_error(_train(tiny_ptb, tmp_path / "c", "rnn-parser", "--ema", "1"),
                           "argument --ema: 1.0: give a number in [0, 1)")
    _assert_one_line_error(_train(tiny_ptb, tmp_path / "d", "pcfg", "--ema", "0.9"),
                           "the PCFG has no weights to average")

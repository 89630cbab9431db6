"""``train.py compare``: statistics on hand-checkable cases, skip logic, report contents, grid."""

import json

import numpy as np
import pytest

from treenn.metrics import Scores
from treenn.report import (
    Comparison,
    bucket_accuracy,
    bucket_edges,
    bucket_labels,
    build_report,
    collect_runs,
    format_p,
    group_runs,
    mcnemar_exact,
    mean_std,
    paired_bootstrap,
    write_report,
)


def fake_run(path, task="sst5", model="tree-lstm", seed=1, gold=(0, 1), pred=(0, 1),
             epochs=2, config_epochs=None, length=None, height=None, seconds=2.0,
             parameters=1000, group=None, **train):
    """A run directory as training leaves it, with chosen per-sentence predictions."""
    from treenn.data.tasks import get_task

    k = get_task(task).n_classes
    path.mkdir(parents=True)
    train_cfg = {"task": task, "model": model, "seed": seed, "out": str(path),
                 "epochs": epochs if config_epochs is None else config_epochs, "x_size": 8,
                 "h_size": 8, "lr": 0.05, "embeddings": None, "seq_train": "phrases", **train}
    config = {"train": train_cfg, "model": {"model": model, "layers": 1,
                                            "bidirectional": model == "bilstm"},
              "parameters": parameters, "sizes": {"test": len(gold)}}
    (path / "config.json").write_text(json.dumps(config))
    (path / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e, "train_loss": 2.0 / e, "train_time_s": seconds,
                    "dev_root_acc": 0.3 + 0.05 * e, "dev_all_acc": 0.5, "eval_time_s": 0.1})
        + "\n" for e in range(1, epochs + 1)))
    n = len(gold)
    scores = Scores.from_predictions(gold, pred, k).to_dict()
    result = {"task": task, "split": "test", "root": scores, "all": scores,
              "per_sentence": {"length": list(length or [5] * n),
                               "height": list(height or [3] * n),
                               "gold": list(gold), "pred": list(pred)}}
    if group is not None:
        result["per_sentence"]["group"] = list(group)
    if task == "sst5":
        polar = [(g > 2, p > 2) for g, p in zip(gold, pred, strict=True) if g != 2]
        c = Scores.from_predictions([int(g) for g, _ in polar], [int(p) for _, p in polar],
                                    2).to_dict()
        result["collapsed"] = {"root": c, "all": c}
    (path / "eval-test.json").write_text(json.dumps(result))
    return path


# ----------------------------------------------------------------------------- statistics


def test_mcnemar_exact_matches_hand_computed_binomial_tails():
    assert mcnemar_exact(0, 5) == 2 / 32
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(7, 2) == mcnemar_exact(2, 7) == pytest.approx(2 * (1 + 9 + 36) / 512)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert 0 < mcnemar_exact(0, 2000) < 1e-300 or mcnemar_exact(0, 2000) == 0.0


def test_paired_bootstrap_on_hand_checkable_cases():
    assert paired_bootstrap([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)
    assert paired_bootstrap([1] * 10, [0] * 10) == (1.0, 1.0, 1.0)
    # 50 of 100 differences are 1: mean 0.5, standard error 0.05, so about [0.40, 0.60].
    diff, low, high = paired_bootstrap([1] * 50 + [0] * 50, [0] * 100)
    assert diff == 0.5
    assert low == pytest.approx(0.40, abs=0.015) and high == pytest.approx(0.60, abs=0.015)
    # a fixed seed: the same interval every time
    a, b = np.random.default_rng(5).integers(0, 2, (2, 37))
    assert paired_bootstrap(a, b, n_boot=300) == paired_bootstrap(a, b, n_boot=300)
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_mean_std_buckets_and_p_values():
    assert mean_std([0.5]) == (0.5, 0.0)
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    lengths = np.array([1, 3, 9, 10, 11, 19, 25, 26, 40] * 3)
    edges = bucket_edges(lengths, min_count=1)
    assert edges == [1, 11, 21, 31]
    assert bucket_labels(edges, 40) == ["1\u201310", "11\u201320", "21\u201330", "31+"]
    correct = (lengths < 20).astype(float)
    accs, counts = bucket_accuracy(correct, lengths, edges)
    assert counts == [12, 6, 6, 3] and accs == [1.0, 1.0, 0.0, 0.0]
    # the width fits all but the min_count largest values: the last bucket holds them
    assert bucket_edges(lengths, min_count=4) == [1, 6, 11, 16, 21, 26]
    assert bucket_edges(lengths, min_count=0) == bucket_edges(lengths, min_count=1)
    long_tail = np.array([*range(1, 41)] * 50 + [300, 700, 1200])
    assert bucket_edges(long_tail) == [1, 11, 21, 31]
    assert bucket_accuracy(np.ones(len(long_tail)), long_tail, [1, 11, 21, 31])[1][-1] == 503
    assert (format_p(0.0004), format_p(0.021), format_p(0.312)) == (
        "p < 0.001", "p = 0.021", "p = 0.31")


def test_comparison_is_stated_in_words():
    kw = dict(task_key="sst5", tree="Tree-LSTM", sequence="BiLSTM", n=2210, seeds=1,
              pairs=1)
    win = Comparison(diff=0.013, low=0.002, high=0.024, p=0.02, significant=1, **kw)
    assert win.sentence() == ("Tree-LSTM beats BiLSTM by 1.3 points, 95% CI [0.2, 2.4], "
                              "McNemar p = 0.02.")
    tie = Comparison(diff=0.004, low=-0.006, high=0.014, p=0.4, significant=0, **kw)
    assert tie.sentence().startswith("Tree-LSTM does not significantly beat BiLSTM "
                                     "(difference +0.4 points, 95% CI [-0.6, 1.4]")
    loss = Comparison(diff=-0.03, low=-0.05, high=-0.01, p=0.001, significant=-1,
                      **{**kw, "pairs": 3})
    assert loss.sentence() == ("Tree-LSTM is beaten by BiLSTM by 3.0 points, 95% CI "
                               "[-5.0, -1.0], McNemar p = 0.001, the largest over 3 seed pairs.")
    tie3 = Comparison(diff=0.004, low=-0.006, high=0.014, p=0.4, significant=0,
                      **{**kw, "pairs": 3}).sentence()
    assert tie3.endswith("McNemar p = 0.40, the largest over 3 seed pairs).")
    assert tie3.count("(") == tie3.count(")") == 1


# ----------------------------------------------------------------------------- runs


GOLD20 = [0] * 20
TREE20 = [0] * 15 + [1] * 5            # right on sentences 0-14
SEQ20 = [0] * 8 + [1] * 7 + [0] * 2 + [1] * 3  # right on 0-7 and 15-16


def test_paired_test_on_a_hand_checkable_pair(tmp_path):
    runs, skipped = collect_runs([fake_run(tmp_path / "t", gold=GOLD20, pred=TREE20),
                                  fake_run(tmp_path / "s", model="lstm", gold=GOLD20,
                                           pred=SEQ20)])
    assert not skipped
    _, comparisons = build_report(runs, [], plots=False)
    (c,) = comparisons
    # tree right & lstm wrong: 7 sentences (8-14); lstm right & tree wrong: 2 (15, 16)
    assert c.diff == pytest.approx(0.25) and c.n == 20
    assert c.p == pytest.approx(2 * (1 + 9 + 36) / 512)
    assert c.significant == 0 and c.low < 0.25 < c.high
    assert c.sentence().startswith("Tree-LSTM does not significantly beat LSTM "
                                   "(difference +25.0 points")


def test_unfinished_and_foreign_runs_are_skipped_with_reasons(tmp_path):
    good = fake_run(tmp_path / "good")
    fake_run(tmp_path / "short", epochs=2, config_epochs=3)
    no_eval = fake_run(tmp_path / "noeval")
    (no_eval / "eval-test.json").unlink()
    old = fake_run(tmp_path / "old")
    ev = json.loads((old / "eval-test.json").read_text())
    del ev["per_sentence"]
    (old / "eval-test.json").write_text(json.dumps(ev))
    (tmp_path / "empty").mkdir()
    runs, skipped = collect_runs([good, tmp_path / "short", no_eval, old, tmp_path / "empty",
                                  tmp_path / "missing", good])
    assert [r.path for r in runs] == [good]  # the duplicate is read once
    reasons = dict(skipped)
    assert reasons[str(tmp_path / "short")] == "unfinished: metrics.jsonl has 2 of 3 epochs"
    assert reasons[str(no_eval)].startswith("unfinished: no eval-test.json")
    assert "no per-sentence results" in reasons[str(old)]
    assert reasons[str(tmp_path / "empty")] == "not a run directory (no config.json)"
    assert reasons[str(tmp_path / "missing")] == "no such directory"
    # a folder of runs stands for the runs inside it
    runs, skipped = collect_runs([tmp_path])
    assert len(runs) == 1 and len(skipped) == 3


def test_listops_report_gives_accuracy_by_root_operator(tmp_path):
    gold, group = (0, 1, 2, 3, 4, 5), ("SM", "SM", "MAX", "MAX", "MAX", "digit")
    a = fake_run(tmp_path / "a", task="listops", gold=gold, pred=(0, 9, 2, 9, 9, 5), group=group)
    b = fake_run(tmp_path / "b", task="listops", seed=2, gold=gold, pred=(9, 9, 2, 3, 9, 5),
                 group=group)
    lstm = fake_run(tmp_path / "l", task="listops", model="lstm", gold=gold, pred=gold,
                    group=group)
    bad = fake_run(tmp_path / "bad", task="listops", seed=3, gold=gold, pred=gold,
                   group=group[:5])
    older = fake_run(tmp_path / "old", task="listops", model="gru", gold=gold, pred=gold)
    runs, skipped = collect_runs([a, b, lstm, bad])
    assert [p for p, _ in skipped] == [str(bad)]
    assert "per_sentence.group is not a list of strings" in skipped[0][1]
    md = build_report(runs, skipped, plots=False)[0].markdown()
    section = md[md.index("### Root accuracy by root operator"):]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0] == "| root operator \u2192 | MAX | SM | digit |"
    assert lines[2] == "| sentences | 3 | 2 | 1 |"
    # seeds averaged per sentence: MAX (1 + 1/2 + 0) / 3, SM (1/2 + 0) / 2
    assert lines[3] == "| Tree-LSTM | 50.0 | 25.0 | 100.0 |"
    assert lines[4] == "| LSTM | 100.0 | 100.0 | 100.0 |"
    # a run evaluated before groups existed: the table is left out, not made up
    runs, _ = collect_runs([a, older])
    assert "by root operator" not in build_report(runs, [], plots=False)[0].markdown()


@pytest.fixture
def mixed_runs(tmp_path):
    """sst5: Tree-LSTM, LSTM and BiLSTM (2 seeds each); sst2: one Tree-LSTM; one sst5 LSTM on
    another test set; one unfinished run."""
    rng = np.random.default_rng(0)
    n = 60
    gold = rng.integers(0, 5, n).tolist()
    length = rng.integers(1, 50, n).tolist()
    height = rng.integers(2, 20, n).tolist()

    def noisy(p_right, seed):
        r = np.random.default_rng(seed)
        return [g if r.random() < p_right else (g + 1) % 5 for g in gold]

    paths = []
    for k, (model, p_right) in enumerate((("tree-lstm", 0.9), ("lstm", 0.4), ("bilstm", 0.5))):
        for seed in (1, 2):
            paths.append(fake_run(tmp_path / f"sst5-{model}-s{seed}", model=model, seed=seed,
                                  gold=gold, pred=noisy(p_right, 10 * k + seed),
                                  length=length, height=height,
                                  seconds=10.0 if model == "tree-lstm" else 3.0,
                                  parameters=5000 if model == "tree-lstm" else 4000))
    paths.append(fake_run(tmp_path / "sst2-tree-lstm-s1", task="sst2", gold=[0, 1, 1, 0],
                          pred=[0, 1, 0, 0]))
    paths.append(fake_run(tmp_path / "other-test-lstm", model="lstm", gold=[1, 2, 3],
                          pred=[1, 2, 3]))
    paths.append(fake_run(tmp_path / "cut", model="gru", epochs=1, config_epochs=5))
    return paths


def test_report_tables_never_mix_tasks_or_test_sets(mixed_runs):
    runs, skipped = collect_runs(mixed_runs)
    groups, notes = group_runs(runs)
    assert [(g.task_key, g.label, len(g.runs)) for g in groups] == [
        ("sst2", "Tree-LSTM", 1),
        ("sst5 (test set 1)", "Tree-LSTM", 2),
        ("sst5 (test set 1)", "BiLSTM", 2),
        ("sst5 (test set 1)", "LSTM", 2),
        ("sst5 (test set 2)", "LSTM", 1),
    ]
    assert all(len({r.task for r in g.runs}) == 1 for g in groups)
    assert len(notes) == 1 and "2 different test sets" in notes[0]
    rep, comparisons = build_report(runs, skipped, n_boot=2000)
    # Only the Tree-LSTM of test set 1 is paired, with the better of LSTM and BiLSTM.
    assert [(c.task_key, c.tree, c.sequence, c.n, c.pairs) for c in comparisons] == [
        ("sst5 (test set 1)", "Tree-LSTM", "BiLSTM", 60, 2)]
    c = comparisons[0]
    tree = np.mean([r.sentences["correct"] for r in groups[1].runs], axis=0)
    seq = np.mean([r.sentences["correct"] for r in groups[2].runs], axis=0)
    assert c.diff == pytest.approx(tree.mean() - seq.mean())
    assert c.significant == 1 and c.sentence().startswith("Tree-LSTM beats BiLSTM by ")
    md = rep.markdown()
    assert "sst2: no sequence model to compare against." in md
    assert "sst5 (test set 2): no tree model to compare against." in md
    assert f"skipped {mixed_runs[-1]}: unfinished: metrics.jsonl has 1 of 5 epochs" in md


def test_report_holds_every_section(mixed_runs, tmp_path):
    pytest.importorskip("matplotlib")
    runs, skipped = collect_runs(mixed_runs)
    rep, _ = build_report(runs, skipped, n_boot=500)
    md_path, html_path = write_report(rep, tmp_path / "report")
    md = md_path.read_text()
    summary = md[md.index("## Summary"):md.index("## Significance")]
    header = [line for line in summary.splitlines() if line.startswith("| task")][0]
    for column in ("root acc", "all-phrase acc", "binary root", "binary all", "s/epoch",
                   "parameters"):
        assert column in header
    tree_row = [line for line in summary.splitlines()
                if line.startswith("| sst5 (test set 1) | Tree-LSTM |")][0]
    cells = [c.strip() for c in tree_row.strip("|").split("|")]
    accs = [r.test["root"]["accuracy"] for r in runs if r.label == "Tree-LSTM"
            and r.task == "sst5"]
    assert cells[4] == f"{100 * np.mean(accs):.2f} \u00b1 {100 * np.std(accs, ddof=1):.2f}"
    assert cells[8] == "10.00 \u00b1 0.00" and cells[9] == "5,000"
    assert "\u00b1" in cells[6]  # binary (collapsed) accuracy, sst5 only
    sst2_row = [line for line in summary.splitlines() if line.startswith("| sst2 |")][0]
    assert "\u2013" in sst2_row  # no binary column for sst2
    for heading in ("### Root accuracy by length", "### Root accuracy by depth",
                    "### Confusion matrices", "### Learning curves", "## Runs",
                    "## Skipped and notes"):
        assert heading in md
    assert "| gold \\ predicted | very negative |" in md
    plots = sorted(p.name for p in (tmp_path / "report" / "plots").iterdir())
    assert "sst5-test-set-1-by-length.svg" in plots and "sst2-curves.svg" in plots
    for name in plots:
        assert f"](plots/{name})" in md
    page = html_path.read_text()
    assert page.count('<figure class="plot"') == len(plots)
    assert page.count("<svg") == len(plots) and "<?xml" not in page
    for needle in ("https://", "src=", "<link", "@import"):
        assert needle not in page
    assert "Tree-LSTM beats BiLSTM by" in page



def test_report_page_carries_its_package_data_style_and_script():
    from treenn.report.document import Report
    from treenn.report.html import static_text

    css, js = static_text("report.css"), static_text("report.js")
    assert "td.num" in css and "dataset.ready = '1'" in js  # the files, read as package data
    rep = Report()
    rep.add("h2", "Summary")
    rep.add("table", ["model", "root acc"], [["LSTM", "45.00 \u00b1 1.00"]])
    page = rep.html("t")
    assert f"<style>\n{css}</style>" in page and f"<script>\n{js}</script>" in page
    assert '<h2 id="sec1">Summary</h2>' in page
    assert '<td class="num">45.00 \u00b1 1.00</td>' in page


def _main(*args):
    from treenn.cli import main

    return main(["-q", *map(str, args)])


def test_cli_compare_prints_the_table_and_what_it_skipped(mixed_runs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert _main("compare", *mixed_runs, "--out", tmp_path / "r", "--bootstrap", 500) == 0
    out = capsys.readouterr().out
    assert f"skipped {mixed_runs[-1]}: unfinished" in out
    assert "sst5 (test set 1): Tree-LSTM beats BiLSTM by" in out
    assert (tmp_path / "r" / "report.html").is_file()
    assert _main("compare", mixed_runs[-1], "--out", tmp_path / "r2") == 2
    assert "no finished runs" in capsys.readouterr().err
    assert _main("compare", "--tasks", "sst5", "--out", tmp_path / "r3") == 2
    assert "needs both --tasks and --models" in capsys.readouterr().err
    assert _main("compare", "--tasks", "sst9", "--models", "lstm", "--out", tmp_path / "r3") == 2
    assert "unknown task sst9" in capsys.readouterr().err


def test_grid_trains_then_reuses_finished_and_resumes_interrupted_runs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from tests.test_show import make_tiny_sst, train_tiny

    data = make_tiny_sst(tmp_path / "sst", n=(20, 6, 6))
    out = tmp_path / "grid"
    # An earlier, shorter run of the grid's LSTM: it gets resumed to the requested 2 epochs.
    train_tiny(data, out / "runs" / "sst5-lstm-s1", model="lstm", epochs=1, seed=1)
    grid = ["compare", "--tasks", "sst5", "--models", "tree-lstm,lstm", "--seeds", "1",
            "--epochs", "2", "--data-dir", data, "--x-size", "8", "--h-size", "8",
            "--batch-size", "8", "--threads", "1", "--bootstrap", "200", "--out", out]
    assert _main(*grid) == 0
    printed = capsys.readouterr().out
    assert "sst5 tree-lstm seed 1: training" in printed
    assert "sst5 lstm seed 1: resuming" in printed
    for name in ("sst5-tree-lstm-s1", "sst5-lstm-s1"):
        lines = (out / "runs" / name / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert "Tree-LSTM" in printed and "LSTM" in printed
    stamp = (out / "runs" / "sst5-tree-lstm-s1" / "best.pt").stat().st_mtime_ns
    assert _main(*grid) == 0
    assert capsys.readouterr().out.count("finished, reused") == 2
    assert (out / "runs" / "sst5-tree-lstm-s1" / "best.pt").stat().st_mtime_ns == stamp
    # other settings than the finished run's: refused rather than silently mixed
    assert _main(*[a if a != "8" else "16" for a in grid]) == 2
    assert "was trained with" in capsys.readouterr().err

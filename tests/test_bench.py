"""The engine benchmark runs end to end on a tiny dataset and reports what it promises."""

import json

from treenn.experiments import bench


def test_engine_benchmark_reports_ratios_memory_and_heights(tiny_sst, tmp_path):
    out = tmp_path / "bench.json"
    # two threads: the memory probe once hung in a fork of a multi-threaded process
    assert bench.main(["--data-dir", str(tiny_sst), "--threads", "2", "--repeats", "1",
                       "--height-trees", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert {"train_speedup", "infer_speedup", "fast_over_lstm_epoch"} <= set(figures)
    new = ("train_speedup_vs_dgl_example", "infer_speedup_vs_dgl_example", "train_over_floor",
           "infer_over_floor", "dgl_example_epoch_seconds")
    for key in new:
        assert isinstance(figures[key], float) and figures[key] > 0, key
    rows = figures["engines"]["rows"]
    assert set(rows) == {"dgl-example", "dgl", "fast", "lstm", "floor"}
    for name, row in rows.items():
        for mode in ("train", "infer"):
            assert row[mode]["trees_per_s"] > 0
            assert row[mode]["peak_mb"] is None if name == "floor" else row[mode]["peak_mb"] >= 0
    train = {name: rows[name]["train"]["seconds"] for name in rows}
    assert figures["train_speedup"] == train["dgl"] / train["fast"]
    assert figures["floor_train_speedup"] == train["dgl"] / train["floor"]
    assert figures["train_speedup_vs_dgl_example"] == train["dgl-example"] / train["fast"]
    assert figures["train_over_floor"] == train["fast"] / train["floor"]
    assert rows["floor"]["infer"]["gflop_per_s"] > 0
    assert [r["height"] for r in figures["heights"] if r["shape"] == "chain"][-1] == 1024
    assert figures["long_chain"]["nodes"] == 10001 and figures["long_chain"]["grad_finite"]


def test_engine_trials_time_every_phase_and_each_variant_computes_the_same_states(
        tiny_sst, tmp_path, capsys):
    from treenn.experiments import engine_trials

    out = tmp_path / "trials.json"
    assert engine_trials.main(["--data-dir", str(tiny_sst), "--repeats", "1", "--threads", "1",
                               "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures["phases_seconds"]) == set(engine_trials.PHASES)
    assert all(v > 0 for v in figures["phases_seconds"].values())
    trials = figures["level_trials"]
    assert trials["engine"]["max_abs_diff"] == 0
    assert trials["no pointwise step (bound)"]["max_abs_diff"] is None  # wrong by design
    for name, row in trials.items():  # torch.compile may be unavailable: then it says why
        if "error" in row:
            assert row["error"], name
        elif row["max_abs_diff"] is not None:
            assert row["max_abs_diff"] < 1e-5, name
    assert "total / floor" in capsys.readouterr().out

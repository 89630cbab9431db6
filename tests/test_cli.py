"""The command line's own behaviour: what runs without a command, and the hints it prints."""

import sys
from pathlib import Path

import pytest
import torch

from treenn import cli, demo


def test_global_options_alone_run_the_demo_with_them(monkeypatch):
    seen = []
    monkeypatch.setitem(cli.COMMANDS, "demo", lambda args: seen.append(args) or 0)
    assert cli.main(["-q"]) == 0
    assert cli.main([]) == 0
    assert [a.quiet for a in seen] == [True, False]
    assert all(a.command == "demo" and a.out == "runs/demo" for a in seen)


def test_hints_name_the_script_next_to_this_python(monkeypatch, tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "treenn").write_text("#!/bin/sh\n")
    (bin_dir / "treenn").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert demo.command_name() == "venv/bin/treenn"
    monkeypatch.setenv("PATH", str(bin_dir))
    assert demo.command_name() == "treenn"


@pytest.mark.parametrize("command", ["evaluate", "predict", "show", "parse"])
def test_threads_of_the_commands_that_run_a_model_are_set_before_they_run(command, monkeypatch,
                                                                         capsys):
    """A model run by evaluate/predict/show/parse on a busy machine needs --threads: torch's
    default of one thread per core ran evaluate about 40 times slower beside two jobs."""
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    monkeypatch.setitem(cli.COMMANDS, command, lambda args: seen.append(command) or 0)
    source = {"evaluate": [], "parse": ["--text", "-"]}.get(command, ["--trees", "-"])
    assert cli.main([command, "RUN", *source, "--threads", "3"]) == 0
    assert seen == [3, command]
    seen.clear()
    assert cli.main([command, "RUN", *source]) == 0  # without it: torch's own choice
    assert seen == [command]
    assert cli.main([command, "RUN", *source, "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_train_flags_come_from_the_configs_with_help_and_ranges():
    from dataclasses import fields

    from treenn.arguments import config_flags
    from treenn.parsers.training import ParserTrainConfig
    from treenn.training import TrainConfig

    configs = cli._train_configs()
    flags = config_flags(configs)
    assert {"--lr", "--ema", "--clip", "--lr-patience", "--beam", "--x-size"} <= set(flags)
    assert set(flags["--x-size"]) == {"classifiers", "parsers"}  # one flag, two fields
    assert flags["--x-size"]["parsers"].name == "word_dim"
    assert all(f.metadata["help"] for owners in flags.values() for f in owners.values())
    hidden = {f.name for cls in (TrainConfig, ParserTrainConfig) for f in fields(cls)
              if not f.metadata.get("cli", True)}
    assert {"task", "model", "out", "progress", "listops"} <= hidden


def test_a_flag_the_task_does_not_read_is_refused(tmp_path, capsys):
    for argv, needle in [
        (["--task", "sst5", "--model", "lstm", "--listops-train", "5"],
         "--listops-train: not read by --task sst5 (those flags are for listops)"),
        (["--task", "ptb", "--model", "pcfg", "--engine", "dgl"],
         "--engine: not read by --task ptb (those flags are for classifiers)"),
        (["--task", "sst5", "--model", "tree-lstm", "--bidirectional"],
         "--bidirectional: read by sequence models only, not by --model tree-lstm"),
        (["--task", "listops", "--model", "gru", "--engine", "dgl"],
         "--engine: read by tree models only, not by --model gru"),
    ]:
        assert cli.main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    # compare's grid: the generator flags without a listops task
    assert cli.main(["compare", "--tasks", "sst5", "--models", "lstm", "--listops-depth", "3",
                     "--out", str(tmp_path / "g")]) == 2
    assert "--listops-depth: not read by --tasks sst5" in capsys.readouterr().err


def test_the_python_api_checks_the_same_ranges(tmp_path):
    import pytest

    import treenn

    with pytest.raises(treenn.TreennError, match="--dropout 1.5: give a number in"):
        treenn.train("listops", "lstm", tmp_path / "r", dropout=1.5)
    assert not (tmp_path / "r").exists()  # nothing written for a refused setting


def test_an_internal_error_is_one_line_and_status_1_unless_debug(monkeypatch, capsys):
    import pytest

    def broken(args):
        raise RuntimeError("something\nunforeseen")

    monkeypatch.setitem(cli.COMMANDS, "demo", broken)
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: internal error: RuntimeError: something unforeseen (rerun with "
                   "--debug for the traceback)"]
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "demo"])


def test_input_text_is_decoded_in_one_place(tmp_path, capsys):
    from treenn.data.trees import read_tree_file

    good = tmp_path / "good.txt"
    good.write_bytes(b"\xef\xbb\xbf(3 (2 a) (3 b))\r\n(1 c)\r\n")  # BOM and CRLF: accepted
    assert [t.leaves() for t in read_tree_file(good)] == [["a", "b"], ["c"]]
    cases = {b"It ran.\nCaf\xe9 ouvert.\n": "2: not UTF-8 text (byte 0xe9 at column 4)",
             b"It ran.\nbin\x00ary\n": "2: a NUL byte at column 4"}
    for raw, needle in cases.items():
        bad = tmp_path / "bad.txt"
        bad.write_bytes(raw)
        assert cli.main(["parse", "right-branching", "--text", str(bad)]) == 2
        out = capsys.readouterr()
        assert out.err.strip() == f"error: {bad}:{needle}" or needle in out.err
        assert len(out.err.strip().splitlines()) == 1
    assert cli.main(["parse", "right-branching", "--text", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def _error_line(capsys) -> str:
    """The one line a refused command printed on standard error."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_resume_takes_task_model_and_settings_from_the_run(tiny_sst, tmp_path, capsys):
    import json

    run = tmp_path / "run"
    tiny = ["--data-dir", str(tiny_sst), "--x-size", "8", "--h-size", "8", "--threads", "1"]
    assert cli.main(["-q", "train", "--task", "sst5", "--model", "lstm", "--out", str(run),
                     "--epochs", "1", *tiny]) == 0
    assert cli.main(["-q", "train", "--resume", "--out", str(run), "--epochs", "2"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    # the original command with --resume works; anything else the run was not is refused
    assert cli.main(["-q", "train", "--resume", "--task", "sst5", "--model", "lstm", "--out",
                     str(run), "--epochs", "2", *tiny]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for extra, needle in [(["--task", "sst2"], "--task sst2: "),
                          (["--model", "gru"], "--model gru: "),
                          (["--lr", "0.5"], "--lr 0.5 (the run's: 0.05)")]:
        assert cli.main(["-q", "train", "--resume", "--out", str(run), *extra]) == 2
        assert needle in _error_line(capsys)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "holds no run to resume" in _error_line(capsys)
    assert cli.main(["train", "--task", "sst5", "--out", str(tmp_path / "new")]) == 2
    assert "required: --model (unless --resume" in _error_line(capsys)


def test_resume_of_a_parser_run_knows_its_task(tiny_ptb, tmp_path, capsys):
    run = tmp_path / "pcfg"
    assert cli.main(["-q", "train", "--task", "ptb", "--model", "pcfg", "--data-dir",
                     str(tiny_ptb), "--out", str(run)]) == 0
    capsys.readouterr()
    assert cli.main(["-q", "train", "--resume", "--out", str(run), "--task", "sst5"]) == 2
    assert "is a --task ptb run" in _error_line(capsys)


def test_output_paths_are_checked_before_any_work(tmp_path, monkeypatch, capsys):
    import os

    a_file, a_dir = tmp_path / "file", tmp_path / "dir"
    a_file.write_text("keep me\n")
    a_dir.mkdir()
    trees = ["--trees", str(a_file)]
    for argv, needle in [
        (["train", "--task", "sst5", "--model", "lstm", "--out", str(a_file)],
         "argument --out: " + f"{a_file}: is a file, not a folder"),
        (["train", "--task", "sst5", "--model", "lstm", "--out", str(a_file / "run")],
         f"{a_file} is a file, not a folder"),
        (["show", "RUN", *trees, "--out", str(a_dir)], "is a folder; give a file name"),
        (["show", "RUN", *trees, "--out", str(tmp_path / "no" / "t.html")],
         f"no such folder {tmp_path / 'no'}"),
        (["compare", "RUN", "--out", str(a_file)], "is a file, not a folder"),
        (["demo", "--out", str(a_file)], "is a file, not a folder"),
    ]:
        assert cli.main(argv) == 2
        assert needle in _error_line(capsys)
    assert a_file.read_text() == "keep me\n"
    if Path("/proc").is_dir():  # permissions allow it (root), writing does not
        assert cli.main(["show", "RUN", *trees, "--out", "/proc/t.html"]) == 2
        assert "/proc/t.html: cannot write in /proc" in _error_line(capsys)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anywhere
    assert cli.main(["train", "--task", "sst5", "--model", "lstm",
                     "--out", str(tmp_path / "new")]) == 2
    assert f"no permission to write in {tmp_path}" in _error_line(capsys)
    assert cli.main(["evaluate", str(a_dir)]) == 2
    assert "no permission to write eval-dev.json there" in _error_line(capsys)


def test_refused_input_is_one_line_without_the_set_up_lines_before_it(tiny_sst, tmp_path):
    import subprocess

    from treenn.training import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(task="sst5", model="lstm", out=str(run), data_dir=str(tiny_sst),
                      epochs=1, x_size=4, h_size=4, progress=False, threads=1))
    command = [sys.executable, "-m", "treenn.cli", "-q", "evaluate", str(run), "--split", "x"]
    quiet = subprocess.run(command, capture_output=True, text=True)
    assert quiet.returncode == 2
    lines = quiet.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'x'" in lines[0], lines
    verbose = subprocess.run([*command[:3], "-v", *command[3:]], capture_output=True,
                             text=True)
    assert verbose.returncode == 2 and "INFO treenn.datasets: sst5:" in verbose.stderr

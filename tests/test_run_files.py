"""Run files through the command line (issue 19): a finished run is never changed by a command
that must not change it, every damaged run file is one ``error:`` line naming the file with
exit status 2, evaluations of other data never pass for the run's own, and stale ``*.tmp``
files of a killed write are ignored and cleaned."""

import hashlib
import json
import os
import shutil

import pytest
import torch

from treenn import cli
from treenn.errors import TreennError
from treenn.training import evaluate_run


@pytest.fixture
def finished(finished_sst_run):
    return finished_sst_run


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


@pytest.fixture
def other_data(tiny_sst, tmp_path):
    """The same SST folder but for a shorter test file: other data."""
    folder = tmp_path / "other"
    shutil.copytree(tiny_sst, folder)
    lines = (tiny_sst / "test.txt").read_text().splitlines()
    (folder / "test.txt").write_text("\n".join(lines[:5]) + "\n")
    return folder


def _checksums(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _cli(capsys, *argv):
    status = cli.main(["-q", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def _one_error_line(status, err, *needles):
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_finished_run_is_never_changed_by_train_evaluate_elsewhere_or_failed_commands(
        run, tiny_sst, other_data, capsys):
    before = _checksums(run)
    status, _, err = _cli(capsys, "train", "--task", "sst5", "--model", "tree-lstm", "--out",
                          run, "--data-dir", tiny_sst, "--x-size", "8", "--h-size", "8")
    _one_error_line(status, err, "already holds a run")
    for flags in (["--task", "listops", "--model", "lstm"], ["--model", "lstm"]):
        status, _, err = _cli(capsys, "train", "--resume", "--out", run, *flags)
        _one_error_line(status, err, "--resume")
    status, _, err = _cli(capsys, "evaluate", run, "--checkpoint", "middle")  # a usage error
    assert status == 2 and "middle" in err
    status, _, err = _cli(capsys, "evaluate", run, "--split", "nosuch")
    _one_error_line(status, err, "'nosuch'")
    junk = run.parent / "junk.txt"
    junk.write_text("(3 (2 a) (2 b)\n")
    status, _, err = _cli(capsys, "predict", run, "--trees", junk)
    _one_error_line(status, err, "junk.txt:1")
    # scoring other data writes beside the run's evaluation, under a name that says so
    status, _, _ = _cli(capsys, "evaluate", run, "--split", "test", "--data-dir", other_data)
    assert status == 0
    after = _checksums(run)
    assert {k: after[k] for k in before} == before
    [foreign] = set(after) - set(before)
    assert foreign.startswith("eval-test@") and foreign.endswith(".json")
    result = json.loads((run / foreign).read_text())
    assert result["source"]["own"] is False and result["root"]["n"] == 5
    assert result["source"]["data_dir"] == str(other_data.resolve())
    # compare takes the run's own evaluation, not the one of other data
    from treenn.report import collect_runs

    [info], skipped = collect_runs([run])
    assert not skipped and info.test["root"]["n"] == 12 and set(info.evals) == {"dev", "test"}


def test_evaluations_record_what_they_scored(run, tiny_sst):
    own = json.loads((run / "eval-test.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert own["source"] == {"data_dir": str(tiny_sst.resolve()), "own": True,
                             "fingerprint": config["data"]["fingerprints"]["test"]}
    best = hashlib.sha256((run / "best.pt").read_bytes()).hexdigest()
    assert own["checkpoint"] == {"file": "best.pt", "sha256": best, "epoch": 1}
    again = evaluate_run(run, "test")  # the run's own data again: its own file, same figures
    assert again == json.loads((run / "eval-test.json").read_text())
    assert again["root"] == own["root"] and again["source"] == own["source"]
    last = evaluate_run(run, "test", which="last")  # not best.pt: not the run's result
    assert last["checkpoint"]["file"] == "last.pt" and (run / "eval-test@last.json").is_file()
    assert json.loads((run / "eval-test.json").read_text()) == again
    # a file that claims to be the run's own but scored other data is refused by its readers
    from treenn.runs import read_eval

    (run / "eval-test.json").write_text(json.dumps(
        {**own, "source": {**own["source"], "fingerprint": "0" * 64}}))
    with pytest.raises(TreennError, match=r"eval-test.json: scores other data"):
        read_eval(run, "test")


def _edit_json(name, change):
    def damage(run):
        path = run / name
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return damage


def _edit_checkpoint(name, change):
    def damage(run):
        path = run / name
        torch.save(change(torch.load(path, weights_only=True)), path)
    return damage


def _cut(name, keep):
    def damage(run):
        (run / name).write_bytes((run / name).read_bytes()[:keep])
    return damage


class _Evil:
    """Unpickling this would run a shell command: it must never happen."""

    def __reduce__(self):
        return (os.system, ("touch treenn-pwned",))


def _shapes(ckpt):
    return {**ckpt, "state_dict": {k: torch.zeros(3) for k in ckpt["state_dict"]}}


#: damage -> the file the error names; each stops evaluate, predict, show and train --resume
#: (train --resume reads best.pt as a file, not its weights: those only evaluate at the end)
READ_BY_ALL = {
    "config.json truncated": (_cut("config.json", 40), "config.json:"),
    "config.json a list": (lambda r: (r / "config.json").write_text("[1]\n"), "config.json:1"),
    "config.json task a dict": (_edit_json("config.json", lambda c: {
        **c, "train": {**c["train"], "task": {"name": "sst5"}}}), "config.json"),
    "config.json no train": (_edit_json("config.json", lambda c: {"model": c["model"]}),
                             "config.json"),
    "best.pt empty dict": (lambda r: torch.save({}, r / "best.pt"), "best.pt"),
    "best.pt truncated": (_cut("best.pt", 600), "best.pt"),
    "best.pt random bytes": (lambda r: (r / "best.pt").write_bytes(os.urandom(999)), "best.pt"),
    "best.pt malicious": (lambda r: torch.save({"a": _Evil()}, r / "best.pt"), "best.pt"),
    "best.pt wrong shapes": (_edit_checkpoint("best.pt", _shapes), "best.pt"),
    "best.pt of another run": (_edit_checkpoint("best.pt", lambda c: {**c, "name": "lstm"}),
                               "best.pt"),
}
#: damage -> the file the error names; read by train --resume only
READ_BY_RESUME = {
    "last.pt empty dict": (lambda r: torch.save({}, r / "last.pt"), "last.pt"),
    "last.pt truncated": (_cut("last.pt", 600), "last.pt"),
    "last.pt malicious": (lambda r: torch.save({"a": _Evil()}, r / "last.pt"), "last.pt"),
    "last.pt wrong shapes": (_edit_checkpoint("last.pt", _shapes), "last.pt"),
    "last.pt of another task": (_edit_checkpoint("last.pt", lambda c: {**c, "task": "sst2"}),
                                "last.pt"),
    "last.pt optimiser state": (_edit_checkpoint("last.pt", lambda c: {
        **c, "optimizers": [{"state": {}}]}), "last.pt"),
    "last.pt random state": (_edit_checkpoint("last.pt", lambda c: {
        **c, "rng": {"torch": torch.zeros(3)}}), "last.pt"),
    "metrics.jsonl junk line": (lambda r: (r / "metrics.jsonl").write_text("junk\n{}\n"),
                                "metrics.jsonl:1"),
    "metrics.jsonl not objects": (lambda r: (r / "metrics.jsonl").write_text("[1]\n"),
                                  "metrics.jsonl:1"),
    "config.json lr a string": (_edit_json("config.json", lambda c: {
        **c, "train": {**c["train"], "lr": "fast"}}), "config.json"),
}


def _commands(run, tiny_sst):
    trees = tiny_sst / "dev.txt"
    return {"evaluate": ["evaluate", run, "--split", "test"],
            "predict": ["predict", run, "--trees", trees],
            "show": ["show", run, "--trees", trees, "--limit", "1", "--format", "term"],
            "resume": ["train", "--resume", "--out", run, "--epochs", "2"]}


@pytest.mark.parametrize("damage", sorted(READ_BY_ALL) + sorted(READ_BY_RESUME))
def test_a_damaged_run_file_is_one_error_line_and_changes_nothing(run, tiny_sst, capsys,
                                                                  damage, monkeypatch):
    monkeypatch.chdir(run.parent)  # where the malicious pickle would leave its mark
    change, names = {**READ_BY_ALL, **READ_BY_RESUME}[damage]
    change(run)
    before = _checksums(run)
    commands = _commands(run, tiny_sst)
    if damage not in READ_BY_ALL:
        commands = {"resume": commands["resume"]}
    elif damage == "best.pt wrong shapes":
        del commands["resume"]
    for name, argv in commands.items():
        status, _, err = _cli(capsys, *argv)
        line = _one_error_line(status, err, names)
        assert line.startswith(f"error: {run}/"), (name, line)
        assert "weights_only" not in line
        assert _checksums(run) == before, name
    assert not (run.parent / "treenn-pwned").exists()


def test_stale_tmp_files_are_ignored_and_deleted_when_the_run_resumes(run, capsys):
    stale = {"config.json.tmp": b"{", "last.pt.tmp": b"PK\x03\x04cut", "metrics.jsonl.tmp": b"[",
             "eval-test.json.tmp": b"{\"task\""}
    for name, data in stale.items():
        (run / name).write_bytes(data)
    from treenn.report import collect_runs

    [info], skipped = collect_runs([run])  # readers never look at them
    assert not skipped and set(info.evals) == {"dev", "test"}
    status, _, _ = _cli(capsys, "evaluate", run, "--split", "dev")
    assert status == 0 and all((run / name).exists() for name in stale)
    status, _, err = _cli(capsys, "train", "--resume", "--out", run, "--epochs", "2")
    assert status == 0, err
    assert not list(run.glob("*.tmp"))
    metrics = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in metrics] == [1, 2]


def test_evaluate_refuses_an_unwritable_run_before_scoring(run, capsys, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def never(*args, **kwargs):
        raise AssertionError("scored before finding that nothing can be written")

    before = _checksums(run)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # as for a read-only folder (not root)
    monkeypatch.setattr("treenn.training.evaluate", never)
    with pytest.raises(TreennError, match="cannot write here"):
        evaluate_run(run, "test")
    status, _, err = _cli(capsys, "evaluate", run, "--split", "test")
    _one_error_line(status, err, str(run), "ermission")
    assert _checksums(run) == before


def test_a_parser_run_keeps_its_own_evaluation_when_scored_on_other_data(tiny_ptb, tmp_path,
                                                                         capsys):
    from treenn.experiments.seeds import load_parser_run
    from treenn.parsers.training import ParserTrainConfig, evaluate_parser_run, train_parser

    out = tmp_path / "pcfg"
    train_parser(ParserTrainConfig(model="pcfg", out=str(out), data_dir=str(tiny_ptb),
                                   progress=False))
    own = json.loads((out / "eval-dev.json").read_text())
    assert own["source"]["own"] and own["checkpoint"]["file"] == "best.pt"
    assert evaluate_parser_run(out, "dev")["source"] == own["source"]  # its own data again
    other = tmp_path / "nltk_data"
    shutil.copytree(tiny_ptb, other)
    dev = other / "corpora" / "treebank" / "combined" / "wsj_0160.mrg"
    dev.write_text(dev.read_text().split("\n\n")[0] + "\n")
    before = _checksums(out)
    result = evaluate_parser_run(out, "dev", str(other))
    assert result["source"]["own"] is False and result["sentences"] == 1
    after = _checksums(out)
    assert {k: after[k] for k in before} == before
    assert [n for n in after if n not in before] == [
        f"eval-dev@{result['source']['fingerprint'][:8]}.json"]
    assert load_parser_run(out).f1["dev"]["labelled"] == own["labelled"]["f1"]

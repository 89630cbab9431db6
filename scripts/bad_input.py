"""The bad-input corpus (issue 19): hostile input to every subcommand, run for real.

Builds small runs of its own in a temporary folder (a ListOps Tree-LSTM, a ListOps LSTM and a
Tree-LSTM on a ten-line SST-style folder; with ``NLTK_DATA`` set, also a tiny rnn-parser on the
Penn Treebank sample), then runs every case as a separate ``python train.py ...`` process and
checks what the README promises: exactly one line on standard error, starting with
``error:``, and exit status 2. A second list of cases must succeed (exit 0, no traceback).
At the end it compares the sha256 of every file of the runs it built with their sums before
the cases: no case may change an existing run.

Usage: .venv/bin/python scripts/bad_input.py [--jobs 2] [--out docs/bad-input.txt]
Prints every case (command, standard error, exit status) and a summary by class; exits 1 when
any case breaks the promise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLASSES = {
    1: "a finished run replaced",
    2: "bytes that are not UTF-8",
    3: "long lines and deep trees",
    4: "output paths",
    5: "damaged run files",
    6: "numeric options",
    7: "nonsense accepted silently",
    8: "results that lie",
    9: "messages",
}
GOOD = "(3 (2 It) (4 (4 (2 is) (4 good)) (2 .)))"
SST_LINES = [GOOD, "(1 (2 It) (1 (2 is) (0 dull)))", "(2 (2 Fine))",
             "(4 (3 (2 A) (4 triumph)) (2 .))", "(0 (2 Sadly) (0 (2 no)))",
             "(3 (2 The) (4 (3 (2 Rock) (4 rocks)) (2 .)))"]


@dataclass
class Case:
    cls: int
    what: str
    argv: list[str]
    stdin: bytes | None = None
    ok: bool = False  # True: must succeed (exit 0); False: one `error:` line, exit 2
    result: dict = field(default_factory=dict)


def run_cli(argv: list[str], cwd: Path, stdin: bytes | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(REPO / "train.py"), *argv], cwd=cwd,
                          input=stdin if stdin is not None else b"", capture_output=True,
                          env=env, timeout=timeout)


def build_runs(tmp: Path) -> list[Path]:
    """The runs the cases act on (trained here, seconds each)."""
    sst = tmp / "sst"
    sst.mkdir()
    for split in ("train", "dev", "test"):
        (sst / f"{split}.txt").write_text("\n".join(SST_LINES) + "\n")
    tiny = ["--epochs", "1", "--threads", "1", "--x-size", "8", "--h-size", "8"]
    lo = ["--listops-train", "200", "--listops-depth", "3", "--listops-max-length", "20"]
    trainings = [
        ["train", "--task", "listops", "--model", "tree-lstm", "--out", "run-listops", *tiny,
         *lo],
        ["train", "--task", "listops", "--model", "lstm", "--out", "run-lstm", *tiny, *lo],
        ["train", "--task", "sst5", "--model", "tree-lstm", "--out", "run-sst", "--data-dir",
         "sst", *tiny],
    ]
    if os.environ.get("NLTK_DATA"):
        trainings.append(["train", "--task", "ptb", "--model", "rnn-parser", "--out",
                          "run-parser", "--epochs", "1", "--threads", "1", "--h-size", "16"])
    runs = []
    for argv in trainings:
        done = run_cli(["-q", *argv], tmp, timeout=1800)
        if done.returncode != 0:
            sys.exit(f"could not build {argv[6]}: {done.stderr.decode()}")
        runs.append(tmp / argv[6])
    return runs


def checksums(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for run in paths for p in sorted(run.rglob("*")) if p.is_file()}


def damaged(tmp: Path, source: str, name: str, damage) -> str:
    """A copy of run ``source`` called ``name``, damaged by ``damage(path_of_copy)``."""
    copy = tmp / name
    shutil.copytree(tmp / source, copy)
    damage(copy)
    return name


def write(path: Path, data: bytes | str) -> None:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def make_inputs(tmp: Path) -> None:
    """Input files the cases read (all inside ``tmp``)."""
    import torch

    long_line = " ".join(["good"] * 1000)
    files = {
        "latin1.txt": "(3 (2 caf\xe9) (2 ok))\n".encode("latin-1"),
        "binary.txt": bytes(range(256)) * 4,
        "nul.txt": b"(3 (2 a) (2 b))\n(3 (2 a\x00) (2 b))\n",
        "text-latin1.txt": "Le film \xe9tait bon .\n".encode("latin-1"),
        "text-nul.txt": b"a fine film .\nan\x00other one\n",
        "text-empty-line.txt": f"{long_line}\n\nok .\n",
        "text-long.txt": f"{long_line}\n",
        "trees-good.txt": "\n".join(SST_LINES) + "\n",
        "trees-bom-crlf.txt": ("\ufeff" + "\r\n".join(SST_LINES) + "\r\n").encode(),
        "trees-unbalanced.txt": GOOD + "\n(3 (2 It) (4 (2 is) (4 good))\n",
        "trees-label.txt": "(3 (2 It) (x (2 is) (4 good)))\n",
        "trees-empty-line.txt": GOOD + "\n\n" + GOOD + "\n",
        "trees-empty-node.txt": "(3 (2 It) (4 ))\n",
        "trees-outside.txt": GOOD + " trailing words\n",
        "trees-only-close.txt": ")))\n",
        "trees-empty.txt": "",
        "deep-5000.txt": "(2 " * 5000 + "(2 w)" + ")" * 5000 + "\n",
        "deep-5000-open.txt": "(2 " * 5000 + "(2 w)" + ")" * 4999 + "\n",
        "deep-5000-label.txt": "(2 " * 2500 + "(x " + "(2 " * 2499 + "(2 w)" + ")" * 5000
                               + "\n",
        "emb-nan.txt": "good " + " ".join(["nan"] * 8) + "\nis " + " ".join(["0.1"] * 8) + "\n",
        "emb-inf.txt": "good " + " ".join(["0.1"] * 7) + " inf\n",
        "emb-short-row.txt": "good " + " ".join(["0.1"] * 8) + "\nis 0.1 0.2\n",
        "emb-word.txt": "good " + " ".join(["0.1"] * 7) + " abc\n",
        "emb-latin1.txt": ("caf\xe9 " + " ".join(["0.1"] * 8) + "\n").encode("latin-1"),
        "emb-empty.txt": "",
        "pickle.pt": b"",  # replaced below
    }
    for name, data in files.items():
        write(tmp / name, data)

    class Evil:  # a pickle that would run code on load: weights_only refuses it
        def __reduce__(self):
            return (os.system, ("touch PWNED",))

    torch.save({"state_dict": Evil()}, tmp / "pickle.pt")
    (tmp / "a-directory").mkdir()
    write(tmp / "a-file", "not a folder\n")
    for name, lines in {
        "lo-mismatch": ["3\t[MAX 2 7 ]"],
        "lo-operator": ["7\t[FOO 2 7 ]"],
        "lo-label": ["x\t[MAX 2 7 ]"],
        "lo-latin1": ["7\t[MAX 2 7 ] \xe9"],
        "lo-unbalanced": ["7\t( ( [MAX 2 ) 7 ) ] )) )"],
        "lo-digit": ["7\t[MAX 2 17 ]"],
        "lo-fields": ["7\t[MAX 2 7 ]\textra"],
    }.items():
        folder = tmp / name
        folder.mkdir()
        for split in ("train", "dev", "test"):
            text = "\n".join(["9\t[MAX 2 9 ]", *lines]) + "\n"
            write(folder / f"{split}.tsv", text.encode("latin-1"))
    only_test = tmp / "lo-only-test"
    only_test.mkdir()
    write(only_test / "test.tsv", "9\t[MAX 2 9 ]\n7\t[MIN 7 8 ]\n")
    other = tmp / "sst-other"
    other.mkdir()
    for split in ("train", "dev", "test"):
        write(other / f"{split}.txt", "\n".join(reversed(SST_LINES)) + "\n")
    deep = tmp / "sst-deep-label"
    deep.mkdir()
    for split in ("train", "dev", "test"):
        shutil.copyfile(tmp / "deep-5000-label.txt", deep / f"{split}.txt")
    no_test = tmp / "sst-no-test"
    no_test.mkdir()
    write(no_test / "train.txt", GOOD + "\n")
    for label, line in {"brackets": "(3 (2 It) (4 (2 is) (4 good))", "label": "(3 (2 It) "
                        "(x (2 is) (4 good)))", "empty": "", "range": "(7 (2 It) (2 is))",
                        "latin1": "(3 (2 caf\xe9) (2 ok))"}.items():
        folder = tmp / f"sst-{label}"
        folder.mkdir()
        for split in ("train", "dev", "test"):
            write(folder / f"{split}.txt", f"{GOOD}\n{line}\n{GOOD}\n".encode("latin-1"))


def damage_json(edit):
    """A damage that rewrites a run's config.json through ``edit(dict) -> object``."""
    import json

    def apply(run: Path) -> None:
        path = run / "config.json"
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return apply


def with_train(**changes):
    return damage_json(lambda info: {**info, "train": {**info["train"], **changes}})


def replace_file(name: str, data) -> callable:
    """A damage that replaces ``name`` in the run by ``data`` (bytes, a callable of the old
    bytes, a path to copy, or an object for ``torch.save``)."""
    def apply(run: Path) -> None:
        import torch

        path = run / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, Path):
            shutil.copyfile(data, path)
        elif callable(data):
            path.write_bytes(data(path.read_bytes()))
        else:
            torch.save(data, path)
    return apply


def damaged_runs(tmp: Path) -> dict[str, str]:
    """Damaged copies of run-sst (and of run-listops for resuming): name -> what is wrong."""
    import torch

    half = lambda raw: raw[: len(raw) // 2]  # noqa: E731
    best = torch.load(tmp / "run-sst" / "best.pt", weights_only=True)
    shapes = {**best, "state_dict": {k: torch.zeros(*(s + 1 for s in v.shape))
                                     for k, v in best["state_dict"].items()}}
    kinds = {
        "config-truncated": ("config.json cut in half", replace_file("config.json", half)),
        "config-list": ("config.json is a JSON list", replace_file("config.json", b"[1, 2]")),
        "config-binary": ("config.json is binary", replace_file("config.json", bytes(range(256)))),
        "config-no-train": ("config.json lacks 'train'",
                            damage_json(lambda i: {k: v for k, v in i.items() if k != "train"})),
        "config-task-int": ("config.json's task is a number", with_train(task=5)),
        "config-task-unknown": ("config.json names an unknown task", with_train(task="nosuch")),
        "best-empty": ("best.pt is {}", replace_file("best.pt", {})),
        "best-garbage": ("best.pt is random bytes", replace_file("best.pt", os.urandom(4096))),
        "best-truncated": ("best.pt cut in half", replace_file("best.pt", half)),
        "best-shapes": ("best.pt has tensors of the wrong shapes", replace_file("best.pt", shapes)),
        "best-other-run": ("best.pt is another run's (a ListOps LSTM)",
                           replace_file("best.pt", tmp / "run-lstm" / "best.pt")),
        "best-pickle": ("best.pt is a malicious pickle", replace_file("best.pt",
                                                                      tmp / "pickle.pt")),
        "last-empty": ("last.pt is {}", replace_file("last.pt", {})),
        "last-other-run": ("last.pt is another run's", replace_file("last.pt", tmp / "run-lstm"
                                                                   / "last.pt")),
        "last-truncated": ("last.pt cut in half", replace_file("last.pt", half)),
        "metrics-junk": ("metrics.jsonl holds junk lines",
                         replace_file("metrics.jsonl", b"garbage\n[1, 2]\n{\"epoch\": \"x\"}\n")),
        "eval-no-keys": ("eval-test.json lacks its keys", replace_file("eval-test.json",
                                                                       b'{"x": 1}\n')),
        "eval-not-json": ("eval-test.json is not JSON", replace_file("eval-test.json", b"{oops")),
    }
    return {damaged(tmp, "run-sst", f"dmg-{name}", fn): what
            for name, (what, fn) in kinds.items()}


def cases(tmp: Path, have_parser: bool) -> list[Case]:  # noqa: C901 - a list, not logic
    out: list[Case] = []

    def bad(cls: int, what: str, *argv: str, stdin: bytes | None = None) -> None:
        out.append(Case(cls, what, list(argv), stdin))

    def good(cls: int, what: str, *argv: str) -> None:
        out.append(Case(cls, what, list(argv), ok=True))

    sst_train = ["train", "--task", "sst5", "--model", "tree-lstm", "--epochs", "1",
                 "--threads", "1", "--x-size", "8", "--h-size", "8"]
    lo_train = ["train", "--task", "listops", "--model", "tree-lstm", "--epochs", "1",
                "--threads", "1", "--listops-train", "50"]
    rb = ["--parser", "right-branching"]

    # 1. a finished run replaced
    nolast = damaged(tmp, "run-sst", "run-sst-no-last", lambda r: (r / "last.pt").unlink())
    bad(1, "train on a finished run", *sst_train, "--data-dir", "sst", "--out", "run-sst")
    bad(1, "train on a finished run whose last.pt was deleted", *sst_train, "--data-dir", "sst",
        "--out", nolast)
    bad(1, "train another model into a finished run", "train", "--task", "sst5", "--model",
        "lstm", "--data-dir", "sst", "--out", "run-sst")
    bad(1, "train a ListOps model into the SST run", *lo_train, "--out", "run-sst")
    bad(1, "--resume and --overwrite together", *sst_train, "--data-dir", "sst", "--out",
        "run-sst", "--resume", "--overwrite")
    bad(1, "--resume a folder that holds no run", "train", "--resume", "--out", "a-directory")
    bad(1, "--resume a folder that does not exist", "train", "--resume", "--out", "no/such")
    bad(1, "--resume a run whose last.pt was deleted, with other settings", "train", "--resume",
        "--out", nolast, "--task", "sst5", "--model", "lstm")
    demo = tmp / "demo-other"
    shutil.copytree(tmp / "run-listops", demo / "tree-lstm")
    bad(1, "demo into a folder holding a run trained with other settings", "demo", "--out",
        "demo-other", "--epochs", "1")

    # 2. bytes that are not UTF-8
    for flag, name in [("--trees", "latin1.txt"), ("--trees", "binary.txt"),
                       ("--trees", "nul.txt"), ("--text", "text-latin1.txt"),
                       ("--text", "text-nul.txt"), ("--text", "binary.txt")]:
        extra = rb if flag == "--text" else []
        bad(2, f"predict {flag} {name}", "predict", "run-sst", flag, name, *extra)
        bad(2, f"show {flag} {name}", "show", "run-sst", flag, name, *extra, "--format", "term")
    bad(2, "predict --trees - with latin-1 on stdin", "predict", "run-sst", "--trees", "-",
        stdin="(3 (2 caf\xe9) (2 ok))\n".encode("latin-1"))
    bad(2, "parse --text latin-1", "parse", "right-branching", "--text", "text-latin1.txt")
    bad(2, "parse --text binary", "parse", "right-branching", "--text", "binary.txt")
    bad(2, "parse --text - with a NUL on stdin", "parse", "right-branching", "--text", "-",
        stdin=b"one two\x00 three\n")
    bad(2, "SST data with a latin-1 line", *sst_train, "--data-dir", "sst-latin1", "--out", "x")
    bad(2, "ListOps TSV with a latin-1 byte", *lo_train, "--data-dir", "lo-latin1", "--out", "x")
    bad(2, "embeddings file in latin-1", *sst_train, "--data-dir", "sst", "--embeddings",
        "emb-latin1.txt", "--out", "x")
    bad(2, "predict --trees a directory", "predict", "run-sst", "--trees", "a-directory")
    bad(2, "parse --text a directory", "parse", "right-branching", "--text", "a-directory")
    bad(2, "--data-dir a file", *sst_train, "--data-dir", "a-file", "--out", "x")
    bad(2, "--embeddings a directory", *sst_train, "--data-dir", "sst", "--embeddings",
        "a-directory", "--out", "x")
    good(2, "predict --trees with a byte-order mark and CRLF line ends", "predict", "run-sst",
         "--trees", "trees-bom-crlf.txt")

    # 3. long lines and deep trees
    bad(3, "a 1,000-token line, then an empty line", "predict", "run-sst", "--text",
        "text-empty-line.txt", *rb)
    bad(3, "a 5,000-deep tree missing one ')'", "predict", "run-sst", "--trees",
        "deep-5000-open.txt")
    bad(3, "SST data: a 5,000-deep tree with the label x halfway down", *sst_train,
        "--data-dir", "sst-deep-label", "--out", "x")
    bad(3, "show a 5,000-deep tree missing one ')'", "show", "run-sst", "--trees",
        "deep-5000-open.txt", "--format", "term")
    bad(3, "parse a 1,000-token line, then an empty line", "parse", "right-branching", "--text",
        "text-empty-line.txt")
    good(3, "predict --text: a 1,000-token line", "predict", "run-sst", "--text",
         "text-long.txt", *rb)
    good(3, "show --text --format term: a 1,000-token line", "show", "run-sst", "--text",
         "text-long.txt", *rb, "--format", "term", "--color", "never")
    good(3, "show --format svg: a 5,000-deep tree", "show", "run-sst", "--trees",
         "deep-5000.txt", "--format", "svg", "--out", "deep.svg")
    good(3, "show --format term: a 5,000-deep tree", "show", "run-sst", "--trees",
         "deep-5000.txt", "--format", "term", "--color", "never")
    good(3, "predict --trees: a 5,000-deep tree", "predict", "run-sst", "--trees",
         "deep-5000.txt")
    good(3, "parse: a 1,000-token line", "parse", "right-branching", "--text", "text-long.txt")

    # 4. output paths
    bad(4, "train --out an existing file", *sst_train, "--data-dir", "sst", "--out", "a-file")
    bad(4, "train --out below a file", *sst_train, "--data-dir", "sst", "--out", "a-file/run")
    bad(4, "train --out where nothing can be written", *sst_train, "--data-dir", "sst",
        "--out", "/proc/treenn-run")
    for fmt in ("svg", "html", "png"):
        bad(4, f"show --format {fmt} --out a directory", "show", "run-sst", "--trees",
            "trees-good.txt", "--format", fmt, "--out", "a-directory")
        bad(4, f"show --format {fmt} --out in a missing folder", "show", "run-sst", "--trees",
            "trees-good.txt", "--format", fmt, "--out", f"no/such/dir/x.{fmt}")
    bad(4, "show --out where nothing can be written", "show", "run-sst", "--trees",
        "trees-good.txt", "--format", "html", "--out", "/proc/x.html")
    bad(4, "compare --out an existing file", "compare", "run-sst", "--out", "a-file")
    bad(4, "compare --out where nothing can be written", "compare", "run-sst", "--out",
        "/proc/report")
    bad(4, "demo --out an existing file", "demo", "--out", "a-file")
    bad(4, "evaluate a run below a file", "evaluate", "a-file/run")

    # 5. damaged run files
    damaged_kinds = damaged_runs(tmp)
    for run, what in damaged_kinds.items():
        if run.startswith("dmg-config"):
            commands = [["evaluate", run, "--split", "test"],
                        ["predict", run, "--trees", "trees-good.txt"],
                        ["show", run, "--trees", "trees-good.txt", "--format", "term"],
                        ["compare", run, "--out", f"report-{run}"],
                        ["train", "--resume", "--out", run, "--epochs", "2"]]
        elif run.startswith("dmg-best"):
            commands = [["evaluate", run, "--split", "test"],
                        ["predict", run, "--trees", "trees-good.txt"],
                        ["show", run, "--trees", "trees-good.txt", "--format", "term"]]
        elif run.startswith("dmg-last"):
            commands = [["train", "--resume", "--out", run, "--epochs", "2"],
                        ["evaluate", run, "--split", "test", "--checkpoint", "last"]]
        elif run.startswith("dmg-metrics"):
            commands = [["train", "--resume", "--out", run, "--epochs", "2"],
                        ["compare", run, "--out", f"report-{run}"]]
        else:
            commands = [["compare", run, "--out", f"report-{run}"]]
        for argv in commands:
            bad(5, f"{argv[0]}: {what}", *argv)
    bad(5, "predict a folder that holds no run", "predict", "a-directory", "--trees",
        "trees-good.txt")
    bad(5, "evaluate a run that does not exist", "evaluate", "no/such/run")
    bad(5, "--parser: a damaged parser run (config list)", "predict", "run-sst", "--text",
        "text-long.txt", "--parser", "dmg-config-list")
    if have_parser:
        for name, data in [("empty", {}), ("garbage", os.urandom(2048)),
                           ("pickle", tmp / "pickle.pt")]:
            run = damaged(tmp, "run-parser", f"dmg-parser-{name}",
                          replace_file("best.pt", data))
            bad(5, f"parse with a parser whose best.pt is {name}", "parse", run, "--text",
                "text-long.txt")
            bad(5, f"evaluate a parser whose best.pt is {name}", "evaluate", run)
    out.extend(option_cases(sst_train, lo_train))

    # 7. nonsense accepted silently
    for name in ("emb-nan.txt", "emb-inf.txt", "emb-short-row.txt", "emb-word.txt",
                 "emb-empty.txt"):
        bad(7, f"embeddings: {name}", *sst_train, "--data-dir", "sst", "--embeddings", name,
            "--out", "x")
    bad(7, "ListOps: a label that disagrees with the value", *lo_train, "--data-dir",
        "lo-mismatch", "--out", "x")
    bad(7, "--resume with another --task", "train", "--resume", "--out", "run-listops",
        "--task", "sst5", "--model", "tree-lstm")
    bad(7, "--resume with another --model", "train", "--resume", "--out", "run-listops",
        "--task", "listops", "--model", "lstm")
    bad(7, "--listops-train on SST", *sst_train, "--data-dir", "sst", "--listops-train", "10",
        "--out", "x")
    bad(7, "--cell (a parser option) on SST", *sst_train, "--data-dir", "sst", "--cell",
        "recnn", "--out", "x")
    bad(7, "a parser for a classification task", "train", "--task", "sst5", "--model",
        "rnn-parser", "--data-dir", "sst", "--out", "x")
    bad(7, "a classifier for parsing", "train", "--task", "ptb", "--model", "lstm", "--out", "x")
    bad(7, "--bidirectional on a tree model", *sst_train, "--data-dir", "sst",
        "--bidirectional", "--out", "x")
    bad(7, "--listops-depth in compare's SST grid", "compare", "--tasks", "sst5", "--models",
        "lstm", "--listops-depth", "3", "--out", "grid-x")
    for flag, value in (("--engine", "dgl"), ("--layers", "2")):
        bad(7, f"{flag} on a latent-tree model", *lo_train, "--model", "gumbel-tree-lstm", flag,
            value, "--out", "x")

    # 8. results that lie
    bad(8, "evaluate --data-dir a folder without the split", "evaluate", "run-sst", "--split",
        "test", "--data-dir", "sst-no-test")
    bad(8, "evaluate --split extrap on an SST run", "evaluate", "run-sst", "--split", "extrap")
    bad(8, "evaluate --split nosuch", "evaluate", "run-sst", "--split", "nosuch")
    bad(8, "evaluate --data-dir that does not exist", "evaluate", "run-sst", "--data-dir",
        "no/such")
    bad(8, "evaluate --data-dir with a malformed file", "evaluate", "run-sst", "--split", "test",
        "--data-dir", "sst-brackets")
    good(8, "evaluate --data-dir OTHER (the run's own eval files stay)", "evaluate", "run-sst",
         "--split", "test", "--data-dir", "sst-other")

    # 9. messages
    for name in ("operator", "label", "unbalanced", "digit", "fields"):
        bad(9, f"ListOps TSV: {name}", *lo_train, "--data-dir", f"lo-{name}", "--out", "x")
    for name in ("brackets", "label", "empty", "range"):
        bad(9, f"SST data: {name}", *sst_train, "--data-dir", f"sst-{name}", "--out", "x")
    for name in ("unbalanced", "empty-line", "empty-node", "outside", "only-close", "empty"):
        bad(9, f"predict --trees: {name}", "predict", "run-sst", "--trees", f"trees-{name}.txt")
    good(9, "predict --trees whose labels are not classes (not gold: predicted all the same)",
         "predict", "run-sst", "--trees", "trees-label.txt")
    bad(9, "no such model", *sst_train, "--model", "transformer", "--data-dir", "sst",
        "--out", "x")
    bad(9, "no such task", "train", "--task", "imdb", "--model", "lstm", "--out", "x")
    bad(9, "no such parser", "predict", "run-sst", "--text", "text-long.txt", "--parser",
        "no-such-parser")
    bad(9, "no such subcommand", "fly")
    bad(9, "no such data folder", *sst_train, "--data-dir", "no/such/dir", "--out", "x")
    bad(9, "predict --trees and --text together", "predict", "run-sst", "--trees",
        "trees-good.txt", "--text", "text-long.txt")
    bad(9, "predict without input", "predict", "run-sst")
    bad(9, "train without --out", "train", "--task", "sst5", "--model", "lstm")
    bad(9, "train without --task", "train", "--model", "lstm", "--out", "x")
    good(9, "train --resume --out RUN alone", "train", "--resume", "--out",
         damaged(tmp, "run-listops", "run-listops-resume", lambda r: None), "--epochs", "2")
    good(9, "evaluate ListOps with only test.tsv in --data-dir", "evaluate", "run-listops",
         "--split", "test", "--data-dir", "lo-only-test")
    return out


def option_cases(sst_train: list[str], lo_train: list[str]) -> list[Case]:
    """Class 6: numeric options out of range, for every subcommand."""
    out = []
    base = {"train": [*sst_train, "--data-dir", "sst", "--out", "x"],
            "listops": [*lo_train, "--out", "x"],
            "parse": ["parse", "right-branching", "--text", "text-long.txt"],
            "predict": ["predict", "run-sst", "--text", "text-long.txt", "--parser",
                        "right-branching"],
            "show": ["show", "run-sst", "--trees", "trees-good.txt", "--format", "term"],
            "compare": ["compare", "--tasks", "listops", "--models", "lstm", "--out", "grid-x"],
            "demo": ["demo", "--out", "demo-x"]}
    table = [
        ("train", "--lr", ["nan", "-1", "0", "inf"]), ("train", "--emb-lr", ["-0.5", "inf"]),
        ("train", "--weight-decay", ["-1", "nan"]), ("train", "--threads", ["-1", "0", "1e309"]),
        ("train", "--epochs", ["0", "-1", "1000000000000", "1e309"]),
        ("train", "--batch-size", ["0", "-3", "1.5"]),
        ("train", "--dropout", ["1.5", "nan", "-0.1"]),
        ("train", "--x-size", ["0", "-8"]), ("train", "--h-size", ["0", "1e309"]),
        ("train", "--min-count", ["-1"]), ("train", "--clip", ["-1", "nan"]),
        ("train", "--ema", ["1.5", "-0.1", "nan"]), ("train", "--lr-patience", ["-1"]),
        ("train", "--layers", ["0"]), ("train", "--seed", ["nan", "1.5"]),
        ("train", "--device", ["foo", "cuda:x"]),
        ("listops", "--listops-train", ["0", "-5"]), ("listops", "--listops-args", ["1"]),
        ("listops", "--listops-depth", ["0"]), ("listops", "--listops-max-length", ["-1", "inf"]),
        ("listops", "--listops-preset", ["foo"]), ("listops", "--listops-lengths", ["5-2", "abc"]),
        ("listops", "--listops-arg-counts", ["1"]), ("listops", "--listops-test", ["0"]),
        ("listops", "--listops-extrap", ["-1"]),
        ("listops", "--listops-train-max-length", ["-1"]),
        ("parse", "--batch-size", ["0", "nan"]), ("parse", "--beam", ["0", "-1"]),
        ("parse", "--pairs", ["0", "inf"]), ("predict", "--beam", ["-1"]),
        ("predict", "--pairs", ["nan"]), ("show", "--limit", ["0", "-1", "nan"]),
        ("compare", "--bootstrap", ["0", "-1"]), ("compare", "--seeds", ["0", "1e309"]),
        ("compare", "--epochs", ["nan"]), ("compare", "--lr", ["-1"]),
        ("compare", "--threads", ["0"]), ("compare", "--listops-args", ["1"]),
        ("compare", "--batch-size", ["0"]), ("compare", "--device", ["foo"]),
        ("demo", "--epochs", ["0", "nan", "-2"]),
    ]
    for command, flag, values in table:
        for value in values:
            out.append(Case(6, f"{command} {flag} {value}", [*base[command], flag, value]))
    return out


def check(case: Case, done: subprocess.CompletedProcess) -> str | None:
    """What is wrong with the outcome, or None when it keeps the promise."""
    err = done.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if line.strip()]
    if "Traceback" in err:
        return "a traceback"
    if case.ok:
        return None if done.returncode == 0 else f"exit status {done.returncode}, expected 0"
    if done.returncode != 2:
        return f"exit status {done.returncode}, expected 2"
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"{len(lines)} lines on standard error, expected one 'error:' line"
    return None


def shown(argv: list[str], tmp: Path) -> str:
    return " ".join(a.replace(str(tmp) + "/", "") for a in argv)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--out", help="also write the transcript to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="treenn-bad-input-") as name:
        tmp = Path(name)
        runs = build_runs(tmp)
        make_inputs(tmp)
        before = checksums(runs)
        todo = cases(tmp, have_parser=(tmp / "run-parser").is_dir())

        def one(case: Case) -> Case:
            done = run_cli(case.argv, tmp, case.stdin)
            case.result = {"rc": done.returncode, "stderr": done.stderr.decode("utf-8", "replace"),
                           "stdout": done.stdout.decode("utf-8", "replace"),
                           "problem": check(case, done)}
            return case

        with ThreadPoolExecutor(args.jobs) as pool:
            finished = list(pool.map(one, todo))
        after = checksums(runs)
        pwned = (tmp / "PWNED").exists()
    text = transcript(finished, tmp)
    changed = sorted(p for p in before if after.get(p) != before[p])
    added = sorted(set(after) - set(before))
    bad = [c for c in finished if not c.ok]
    failures = [c for c in finished if c.result["problem"]]
    summary = [f"\n{len(bad)} bad-input cases in {len(CLASSES)} classes, "
               f"{len(finished) - len(bad)} cases that must succeed:"]
    for cls, title in CLASSES.items():
        n = sum(c.cls == cls for c in bad)
        kept = sum(c.cls == cls and not c.result["problem"] for c in bad)
        summary.append(f"  {cls}. {title}: {kept} of {n} one 'error:' line, exit status 2")
    summary.append(f"  must succeed: {sum(c.ok and not c.result['problem'] for c in finished)} "
                   f"of {len(finished) - len(bad)} did")
    summary.append(f"existing runs' files changed: {len(changed)}"
                   + "".join(f"\n  {shown([p], tmp)}" for p in changed))
    summary.append(f"files added to existing runs: {len(added)}"
                   + "".join(f"\n  {shown([p], tmp)}" for p in added))
    summary.append(f"malicious pickle executed: {'YES' if pwned else 'no'}")
    summary.append(f"broken promises: {len(failures)}"
                   + "".join(f"\n  [{c.cls}] {c.what}: {c.result['problem']}" for c in failures))
    summary.append(f"({time.perf_counter() - t0:.0f} s)")
    text += "\n".join(summary) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 1 if failures or changed or pwned else 0


def transcript(finished: list[Case], tmp: Path) -> str:
    parts = []
    for cls, title in CLASSES.items():
        parts.append(f"## {cls}. {title}\n")
        for case in (c for c in finished if c.cls == cls):
            r = case.result
            parts.append(f"$ treenn {shown(case.argv, tmp)}    # {case.what}"
                         + (" (must succeed)" if case.ok else ""))
            err = r["stderr"].rstrip().replace(str(tmp) + "/", "")
            if case.ok and r["rc"] == 0:
                err = "\n".join(line for line in err.splitlines() if "error" in line.lower())
                out = r["stdout"].strip().splitlines()
                parts.append((out[0][:100] + (" ..." if len(out) > 1 else "")) if out else "")
            if err:
                parts.append(err)
            parts.append(f"exit status {r['rc']}" + (f"   <-- {r['problem']}"
                                                     if r["problem"] else "") + "\n")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())

"""The command line's own behaviour: what runs without a command, and the hints it prints."""

import sys

from treenn import cli


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
    assert cli._command_name() == "venv/bin/treenn"
    monkeypatch.setenv("PATH", str(bin_dir))
    assert cli._command_name() == "treenn"

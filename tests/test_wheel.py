"""The wheel as users get it: built, installed with its dependencies in a fresh virtual
environment, and run from another directory (no checkout on the path).

Slow (about a minute: a new environment gets torch and DGL), but it is the only test that
sees the package as installed rather than as the editable checkout.
"""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _run(args, cwd, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _checkout_packages() -> set[str]:
    """Installed package names of every folder with an ``__init__.py`` in the checkout."""
    names = set()
    for folder, package in (("treenn", "treenn"), ("data", "treenn/data"),
                            ("parsers", "treenn/parsers")):
        for init in (ROOT / folder).rglob("__init__.py"):
            names.add(str(Path(package) / init.parent.relative_to(ROOT / folder)))
    return {n.rstrip("/.").removesuffix("/.") for n in names}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", dist, ROOT], cwd=dist)
    (path,) = dist.glob("treenn-*.whl")
    return path


def test_wheel_claims_only_the_treenn_name_and_holds_every_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"treenn", wheel.name.split("-py3")[0]
                                                + ".dist-info"}
    packages = {str(Path(n).parent) for n in names if n.endswith("__init__.py")}
    assert _checkout_packages() <= packages
    assert any(n.endswith("report/static/report.css") for n in names)


def test_wheel_installs_in_a_fresh_venv_and_trains_and_runs_the_readme_api(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    constraints = ROOT / "constraints.txt"
    # torch first and pinned, as README says (an open range pulls a CUDA build)
    _run([python, "-m", "pip", "install", "-q", "-c", constraints, "torch==2.13.0"], tmp_path)
    _run([python, "-m", "pip", "install", "-q", "-c", constraints, wheel], tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("data", "parsers", "train"):  # no generic top-level names installed
        proc = subprocess.run([python, "-c", f"import {name}"], cwd=elsewhere,
                              capture_output=True, text=True)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr
    _run([env_dir / "bin" / "treenn", "-q", "train", "--task", "listops", "--model",
          "tree-lstm", "--epochs", "1", "--listops-train", "500", "--out", "run"], elsewhere)
    assert (elsewhere / "run" / "best.pt").is_file()
    readme = elsewhere / "README.md"
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    _run([python, "-m", "doctest", "-o", "ELLIPSIS", "-o", "NORMALIZE_WHITESPACE", readme],
         elsewhere)

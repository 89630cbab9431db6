"""Every docstring example in the package, and the Python API example in README.md.

pytest's own ``--doctest-modules`` would import ``data/`` and ``parsers/`` by their folder
names; these tests import every module by its installed name (``treenn.data.trees``), the
way users see them.
"""

import doctest
import importlib
import os
import pkgutil
from pathlib import Path

import pytest

import treenn
from tests.conftest import ROOT

# modules with a __main__ block that imports optional tools, or nothing to test, are fine too
MODULES = sorted(m.name for m in pkgutil.walk_packages(treenn.__path__, "treenn.")
                 ) + ["treenn.data." + m.name for m in pkgutil.iter_modules([str(ROOT / "data")])
                      ] + ["treenn.parsers." + m.name
                           for m in pkgutil.iter_modules([str(ROOT / "parsers")])]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_readme_python_api(tmp_path, monkeypatch):
    """README's Python API section runs as written (in a scratch directory)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLTK_DATA", os.environ.get("NLTK_DATA", ""))
    result = doctest.testfile(str(Path(ROOT, "README.md")), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

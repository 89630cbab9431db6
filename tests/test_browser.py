"""Acceptance: headless Chromium opens the tree page and the report from disk and draws them.

Each page is loaded twice: ``--dump-dom`` gives the document after its scripts ran, and
``--screenshot`` a picture that must not be blank. Chromium's console log (on stderr with
``--enable-logging=stderr``) must hold no line from the page: our pages log nothing, so any
console message, an uncaught exception above all, is a failure.
"""

import re
import subprocess
from pathlib import Path

import pytest

from tests.test_report import fake_run
from tests.test_show import SST_PRED, SST_TREE, one_hot
from treenn.data.tasks import get_task
from treenn.data.trees import parse_tree

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium (apt-get install chromium)")


def chromium(tmp_path, url: str, *flags: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=1",
           *flags, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, "\n".join(console)
    return proc


def dump_dom(tmp_path, url: str) -> str:
    proc = chromium(tmp_path, url, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(tmp_path, url: str, size=(1200, 900)):
    """The page as an ``[H, W, channels]`` float array."""
    import matplotlib.image

    shot = tmp_path / f"shot-{len(list(tmp_path.glob('shot-*')))}.png"
    proc = chromium(tmp_path, url, f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}",
                    "--hide-scrollbars")
    assert shot.is_file(), proc.stderr[-2000:]
    return matplotlib.image.imread(shot)


def _has_color(pixels, hex_color: str, tol: float = 6) -> bool:
    rgb = pixels[..., :3].reshape(-1, 3) * 255
    target = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return bool((abs(rgb - target).sum(axis=1) < tol).any())


def test_tree_page_draws_trees_filters_errors_and_logs_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    from treenn.show import build_shown_tree, html_page

    task = get_task("sst5")
    trees = [build_shown_tree(task, parse_tree(SST_TREE), one_hot(SST_PRED, 5)),  # root wrong
             build_shown_tree(task, parse_tree("(3 (3 a) (2 b))"), one_hot([3, 1, 3], 5)),
             build_shown_tree(task, parse_tree("(1 (1 a) (2 b))"), one_hot([1, 2, 1], 5))]
    page = tmp_path / "trees.html"
    page.write_text(html_page(trees, "browser test", ["three sentences"]))
    url = page.as_uri()

    dom = dump_dom(tmp_path, url)
    assert 'data-ready="1"' in dom and 'data-shown="3"' in dom
    assert "showing 3 of 3 sentences" in dom
    assert len(re.findall(r'<g class="node', dom)) == 7 + 3 + 3
    for mode, shown, visible in (("root", 1, ["s1"]), ("node", 2, ["s1", "s2"])):
        dom = dump_dom(tmp_path, f"{url}#filter={mode}")
        assert f'data-shown="{shown}"' in dom and f"showing {shown} of 3 sentences" in dom
        sections = re.findall(r'<section class="sentence" id="(s\d)"[^>]*?( hidden="")?>', dom)
        assert [s for s, hidden in sections if not hidden] == visible

    pixels = screenshot(tmp_path, url)
    assert pixels[..., :3].std() > 0.05  # not a blank page
    for color in ("#F4A582", "#92C5DE", "#999999"):  # the tree's classes are painted
        assert _has_color(pixels, color), color


def test_report_page_draws_tables_and_plots_and_logs_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    from treenn.report import build_report, collect_runs, write_report

    gold = [0, 1, 2, 3, 4] * 8
    right = gold
    wrong = [(g + 1) % 5 for g in gold]
    paths = [fake_run(tmp_path / "runs" / "tree", gold=gold, pred=right[:30] + wrong[30:],
                      length=list(range(1, 41)), height=[2 + i // 4 for i in range(40)]),
             fake_run(tmp_path / "runs" / "lstm", model="lstm", gold=gold,
                      pred=right[:20] + wrong[20:], length=list(range(1, 41)),
                      height=[2 + i // 4 for i in range(40)])]
    runs, skipped = collect_runs(paths)
    rep, _ = build_report(runs, skipped, n_boot=500)
    _, page = write_report(rep, tmp_path / "report")
    n_plots = len(rep.plots())
    assert n_plots >= 4

    dom = dump_dom(tmp_path, page.as_uri())
    assert 'data-ready="1"' in dom and f'data-plots="{n_plots}"' in dom
    toc = dom[dom.index('<nav id="toc">'):dom.index("</nav>")]
    assert toc.count("<a ") == dom.count("<h2 ") and "Significance" in toc
    assert dom.count("<table>") >= 5 and "Tree-LSTM" in dom

    pixels = screenshot(tmp_path, page.as_uri(), size=(1200, 2400))
    assert pixels[..., :3].std() > 0.05
    # matplotlib's first two line colours: the plots were drawn, not just the tables
    assert _has_color(pixels, "#1f77b4", tol=20) and _has_color(pixels, "#ff7f0e", tol=20)

"""``train.py show RUN_DIR --trees FILE | --text FILE``: predict every node and draw it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from treenn.show.html import html_page
from treenn.show.layout import draw_tree
from treenn.show.png import check_png_size, to_png
from treenn.show.shown import ShownTree, build_shown_tree
from treenn.show.svg import to_svg
from treenn.show.term import term_legend, term_tree

FORMATS = ("term", "svg", "html", "png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train.py show``."""
    from treenn.arguments import add_input_arguments, add_threads_argument, int_in, output_file

    p.add_argument("run_dir", metavar="RUN_DIR")
    add_input_arguments(p)
    p.add_argument("--format", choices=FORMATS,
                   help="term (default), svg, html (one page of all trees) or png; "
                   "default from --out's extension")
    p.add_argument("--out", type=output_file, metavar="PATH",
                   help="file to write (svg/png: PATH, or PATH-1.svg, PATH-2.svg, ... for "
                   "several trees); default: standard output (not for png)")
    p.add_argument("--probabilities", action="store_true",
                   help="term: print each node's class distribution (an outline of the "
                   "tree, one node a line, fitted to the terminal's width)")
    p.add_argument("--limit", type=int_in(1, None), metavar="N",
                   help="show only the first N trees")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="term: ANSI colours (auto: when writing to a terminal)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    add_threads_argument(p)


def _numbered(path: Path, k: int, n: int) -> Path:
    return path if n == 1 else path.with_name(f"{path.stem}-{k}{path.suffix}")


def use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return (sys.stdout.isatty()
            and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")


def _check_format(args: argparse.Namespace) -> str:
    """The output format (``--format``, else from ``--out``'s extension), refused early when
    it cannot be written."""
    from treenn.errors import TreennError

    fmt = args.format
    if fmt is None:
        suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
        fmt = suffix if suffix in ("svg", "html", "png") else "term"
    if fmt == "png" and not args.out:
        raise TreennError("--format png needs --out PATH")
    if fmt == "png":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise TreennError("--format png draws with matplotlib: pip install matplotlib "
                              "(or use --format svg)") from None
    return fmt


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _term(shown: list[ShownTree], args: argparse.Namespace, out: Path | None) -> str:
    color = use_color(args.color) if out is None else args.color == "always"
    text = "\n\n".join(term_tree(s, args.probabilities, color) for s in shown)
    return text + "\n\n" + term_legend(shown[0], color) + "\n"


def _page(shown: list[ShownTree], args: argparse.Namespace, task) -> str:
    from treenn.runs import read_run_config

    run_dir = Path(args.run_dir)
    title = f"{run_dir.name}: predictions on {len(shown)} trees"
    info = read_run_config(run_dir)
    meta = [f"run {run_dir} ({args.checkpoint} checkpoint), task {task.name}"]
    if info is not None:
        train_cfg = info["train"]
        meta[0] += f", model {train_cfg['model']}, seed {train_cfg['seed']}"
    return html_page(shown, title, meta)


def _pictures(shown: list[ShownTree], fmt: str, out: Path | None) -> None:
    """One SVG or PNG per tree, titled with its words (every PNG's size is checked before
    the first is written)."""
    drawings = []
    for k, s in enumerate(shown, start=1):
        words = " ".join(s.words)
        title = f"#{k} {words if len(words) <= 120 else words[:117] + '...'}"
        drawings.append(draw_tree(s, legend=True, title=title))
        if fmt == "png":
            check_png_size(drawings[-1])
    for k, drawing in enumerate(drawings, start=1):
        if fmt == "svg":
            _write(to_svg(drawing) + "\n", out and _numbered(out, k, len(shown)))
        else:
            to_png(drawing, _numbered(out, k, len(shown)))


def run(args: argparse.Namespace) -> int:
    """``train.py show``: predict every node of the input trees and draw them."""
    from treenn.arguments import input_trees
    from treenn.errors import TreennError
    from treenn.induced import predict_with_trees
    from treenn.training import run_task

    run_dir = Path(args.run_dir)
    fmt = _check_format(args)
    task = run_task(run_dir, args.checkpoint)
    trees = input_trees(task, args)[: args.limit]
    if fmt == "svg" and len(trees) > 1 and not args.out:
        raise TreennError(f"{len(trees)} trees make {len(trees)} SVG files: pass --out PATH "
                          "(or --limit 1, or --format html for one page)")
    out = Path(args.out) if args.out else None  # its folder was checked by argparse
    n_files = len(trees) if fmt in ("svg", "png") else 1
    for k in range(1, n_files + 1) if out is not None else ():
        if _numbered(out, k, n_files).is_dir():
            raise TreennError(f"--out {out}: {_numbered(out, k, n_files)} is a folder")
    trees, probs = predict_with_trees(run_dir, trees, args.checkpoint)
    shown = [build_shown_tree(task, t, p) for t, p in zip(trees, probs, strict=True)]
    if fmt == "term":
        _write(_term(shown, args, out), out)
    elif fmt == "html":
        _write(_page(shown, args, task), out)
    else:
        _pictures(shown, fmt, out)
    if out is not None:
        n = n_files
        where = out if n == 1 else f"{_numbered(out, 1, n)} ... {_numbered(out, n, n)}"
        print(f"wrote {where}", file=sys.stderr)
    return 0

"""The report's blocks (see :class:`treenn.report.document.Report`) as Markdown."""

from __future__ import annotations

from collections.abc import Sequence


def render_markdown(blocks: Sequence[tuple]) -> str:
    """``report.md``: plots are linked as ``plots/<name>``, which ``write_report`` writes.

    >>> print(render_markdown([("h2", "Runs"), ("table", ["run", "seed"], [["a", 1]])]), end="")
    ## Runs
    <BLANKLINE>
    | run | seed |
    |---|---|
    | a | 1 |
    """
    return "\n\n".join(text for text in map(_block, blocks) if text is not None) + "\n"


def _block(b: tuple) -> str | None:
    """One block's Markdown; ``None`` (left out) for an unknown kind."""
    kind = b[0]
    if kind in ("h1", "h2", "h3"):
        return "#" * int(kind[1]) + " " + b[1]
    if kind == "p":
        return b[1]
    if kind == "list":
        return "\n".join(f"- {item}" for item in b[1])
    if kind == "table":
        return "\n".join(["| " + " | ".join(b[1]) + " |",
                          "|" + "|".join("---" for _ in b[1]) + "|"]
                         + ["| " + " | ".join(map(str, row)) + " |" for row in b[2]])
    if kind == "plot":
        return f"![{b[3]}](plots/{b[1]})"
    return None

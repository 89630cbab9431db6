"""The report as a list of blocks, which :mod:`treenn.report.markdown` and
:mod:`treenn.report.html` render."""

from __future__ import annotations

from dataclasses import dataclass, field

from treenn.report.html import render_html
from treenn.report.markdown import render_markdown


@dataclass
class Report:
    """The report as a list of blocks, rendered to Markdown and HTML.

    Blocks: ``("h1"|"h2"|"h3"|"p", text)``, ``("list", items)``, ``("table", header,
    rows)``, ``("plot", file name, svg text, caption)``.
    """

    blocks: list[tuple] = field(default_factory=list)

    def add(self, *block) -> None:
        self.blocks.append(block)

    def plots(self) -> list[tuple[str, str]]:
        return [(b[1], b[2]) for b in self.blocks if b[0] == "plot"]

    def markdown(self) -> str:
        return render_markdown(self.blocks)

    def html(self, title: str) -> str:
        return render_html(self.blocks, title)

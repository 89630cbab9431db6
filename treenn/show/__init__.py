"""``train.py show``: trees coloured by a run's predictions, in the terminal, SVG, HTML or PNG.

Every node of the input tree gets the model's predicted class; where the input carries gold
labels the node shows gold and prediction side by side (left half gold, right half
predicted) and wrong predictions get a thick black outline. For ListOps each complete
sub-expression shows its predicted and its true value (computed from the tokens).

Modules, by job:

- :mod:`~treenn.show.shown`: the input tree's nodes paired with their predictions.
- :mod:`~treenn.show.palette`: class colours and short names, decoration colours.
- :mod:`~treenn.show.shapes`, :mod:`~treenn.show.layout` and :mod:`~treenn.show.legend`: the
  picture computed once as a list of plain shapes (boxes, lines, text).
- :mod:`~treenn.show.svg`, :mod:`~treenn.show.png` (matplotlib, optional),
  :mod:`~treenn.show.html` (one page of many trees; its CSS and script in ``static/``) and
  :mod:`~treenn.show.term` (Unicode lines and ANSI colours): the formats.
- :mod:`~treenn.show.command`: the ``show`` command's arguments and its run.

>>> from treenn.data.tasks import get_task
>>> from treenn.data.trees import parse_tree
>>> shown = build_shown_tree(get_task("sst2"), parse_tree("(4 (3 good) (2 fun))"),
...                          [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
>>> to_svg(draw_tree(shown)).startswith("<svg")
True
"""

from treenn.show.command import FORMATS, add_arguments, run, use_color
from treenn.show.html import html_page
from treenn.show.layout import draw_tree
from treenn.show.legend import draw_legend, draw_legend_only, legend_items, legend_swatch
from treenn.show.palette import (
    CATEGORICAL_COLORS,
    CROSS,
    NO_GOLD_FILL,
    NO_GOLD_STROKE,
    NONE_FILL,
    NONE_STROKE,
    OK_STROKE,
    SENTIMENT2_COLORS,
    SENTIMENT5_COLORS,
    WRONG_STROKE,
    task_colors,
    task_short_names,
)
from treenn.show.png import to_png
from treenn.show.shapes import (
    BOX_H,
    BOX_W,
    FONT_FAMILY,
    GAP,
    LEGEND_FONT,
    LEVEL_H,
    MARGIN,
    NODE_FONT,
    TITLE_FONT,
    WORD_FONT,
    Drawing,
    Shape,
    text_width,
)
from treenn.show.shown import ShownNode, ShownTree, build_shown_tree
from treenn.show.svg import to_svg
from treenn.show.term import term_legend, term_tree

__all__ = [
    "BOX_H", "BOX_W", "CATEGORICAL_COLORS", "CROSS", "FONT_FAMILY", "FORMATS", "GAP",
    "LEGEND_FONT", "LEVEL_H", "MARGIN", "NODE_FONT", "NONE_FILL", "NONE_STROKE",
    "NO_GOLD_FILL", "NO_GOLD_STROKE", "OK_STROKE", "SENTIMENT2_COLORS",
    "SENTIMENT5_COLORS", "TITLE_FONT", "WORD_FONT", "WRONG_STROKE",
    "Drawing", "Shape", "ShownNode", "ShownTree", "add_arguments", "build_shown_tree",
    "draw_legend", "draw_legend_only", "draw_tree", "html_page", "legend_items",
    "legend_swatch", "run", "task_colors", "task_short_names", "term_legend", "term_tree",
    "text_width", "to_png", "to_svg", "use_color",
]

"""``train.py compare``: tree models against sequence models, as ``report.md`` and ``report.html``.

Given finished run directories (or a grid of tasks x models x seeds to train first), the
report holds, per task:

* accuracy (root, all labelled phrases, and for 5-class SST the collapsed binary accuracy)
  as mean ± standard deviation over seeds, with training speed and parameter counts;
* root accuracy by sentence length and by tree depth;
* confusion matrices (root labels, summed over seeds) and learning curves;
* for each tree model against the best sequence model of the same task, a paired test on the
  same test sentences: a bootstrap confidence interval of the accuracy difference and
  McNemar's exact test.

Runs of different tasks are never mixed in one row, runs whose test sets differ are never
paired, and unfinished runs are skipped with the reason printed and listed in the report.

The modules, in the order the command uses them:

* :mod:`~treenn.report.command`: the ``compare`` command's arguments and ``run``;
* :mod:`~treenn.report.grid`: training the grid of runs (``--tasks``, ``--models``);
* :mod:`~treenn.report.collect`: finished run directories read into :class:`RunInfo` rows;
* :mod:`~treenn.report.analysis`: runs grouped into models, tree against sequence models;
* :mod:`~treenn.report.stats`: bootstrap, McNemar, mean/std, buckets (numpy only);
* :mod:`~treenn.report.build`: the report assembled and written;
* :mod:`~treenn.report.document`, :mod:`~treenn.report.markdown`,
  :mod:`~treenn.report.html`: the report's blocks and their two renderings (the page's style
  sheet and script are ``static/report.css`` and ``static/report.js``);
* :mod:`~treenn.report.plots`: the SVG plots (matplotlib, the ``[viz]`` extra).

The names below are re-exported here, so ``from treenn.report import build_report`` and
``treenn.report.run`` keep working::

    from treenn.report import build_report, collect_runs, write_report
    runs, skipped = collect_runs(["runs/a", "runs/b"])
    write_report(build_report(runs, skipped)[0], "report")
"""

from treenn.report.analysis import Comparison, Group, compare_groups, group_runs
from treenn.report.build import build_report, write_report
from treenn.report.collect import (
    DISPLAY_NAMES,
    NOT_VARIANT,
    RunInfo,
    SkipRun,
    collect_runs,
    expand_run_dirs,
    load_run,
    model_label,
)
from treenn.report.command import add_arguments, run
from treenn.report.document import Report
from treenn.report.grid import grid_action, grid_configs, run_grid
from treenn.report.plots import figure_svg, plot_buckets, plot_confusions, plot_curves
from treenn.report.stats import (
    ALPHA,
    BOOTSTRAP_SEED,
    N_BOOTSTRAP,
    bucket_accuracy,
    bucket_edges,
    bucket_labels,
    format_p,
    mcnemar_exact,
    mean_std,
    paired_bootstrap,
)

__all__ = [
    "ALPHA", "BOOTSTRAP_SEED", "DISPLAY_NAMES", "NOT_VARIANT", "N_BOOTSTRAP", "Comparison",
    "Group", "Report", "RunInfo", "SkipRun", "add_arguments", "bucket_accuracy",
    "bucket_edges", "bucket_labels", "build_report", "collect_runs", "compare_groups",
    "expand_run_dirs", "figure_svg", "format_p", "grid_action", "grid_configs", "group_runs",
    "load_run", "mcnemar_exact", "mean_std", "model_label", "paired_bootstrap",
    "plot_buckets", "plot_confusions", "plot_curves", "run", "run_grid", "write_report",
]

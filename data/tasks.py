"""Task definitions: where the trees come from, what the labels mean, training defaults.

``TASKS`` is the one place where a task name becomes a task.

* ``sst5``: fine-grained sentiment, 5 classes on every node.
* ``sst2``: binary sentiment as in Socher et al. (2013) and Tai et al. (2015): sentences whose
  root is neutral are removed; neutral phrases stay in the trees but carry no label, so they
  are neither trained on nor scored.
* ``listops``: the value (0-9) of a nested list expression, labelled at the root only.
* ``ptb``: constituency parsing of NLTK's Penn Treebank sample (a ``parsing`` task: its
  models are the parsers of ``treenn.parsers.registry``, scored by evalb F1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nltk import Tree

from treenn.data import listops, listops_generator, ptb, sst
from treenn.data.prepared import file_fingerprint
from treenn.data.trees import data_folder, int_label, parse_tree, read_input_lines
from treenn.errors import DataError, TreennError
from treenn.options import check_fields

SENTIMENT5 = ("very negative", "negative", "neutral", "positive", "very positive")


@dataclass(frozen=True)
class Task:
    name: str
    n_classes: int
    class_names: tuple[str, ...]
    #: "classification" (a class per node; the classifiers of ``treenn.models``) or
    #: "parsing" (a tree per sentence; the parsers of ``treenn.parsers.registry``)
    kind: str = "classification"
    #: option groups the task reads besides the training configuration ("listops": the
    #: generator's --listops-* flags)
    options: tuple[str, ...] = ()
    #: pictures: one colour per class (``#rrggbb``) and labels short enough for a node box;
    #: empty: categorical colours and the class names' first letters
    colors: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    #: metrics: also score "negative vs positive" with the neutral class left out (SST-5:
    #: classes below ``polarity`` are negative, above it positive), as CoreNLP reports
    polarity: int | None = None
    #: node labels are the values of complete sub-expressions (ListOps): a token inside an
    #: expression has none, and a lone digit is its own value
    expression_values: bool = False
    #: what :meth:`sentence_group` sorts sentences by, for reports' "root accuracy by ..."
    #: table (ListOps: "root operator"); None: the task has no such grouping
    group_name: str | None = None
    #: Hyper-parameters used when the command line does not set them.
    defaults: dict = field(default_factory=dict)
    splits: tuple[str, ...] = ("train", "dev", "test")

    def label_of(self, label: str) -> int:
        """Class id of a node label, ``-1`` for "unlabelled"; ``ValueError`` if invalid."""
        raise NotImplementedError

    def gold_or_none(self, label: str) -> int:
        """Like :meth:`label_of` but any unusable label means "no gold label" (-1)."""
        try:
            return self.label_of(label)
        except ValueError:
            return -1

    def load(self, data_dir: str | None, options: dict) -> dict[str, list[Tree]]:
        raise NotImplementedError

    def sentence_group(self, words: Sequence[str]) -> str:
        """The group of a sentence, given its words (leaves) in order; asked only when
        ``group_name`` is set."""
        raise NotImplementedError

    def source(self, data_dir: str | None, options: dict) -> dict:
        """What :meth:`load` would read, as plain data (file checksums or generator
        settings): the key of the dataset cache."""
        raise NotImplementedError

    #: whether a line that is not a bracketed tree is raw text (to tokenise and parse)
    reads_raw_text: bool = False

    def parse_line(self, line: str) -> Tree:
        """One input line (of ``predict --trees``, or a string given to the Python API) as
        a tree; ``ValueError`` with a one-line reason when it is not one."""
        raise NotImplementedError

    def read_input(self, path: str) -> list[Tree]:
        """Trees given to ``predict --trees``: one per line, labels optional."""
        trees = []
        for lineno, line in read_input_lines(path):
            try:
                trees.append(self.parse_line(line))
            except ValueError as err:
                raise DataError.at(path if path != "-" else "<stdin>", lineno, str(err)) from None
        return trees


@dataclass(frozen=True)
class SSTTask(Task):
    binary: bool = False
    reads_raw_text: bool = True

    def label_of(self, label: str) -> int:
        value = int_label(label)
        if not 0 <= value <= 4:
            raise ValueError(f"label {value} is outside 0-4")
        if not self.binary:
            return value
        return -1 if value == 2 else int(value > 2)

    def keep(self, tree: Tree) -> bool:
        return not self.binary or tree.label() != "2"

    def source(self, data_dir, options):
        folder = sst.sst_dir(data_dir)
        return {s: file_fingerprint(folder / f"{s}.txt") for s in self.splits}

    def load(self, data_dir, options):
        folder = sst.sst_dir(data_dir)
        return {split: [t for t in sst.read_sst(folder / f"{split}.txt") if self.keep(t)]
                for split in self.splits}

    def parse_line(self, line):
        return parse_tree(line)


@dataclass(frozen=True)
class ListOpsTask(Task):
    def label_of(self, label: str) -> int:
        if label == "":
            return -1
        return listops.parse_label(label)

    def sentence_group(self, words):
        """The root operator without its bracket (MAX, MED, MIN, SM; vocabularies may have
        lower-cased it), ``digit`` for a lone digit, the first word itself otherwise."""
        first = words[0] if words else ""
        if first.upper() in listops.OPERATORS:
            return first[1:].upper()
        return "digit" if first in listops.DIGITS else first

    def source(self, data_dir, options):
        if data_dir is None:
            cfg = listops_generator.config(options.get("listops", {}))
            check_fields(cfg)
            return {"generate": cfg.to_dict()}
        folder = data_folder(data_dir)
        source = {k: file_fingerprint(v) for k, v in listops.find_split_files(folder).items()}
        cut = listops_generator.config(options.get("listops", {})).train_max_length
        return {**source, "train_max_length": cut} if cut and "train" in source else source

    def load(self, data_dir, options):
        if data_dir is None:
            cfg = listops_generator.config(options.get("listops", {}))
            try:
                return listops_generator.generate(cfg)
            except ValueError as err:
                raise TreennError(f"ListOps generator: {err}") from None
        folder = data_folder(data_dir)
        files = listops.find_split_files(folder)
        if not files:
            raise TreennError(f"data directory {folder} has no ListOps split files (expected "
                              "*train*.tsv, *dev*.tsv or *val*.tsv, *test*.tsv)")
        # every split found; training needs train (checked where the vocabulary is built),
        # scoring one split needs only that one
        data = {split: listops.read_tsv(path) for split, path in files.items()}
        if "dev" not in data and "train" in data:
            # The original release has no dev split: hold out 5% of train, always the same.
            data = listops.hold_out_dev(data)
        cut = listops_generator.config(options.get("listops", {})).train_max_length
        try:
            return listops_generator.shorten_train(data, cut)
        except ValueError as err:
            raise TreennError(f"{folder}: {err}") from None

    def parse_line(self, line, label_first: bool = True):
        """``expression`` or ``label<TAB>expression`` (``expression<TAB>label`` for LRA's
        layout, ``label_first=False``); a label, when given, must be the expression's value.
        """
        fields = line.split("\t")
        if len(fields) > 2:
            raise ValueError(f"expected an expression, or a label and an expression, "
                             f"not {len(fields)} tab-separated fields")
        label = None
        expr = fields[-1]
        if len(fields) == 2:
            label_text, expr = fields if label_first else fields[::-1]
            label = listops.parse_label(label_text) if label_text.strip() else None
        return listops.parse_expression(expr, label)

    def read_input(self, path):
        """``expression``, ``label<TAB>expression``, or LRA's ``Source<TAB>Target`` layout."""
        trees = []
        lines = read_input_lines(path)
        label_first = True
        if lines[0][1].split("\t")[:2] == ["Source", "Target"]:
            lines, label_first = lines[1:], False
        for lineno, line in lines:
            try:
                trees.append(self.parse_line(line, label_first))
            except ValueError as err:
                raise DataError.at(path if path != "-" else "<stdin>", lineno, str(err)) from None
        return trees


@dataclass(frozen=True)
class PTBTask(Task):
    """Parsing: the trees are what is predicted, so nodes have no class."""

    kind: str = "parsing"

    def label_of(self, label: str) -> int:
        return -1

    def source(self, data_dir, options):
        return {"nltk_data": None if data_dir is None else str(Path(data_dir).resolve())}

    def load(self, data_dir, options):
        return ptb.load_ptb(data_dir)

    def parse_line(self, line):
        return ptb.clean(parse_tree(line))


_SST_DEFAULTS = {"x_size": 300, "h_size": 150, "batch_size": 25, "epochs": 10,
                 "optimizer": "adagrad", "lr": 0.05, "emb_lr": 0.05, "weight_decay": 1e-4,
                 "dropout": 0.5}

TASKS: dict[str, Task] = {
    "sst5": SSTTask("sst5", 5, SENTIMENT5, defaults=_SST_DEFAULTS,
                    colors=("#B2182B", "#F4A582", "#999999", "#92C5DE", "#2166AC"),
                    short_names=("\u2212\u2212", "\u2212", "0", "+", "++"), polarity=2),
    "sst2": SSTTask("sst2", 2, ("negative", "positive"), defaults=_SST_DEFAULTS, binary=True,
                    colors=("#F4A582", "#92C5DE"), short_names=("\u2212", "+")),
    "listops": ListOpsTask(
        "listops", 10, tuple(str(d) for d in range(10)),
        defaults={"x_size": 64, "h_size": 128, "batch_size": 64, "epochs": 20,
                  "optimizer": "adam", "lr": 2e-3, "emb_lr": 2e-3, "weight_decay": 0.0,
                  "dropout": 0.1},
        splits=("train", "dev", "test", "extrap"), options=("listops",),
        expression_values=True, group_name="root operator"),
    "ptb": PTBTask("ptb", 0, ()),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise TreennError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name]

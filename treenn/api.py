"""The Python API: train a model, load it back, classify trees or sentences, parse text.

Everything the command line does goes through these calls (or the library functions they
wrap), so a user can do the same from Python::

    import treenn
    clf = treenn.TreeClassifier.from_pretrained("runs/t")
    for p in clf.predict(["(3 (2 a) (3 (3 good) (2 film)))", "A gorgeous movie ."]):
        print(p.label, p.tree)

Saved models are directories with ``config.json`` and ``best.pt`` (a plain dict that loads
with ``torch.load(weights_only=True)``), the layout of a training run, so a directory written
by :meth:`TreeClassifier.save_pretrained` also works with ``train.py evaluate``/``predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from nltk import Tree

from treenn.data.graphs import Batch, collate_arrays, relabel, tree_to_arrays
from treenn.data.tasks import Task, get_task
from treenn.data.trees import parse_tree
from treenn.data.vocab import Vocab
from treenn.errors import TreennError
from treenn.induced import induce
from treenn.models import Classifier
from treenn.parsers import Parser as ParserBase
from treenn.parsers.pipeline import binarize, load_parser
from treenn.parsers.tokenize import tokenize
from treenn.runs import RunDir, atomic_save
from treenn.training import CHECKPOINT_FORMAT, Dataset, TrainConfig, check_arity, load_model
from treenn.training import predict_nodes as _predict_nodes
from treenn.training import train as _train

__all__ = ["Parser", "Prediction", "TreeClassifier", "train", "trees_to_batch"]


def train(task: str, model: str, out: str | Path, **options) -> dict:
    """Train a model on a task into the run directory ``out``; returns the best epoch's
    evaluation by split (``{"dev": {...}, "test": {...}}``).

    ``options`` are the fields of :class:`treenn.training.TrainConfig` (the ``train.py
    train`` flags with ``_`` for ``-``), e.g. ``epochs=5, seed=2, data_dir="..."``, and
    ``resume=True`` or ``overwrite=True`` for a directory that already holds a run.
    """
    resume, overwrite = options.pop("resume", False), options.pop("overwrite", False)
    return _train(TrainConfig(task=task, model=model, out=str(out), **options), resume=resume,
                  overwrite=overwrite)


def _label_or_unlabelled(label: str) -> int:
    """Integer node labels are gold labels; anything else (or nothing) is unlabelled."""
    return int(label) if label.strip().lstrip("-").isdigit() else -1


def trees_to_batch(trees: Iterable[Tree | str], vocab: Vocab,
                   label_of: Callable[[str], int] = _label_or_unlabelled) -> Batch:
    """Batch trees (nltk ``Tree`` or bracketed strings) for an encoder.

    Nodes are numbered per tree with its leaves first, left to right, then the inner nodes
    bottom-up, the root last; ``batch.roots`` holds each tree's root id, ``batch.words`` the
    vocabulary id of every node (``PAD_ID`` on inner nodes) and ``batch.labels`` the integer
    label of every node (``-1`` where ``label_of`` finds none).

    >>> vocab = Vocab.build([["a", "good", "film"]])
    >>> batch = trees_to_batch(["(3 (2 a) (3 (3 good) (2 film)))"], vocab)
    >>> batch.n_trees, batch.graph.num_nodes(), batch.roots.tolist(), batch.labels.tolist()
    (1, 5, [4], [2, 3, 2, 3, 3])
    """
    items = [parse_tree(t) if isinstance(t, str) else t for t in trees]
    return collate_arrays([tree_to_arrays(t, vocab, label_of) for t in items])


@dataclass
class Prediction:
    """A classifier's output for one tree.

    Attributes:
        tree: the input tree with every node labelled by its predicted class id (words
            under preterminals), as SST writes its labels; for a latent-tree model
            (``gumbel-tree-lstm``, the beam models: ``beam-tree-lstm``, ``beam-tree-grc`` and
            their ``gumbel-`` variants) the tree it built over the words.
        label: the root's predicted class name.
        node_labels: predicted class name per node of ``tree``, in the batch numbering of
            :func:`trees_to_batch` (leaves left to right, then inner nodes, root last).
        probabilities: ``[n_nodes, n_classes]`` class distribution per node, same order.
    """

    tree: Tree
    label: str
    node_labels: list[str]
    probabilities: torch.Tensor


class TreeClassifier:
    """A trained tree or sequence classifier with its vocabulary and task.

    Load one with :meth:`from_pretrained` (a run directory of ``train.py train``, or a
    directory written by :meth:`save_pretrained`).
    """

    def __init__(self, model: Classifier, vocab: Vocab, task: Task, checkpoint: dict):
        self.model, self.vocab, self.task = model.eval(), vocab, task
        self._checkpoint = checkpoint

    @classmethod
    def from_pretrained(cls, path: str | Path, checkpoint: str = "best",
                        device: str = "cpu") -> TreeClassifier:
        """Load ``path/<checkpoint>.pt`` (``best`` or ``last``) on ``device``."""
        model, ckpt = load_model(path, checkpoint)
        model.to(torch.device(device))
        return cls(model, Vocab.from_dict(ckpt["vocab"]), get_task(ckpt["task"]), ckpt)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.task.class_names

    def save_pretrained(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write ``config.json`` and ``best.pt`` into ``directory`` (created if needed).

        A directory that already holds a checkpoint is refused unless ``overwrite``.
        """
        path = Path(directory)
        if not overwrite and any((path / f).exists() for f in ("best.pt", "last.pt")):
            raise TreennError(f"{path} already holds a model; pass overwrite=True to replace "
                              "it, or choose another directory")
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        ckpt = {**self._checkpoint, "format": CHECKPOINT_FORMAT,
                "config": asdict(self.model.cfg), "vocab": self.vocab.to_dict(),
                "state_dict": state}
        RunDir(path).write_config({"train": ckpt.get("train_config", {}),
                                   "model": ckpt["config"], "vocab_size": len(self.vocab)})
        atomic_save(ckpt, path / "best.pt")
        return path

    def to_trees(self, inputs: Iterable[Tree | str],
                 parser: str | ParserBase | Parser = "right-branching") -> list[Tree]:
        """Trees for :meth:`predict`: ``Tree`` objects as they are; strings are one input
        line of the task (a bracketed tree, a ListOps expression), or, for sentiment, raw
        text that is tokenised and parsed by ``parser`` (a name, a parser run directory or
        a :class:`Parser`) and binarised. A run directory is loaded on every call: pass a
        :class:`Parser` to parse many batches with one."""
        trees: list[Tree | None] = []
        raw: list[tuple[int, list[str]]] = []
        for i, item in enumerate(inputs):
            if isinstance(item, Tree):
                trees.append(item)
            elif not isinstance(item, str):
                raise TreennError(f"input {i + 1}: expected an nltk Tree or a string, got "
                                  f"{type(item).__name__}")
            elif item.lstrip().startswith("(") or not self.task.reads_raw_text:
                try:
                    trees.append(self.task.parse_line(item))
                except ValueError as err:
                    raise TreennError(f"input {i + 1}: {err}") from None
            else:
                trees.append(None)
                raw.append((i, tokenize(item)))
        if raw:
            parsed = Parser.from_pretrained(parser).parse([tokens for _, tokens in raw])
            for (i, _), tree in zip(raw, parsed, strict=True):
                trees[i] = binarize(tree)
        return trees

    @torch.no_grad()
    def predict(self, inputs: Iterable[Tree | str] | Tree | str,
                parser: str | ParserBase | Parser = "right-branching",
                batch_size: int = 64) -> list[Prediction]:
        """Label every node of every input (see :meth:`to_trees` for what inputs may be)."""
        if isinstance(inputs, (str, Tree)):
            inputs = [inputs]
        trees = self.to_trees(inputs, parser)
        data = Dataset([tree_to_arrays(t, self.vocab, self.task.gold_or_none) for t in trees],
                       trees)
        if self.model.cfg.is_latent:  # it reads the words and labels the tree it builds
            trees, probs = induce(self.model, data, batch_size,
                                  root_labels=[t.label() for t in trees])
        else:
            check_arity(self.model, data.arrays, "the input")
            probs = _predict_nodes(self.model, data, batch_size, labelled_only=False)
        names = self.class_names
        out = []
        for tree, p in zip(trees, probs, strict=True):
            pred = p.argmax(-1).tolist()
            out.append(Prediction(relabel(tree, [str(y) for y in pred]), names[pred[-1]],
                                  [names[y] for y in pred], p))
        return out


class Parser:
    """A constituency parser for raw text: a trained parser run, an ensemble of rnn-parser
    runs, or a baseline (``right-branching``, ``left-branching``, ``balanced``).

    >>> parser = Parser.from_pretrained("right-branching")
    >>> print(parser.parse(["It works ."])[0])
    (X (XX It) (X (XX works) (XX .)))
    """

    def __init__(self, parser: ParserBase):
        self.parser = parser

    @classmethod
    def from_pretrained(cls, spec: str | Path | ParserBase | Parser,
                        beam: int | None = None, pairs: int | None = None) -> Parser:
        """``spec``: a parser run directory (``train.py train --task ptb``), several
        rnn-parser runs joined by commas, or a baseline name; ``beam``/``pairs`` set the
        recursive parser's chart (see ``train.py parse --help``)."""
        if isinstance(spec, Parser):
            return spec
        if isinstance(spec, ParserBase):
            return cls(spec)
        return cls(load_parser(str(spec), beam, pairs))

    def parse(self, sentences: Sequence[str | Sequence[str]], batch_size: int = 32
              ) -> list[Tree]:
        """Parse sentences: raw strings (tokenised with Penn Treebank conventions) or lists
        of tokens. Returns one tree per sentence, its leaves the tokens."""
        tokens = [tokenize(s) if isinstance(s, str) else list(s) for s in sentences]
        for i, toks in enumerate(tokens):
            try:
                self.parser.check(toks)
            except ValueError as err:
                raise TreennError(f"sentence {i + 1}: {err}") from None
        return self.parser.parse_many(tokens, batch_size)


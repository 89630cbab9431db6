"""A classifier run's checkpoints (``best.pt``, ``last.pt``): what they hold, the model rebuilt
from one, the check that trees fit a model's cell, and trees as a dataset of a checkpoint's
task and vocabulary. Every command that loads a classifier goes through :func:`load_model`.
"""

from __future__ import annotations

from pathlib import Path

from nltk import Tree

from treenn import runs
from treenn.data.graphs import TreeArrays, tree_to_arrays
from treenn.data.tasks import Task, get_task
from treenn.data.vocab import Vocab
from treenn.datasets import Dataset
from treenn.errors import DataError, TreennError
from treenn.loop import load_weights
from treenn.models import Classifier, ModelConfig
from treenn.runs import read_run_config

CHECKPOINT_FORMAT = 1
CHECKPOINT_KEYS = {"name": str, "task": str, "config": dict, "vocab": dict, "state_dict": dict}

_PARSER_RUN = ("{0} is a parser run: use `train.py parse {0} --text FILE`, or pass it to "
               "predict/show as --parser")


def load_model(run_dir: str | Path, which: str = "best") -> tuple[Classifier, dict]:
    """Rebuild a model from ``RUN_DIR/<which>.pt`` (``best`` or ``last``), checked."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TreennError(f"run directory {run_dir} does not exist")
    path = run_dir / f"{which}.pt"
    ckpt = runs.load_checkpoint(path)
    if ckpt.get("kind") == "parser":
        raise TreennError(_PARSER_RUN.format(run_dir))
    runs.check_keys(ckpt, path, CHECKPOINT_KEYS)
    runs.check_belongs(ckpt, path, read_run_config(run_dir))
    with runs.checkpoint_errors(path):
        cfg = runs.config_from_dict(ModelConfig, ckpt["config"], path, section="config")
        sizes = (len(Vocab.from_dict(ckpt["vocab"])), get_task(ckpt["task"]).n_classes)
        if sizes != (cfg.vocab_size, cfg.n_classes):
            raise TreennError(f"{path}: its vocabulary and classes {sizes} do not fit its model")
        model = Classifier(cfg)
    load_weights(model, ckpt["state_dict"], path)
    return model.eval(), ckpt


def check_arity(model: Classifier, arrays: list[TreeArrays], where: str) -> None:
    """Refuse trees with wider nodes than the model's cell takes (binary cells)."""
    cell = getattr(model.encoder, "cell", None)
    width = getattr(cell, "max_children", None)
    if width is None:
        return
    for i, a in enumerate(arrays):
        if len(a.pos) and int(a.pos.max()) + 1 > width:
            raise DataError(f"{where}, tree {i + 1}: a node has {int(a.pos.max()) + 1} children "
                            f"but {model.cfg.model} takes at most {width}; binarise the trees "
                            "or use childsum-tree-lstm")


def trees_dataset(ckpt: dict, trees: list[Tree]) -> tuple[Task, Dataset]:
    """The checkpoint's task, and ``trees`` as a dataset in its vocabulary (with the gold
    labels the trees carry, where the task reads them), for a model to predict on."""
    task, vocab = get_task(ckpt["task"]), Vocab.from_dict(ckpt["vocab"])
    return task, Dataset([tree_to_arrays(t, vocab, task.gold_or_none) for t in trees], trees)

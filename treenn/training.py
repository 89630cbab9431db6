"""Training, evaluation and prediction of classifiers, for every model and task.

The epochs themselves run in :mod:`treenn.loop` (shared with the neural parsers); this module
supplies the classifier's side of it (:class:`ClassifierTrainee`) and reuses finished runs,
whose files (:mod:`treenn.runs`) are written atomically, so ``--resume`` continues from the
last finished epoch with the same data order and random state as an uninterrupted run.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nltk import Tree

from treenn import checkpoints, distributed, loop, runs
from treenn.checkpoints import CHECKPOINT_FORMAT, CHECKPOINT_KEYS, check_arity, load_model
from treenn.data.graphs import Batch, collate_arrays
from treenn.data.listops_generator import ListOpsConfig
from treenn.data.tasks import TASKS, Task, get_task
from treenn.data.vocab import UNK_ID, Vocab, load_embeddings
from treenn.datasets import Dataset, batches, build_vocab, prepare, to_datasets
from treenn.errors import TreennError
from treenn.evaluation import evaluate, predict_nodes
from treenn.loop import LoopConfig, Trainee, evaluate_splits, fit
from treenn.models import MODELS, Classifier, ModelConfig, count_parameters
from treenn.options import check_fields, option
from treenn.randomness import seed_everything
from treenn.runs import RunDir, read_run_config

__all__ = ["CHECKPOINT_FORMAT", "OPTIMIZERS", "ClassifierTrainee", "Dataset", "TrainConfig",
           "batches", "build_vocab", "check_arity", "evaluate", "evaluate_run", "load_model",
           "make_model", "make_optimizers", "predict_nodes", "predict_trees", "prepare",
           "run_task", "to_datasets", "train", "train_step"]

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a classifier's training run depends on. ``None`` means "the task's
    default". Each field's help, range and flag build ``treenn train``'s options."""

    kind = "classifier"  # the runs it trains (a class attribute, not a setting)

    task: str = option(cli=False)
    model: str = option(cli=False)
    out: str = option(cli=False)
    data_dir: str | None = option(None, "SST: folder with train/dev/test.txt (default: "
                                  "download into the cache); ListOps: folder of published TSV "
                                  "files (default: generate); PTB: an nltk_data folder",
                                  metavar="DIR")
    embeddings: str | None = option(None, "GloVe/word2vec text file, or glove-6b-50d (the "
                                    "glove extra)", metavar="PATH|glove-6b-50d")
    freeze_embeddings: bool = option(False, "do not train the embedding table")
    lower: bool = option(True, "keep case when building the vocabulary",
                         flag="--no-lowercase")
    min_count: int = option(1, "training words seen fewer times are <unk> (unless they have "
                            "a pretrained vector)", low=1)
    epochs: int | None = option(None, "training epochs", low=1)
    batch_size: int | None = option(None, "trees per batch", low=1)
    batch_nodes: int | None = option(None, "batches of trees up to N nodes in all instead of "
                                     "--batch-size trees", low=1, metavar="N")
    bucket: int = option(0, "draw batches from pools of N batches sorted by tree size, so that a "
                         "batch's trees are alike in length (0: shuffled batches)", low=0,
                         metavar="N")
    optimizer: str | None = option(None, "optimiser of the dense parameters (the embedding "
                                   "table gets its sparse counterpart)",
                                   choices=("adagrad", "adam"))
    lr: float | None = option(None, "learning rate", low=0, low_open=True)
    emb_lr: float | None = option(None, "learning rate of the embedding table", low=0,
                                  low_open=True)
    weight_decay: float | None = option(None, "L2 weight decay of the dense parameters", low=0)
    dropout: float | None = option(None, "dropout on embeddings and states", low=0, high=1,
                                   high_open=True)
    x_size: int | None = option(None, "embedding size", low=1)
    h_size: int | None = option(None, "hidden size", low=1)
    layers: int = option(1, "sequence models: stacked layers", low=1, kinds=("sequence",))
    bidirectional: bool = option(False, "sequence models: read both ways", kinds=("sequence",))
    engine: str = option("fast", "tree traversal engine (dgl: the slow reference)",
                         choices=("fast", "dgl"), kinds=("tree",))
    seed: int = option(1, "random seed (initialisation, data order, dropout)")
    #: Sequence models on SST: train on every labelled phrase as its own sequence (as Tai et
    #: al. 2015 do) or on whole sentences only. Tree models always see every labelled node.
    seq_train: str = option("phrases", "sequence models on SST: every labelled phrase as its "
                            "own sequence (Tai et al. 2015), or sentences only",
                            choices=("phrases", "sentences"), kinds=("sequence",))
    eval_batch_size: int = option(128, low=1, cli=False)
    threads: int | None = option(None, "torch intra-op threads (default: torch's choice)",
                                 low=1)
    #: "cpu" or "cuda": the fast engine, latent and sequence models run on either (graphs stay
    #: on the CPU and their index tensors move); the dgl engine is CPU-only.
    device: str = option("cpu", "cpu or cuda[:N] (fast engine, latent and sequence models)")
    progress: bool = option(True, cli=False)
    #: ListOps generator settings given (``treenn.data.listops_generator.config`` adds the
    #: preset's and the defaults); unused for SST.
    listops: dict = option(help="", factory=dict, cli=False)
    #: rescale each step's gradient to at most this L2 norm (None: no clipping)
    clip: float | None = option(None, "rescale each step's gradient to at most this norm "
                                "(0: none)", low=0, metavar="NORM")
    #: select and save a moving average of the weights with this decay per step (0: off)
    ema: float = option(0.0, "evaluate, choose and save a moving average of the weights with "
                        "this decay per step, e.g. 0.998 (0: the last weights)", low=0, high=1,
                        high_open=True, metavar="DECAY")
    #: halve the learning rates after this many epochs without a better dev root accuracy
    lr_patience: int = option(0, "halve the learning rate after N epochs without a better "
                              "dev score (0: constant rate)", low=0, metavar="N")

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` replaced by the task's default."""
        task = get_task(self.task)
        if task.kind != "classification":
            raise TreennError(f"task {task.name} is {task.kind}: train a parser "
                              "(treenn.parsers.training.train_parser, or train --task "
                              f"{task.name} --model PARSER)")
        if self.model not in MODELS:
            raise TreennError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        values = asdict(self)
        for key, default in task.defaults.items():
            if values.get(key) is None:
                values[key] = default
        out = TrainConfig(**values)
        check_fields(out)
        return out

    def loop_config(self) -> LoopConfig:
        """The options of :func:`treenn.loop.fit` (of a resolved config)."""
        return LoopConfig.of(self)

    @classmethod
    def from_dict(cls, values: dict, path: str | Path = "train settings", text: str = ""
                  ) -> TrainConfig:
        """Saved settings, each value checked: an error names ``path`` (line in ``text``)."""
        cfg = runs.config_from_dict(cls, values, path, text)
        runs.config_from_dict(ListOpsConfig, cfg.listops or {}, path, text, "listops")
        if cfg.task not in TASKS or cfg.model not in MODELS:
            raise TreennError(f"{path}: no task {cfg.task!r} or no model {cfg.model!r}")
        return cfg


#: name -> (optimiser of the dense parameters, optimiser of the sparse embedding table)
OPTIMIZERS: dict[str, tuple[type, type]] = {
    "adagrad": (torch.optim.Adagrad, torch.optim.Adagrad),
    "adam": (torch.optim.Adam, torch.optim.SparseAdam),
}

def make_model(cfg: TrainConfig, task: Task, vocab: Vocab) -> Classifier:
    """A freshly initialised classifier for ``cfg`` (embeddings not yet loaded)."""
    model_cfg = ModelConfig(model=cfg.model, vocab_size=len(vocab), n_classes=task.n_classes,
                            x_size=cfg.x_size, h_size=cfg.h_size, layers=cfg.layers,
                            bidirectional=cfg.bidirectional, dropout=cfg.dropout,
                            engine=cfg.engine)
    return Classifier(model_cfg)


def init_embeddings(model: Classifier, cfg: TrainConfig, vocab: Vocab) -> str | None:
    """Uniform(-0.05, 0.05) as Tai et al.; pretrained vectors where available."""
    weight = model.embedding.weight
    with torch.no_grad():
        weight.uniform_(-0.05, 0.05)
        weight[0].zero_()
        if not cfg.embeddings:
            return None
        vectors, found, coverage = load_embeddings(cfg.embeddings, vocab)
        if vectors.shape[1] != cfg.x_size:
            raise TreennError(f"{cfg.embeddings} has {vectors.shape[1]}-d vectors but the model "
                              f"expects x_size={cfg.x_size}; pass --x-size {vectors.shape[1]}")
        rows = torch.from_numpy(np.flatnonzero(found))
        weight[rows] = torch.from_numpy(vectors[found])
    model.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
    return str(coverage)


def make_optimizers(model: Classifier, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
    """Dense parameters and the sparse embedding table get separate optimisers."""
    dense_cls, sparse_cls = OPTIMIZERS[cfg.optimizer]
    dense = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
    # foreach: one multi-tensor kernel per update rule (bit-identical here, ~3x faster)
    opts = [dense_cls(dense, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)]
    if model.embedding.weight.requires_grad:
        opts.append(sparse_cls([model.embedding.weight], lr=cfg.emb_lr))
    return opts


# ----------------------------------------------------------------------------- training


def training_nodes(batch: Batch, model: Classifier, cfg: TrainConfig) -> torch.Tensor:
    """Which nodes the loss sees: every labelled node, or labelled roots for sentence-only
    sequence training and for latent-tree models (whose trees are not the gold ones)."""
    if model.cfg.is_latent or (not model.cfg.is_tree and cfg.seq_train == "sentences"):
        roots = batch.roots
        return roots[batch.labels[roots] >= 0]
    return torch.nonzero(batch.labels >= 0).squeeze(1)


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (``cuda`` in one of several processes: its local rank's GPU)."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TreennError(f"--device {name}: this torch build has no CUDA device available")
    where = distributed.world()
    if name.startswith("cuda") and where.size > 1:
        return torch.device("cuda", where.local_rank)
    return torch.device(name)


def train_step(model: Classifier, batch: Batch, cfg: TrainConfig,
               optimizers: list[torch.optim.Optimizer]) -> float:
    """One optimiser step on ``batch`` outside a run (the benchmarks time it); returns its
    loss per tree."""
    loss = ClassifierTrainee.tree_loss(model, batch, cfg)
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optimizers:
        opt.step()
    return loss.item()


class ClassifierTrainee(Trainee):
    """A classifier's side of :func:`treenn.loop.fit`: batches of training trees, the
    per-tree loss, dev root accuracy as the selection score."""

    best_key = "dev_root_acc"

    def __init__(self, cfg: TrainConfig, task: Task, vocab: Vocab, data: dict[str, Dataset],
                 model: Classifier, device: torch.device):
        self.cfg, self.task, self.vocab, self.data = cfg, task, vocab, data
        self.model, self.device = model, device
        self.optimizers = make_optimizers(model, cfg)

    @staticmethod
    def tree_loss(model: Classifier, batch: Batch, cfg: TrainConfig) -> torch.Tensor:
        nodes = training_nodes(batch, model, cfg)
        logits = model(batch, nodes)
        # Tai et al.: per-tree loss is the sum over its labelled nodes; average over trees.
        return F.cross_entropy(logits, batch.labels[nodes], reduction="sum") / batch.n_trees

    def n_items(self) -> int:
        return len(self.data["train"])

    def sizes(self) -> list[int]:
        return [a.n_nodes for a in self.data["train"].arrays]

    def collate(self, index: list[int]) -> Batch:
        arrays = self.data["train"].arrays
        return collate_arrays([arrays[i] for i in index], index).to(self.device)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, int, dict]:
        return self.tree_loss(self.model, batch, self.cfg), batch.n_trees, {}

    def evaluate(self, split: str) -> dict:
        return evaluate(self.model, self.task, self.data[split], split, self.cfg.eval_batch_size,
                        sharded=True, vocab=self.vocab)

    def score(self, dev: dict) -> float:
        return dev["root"]["accuracy"]

    def fields(self, dev: dict) -> dict:
        return {"dev_root_acc": dev["root"]["accuracy"], "dev_all_acc": dev["all"]["accuracy"]}

    def summary(self, dev: dict) -> str:
        return f"dev root {dev['root']['accuracy']:.4f}, all {dev['all']['accuracy']:.4f}"

    def checkpoint(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "name": self.cfg.model, "task": self.task.name,
                "config": asdict(self.model.cfg), "train_config": asdict(self.cfg),
                "vocab": self.vocab.to_dict(),
                "state_dict": {k: v.clone() for k, v in self.model.state_dict().items()}}


def _setup(cfg: TrainConfig, state: dict | None, run: RunDir) -> ClassifierTrainee:
    """Data, model (from ``state`` when resuming), optimisers and ``config.json``'s content."""
    # Sparse embedding gradients are built by torch itself; skip its invariant checks (and the
    # warning Adagrad prints about them).
    torch.sparse.check_sparse_tensor_invariants.disable()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    if state:
        runs.check_keys(state, run.last, CHECKPOINT_KEYS)
    with runs.checkpoint_errors(run.last):
        vocab = Vocab.from_dict(state["vocab"]) if state else None
    with distributed.main_first():  # one process fills the dataset cache, the others read it
        task, vocab, data = prepare(cfg, vocab)
    device = resolve_device(cfg.device)
    model = make_model(cfg, task, vocab)
    for split, dataset in data.items():
        check_arity(model, dataset.arrays, f"the {split} split")
    coverage = init_embeddings(model, cfg, vocab)
    model.to(device)
    if coverage:
        log.info("embeddings: %s", coverage)
    if state:
        loop.load_weights(model, state["state_dict"], run.last)
    trainee = ClassifierTrainee(cfg, task, vocab, data, model, device)
    trainee.sources = data_sources(task, cfg, data)
    trainee.run_config = {
        "train": asdict(cfg), "model": asdict(model.cfg), "vocab_size": len(vocab),
        "parameters": count_parameters(model), "embedding_coverage": coverage,
        "unk_id": UNK_ID, "sizes": {k: len(v) for k, v in data.items()},
        "data": {"data_dir": trainee.sources["train"]["data_dir"],
                 "fingerprints": {k: v["fingerprint"] for k, v in trainee.sources.items()}}}
    return trainee


def data_sources(task: Task, cfg: TrainConfig, splits) -> dict[str, dict]:
    """Each split's ``data_dir`` and fingerprint (of its file or the generator's settings)."""
    source = task.source(cfg.data_dir, {"listops": cfg.listops})
    data_dir = None if cfg.data_dir is None else str(Path(cfg.data_dir).resolve())
    return {s: {"data_dir": data_dir, "fingerprint": loop.data_fingerprint(
        {"task": task.name, "split": s, "source": source.get(s, source)})} for s in splits}


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> dict:
    """Train, keep the best epoch by dev root accuracy, evaluate it on every split and return
    those results. ``resume`` continues ``last.pt`` with the run's settings (``cfg.task`` and
    ``model`` may be None; ``cfg.epochs`` may extend it), data order and random state. Run
    files in ``cfg.out`` stop a new run unless ``overwrite`` (they are deleted).

    Started by a launcher among several processes (``torchrun``, ``train --nproc``), each
    process trains its part of every batch (:mod:`treenn.distributed`)."""
    with distributed.session(_device(cfg, resume)):
        return _train(cfg, resume, overwrite)


def _device(cfg: TrainConfig, resume: bool) -> str:
    """The device the run trains on, for the process group (a resumed run's own, when this
    process sees its ``config.json``)."""
    if resume and distributed.launched_size() > 1:
        try:
            saved = (read_run_config(cfg.out) or {}).get("train", {}).get("device")
        except TreennError:  # rank 0 says what is wrong with it
            saved = None
        return saved if isinstance(saved, str) else cfg.device
    return cfg.device


def _train(cfg: TrainConfig, resume: bool, overwrite: bool) -> dict:
    run = RunDir(cfg.out)  # rank 0 reads and writes it; the others are sent what it read
    cfg, state = distributed.from_main(lambda: run.start(cfg, resume, overwrite))
    cfg = cfg.resolved()
    trainee = _setup(cfg, state, run)
    fit(trainee, cfg.loop_config(), run, state)
    best, ckpt = distributed.from_main(lambda: load_model(run.path, "best"))
    best.set_engine(cfg.engine)
    trainee.model = best.to(trainee.device)
    return evaluate_splits(run, trainee.evaluate, [s for s in trainee.data if s != "train"],
                           trainee.sources, ckpt)


def run_task(run_dir: str | Path, which: str = "best") -> Task:
    """A classifier run's task, from its ``config.json`` (else from its checkpoint)."""
    info = read_run_config(run_dir) if Path(run_dir).is_dir() else None
    if info is None or info.get("kind") == "parser":  # load_model says what is wrong
        return get_task(load_model(run_dir, which)[1]["task"])
    return get_task(runs.read_train_config(run_dir, TrainConfig).task)


def evaluate_run(run_dir: str | Path, split: str, data_dir: str | None = None,
                 engine: str | None = None, which: str = "best", extra=None) -> dict:
    """Score ``<which>.pt`` on ``split`` of the run's data (or ``data_dir``'s) and write the
    result where :func:`treenn.runs.eval_path` says (an unwritable run stops before).
    ``extra(model, dataset, batch_size) -> (scores, probs)``: more scores to add to the
    result before it is written, and the class probabilities of the pass that gave them in
    :func:`treenn.evaluation.predict_nodes`'s layout (None: the model runs again to score).
    """
    model, ckpt = load_model(run_dir, which)
    path, run = Path(run_dir) / f"{which}.pt", RunDir(run_dir)
    run.check_writable()
    if engine:
        model.set_engine(engine)
    runs.check_keys(ckpt, path, {"train_config": dict})
    cfg = TrainConfig.from_dict(ckpt["train_config"], path)
    if data_dir is not None:
        cfg.data_dir = data_dir
    task, vocab, data = prepare(cfg, Vocab.from_dict(ckpt["vocab"]))
    if split not in data:
        raise TreennError(f"task {task.name} has no {split!r} split here; "
                          f"choose from {', '.join(data)}")
    scores, probs = extra(model, data[split], cfg.eval_batch_size) if extra else ({}, None)
    result = evaluate(model, task, data[split], split, cfg.eval_batch_size, progress=True,
                      probs=probs, vocab=vocab)
    result.update(scores)
    run.write_eval(result, data_sources(task, cfg, [split])[split], path, ckpt)
    return result


def predict_trees(run_dir: str | Path, trees: list[Tree], which: str = "best"
                  ) -> tuple[Task, list[torch.Tensor]]:
    """Class probabilities ``[n_nodes, n_classes]`` for every node of every tree (a
    latent-tree run: roots only, NaN elsewhere; ``treenn.induced`` gives its own trees)."""
    model, ckpt = load_model(run_dir, which)
    task, data = checkpoints.trees_dataset(ckpt, trees)
    check_arity(model, data.arrays, "the input")
    return task, predict_nodes(model, data, 64, labelled_only=False)

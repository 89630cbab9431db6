"""Training, evaluation and prediction, written once for every model and task.

A run directory holds::

    config.json      the resolved training configuration and model configuration
    metrics.jsonl    one JSON object per epoch
    last.pt, best.pt checkpoints: plain dicts that load with torch.load(weights_only=True)
    eval-<split>.json evaluation results (written by ``evaluate`` and at the end of training)

Files are written atomically (a temporary file renamed over the old one), so an interrupted
run never leaves a half-written checkpoint or result, and ``--resume`` continues from the
last finished epoch with the same data order and random state as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nltk import Tree
from tqdm import tqdm

from treenn.data import prepared
from treenn.data.graphs import Batch, TreeArrays, collate_arrays, tree_to_arrays
from treenn.data.tasks import Task, get_task
from treenn.data.trees import leaves
from treenn.data.vocab import UNK_ID, Vocab, embedding_words, load_embeddings
from treenn.errors import DataError, TreennError
from treenn.metrics import Scores
from treenn.models import MODELS, Classifier, ModelConfig, count_parameters
from treenn.runs import (
    RunDir,
    epoch_generator,
    load_checkpoint,
    read_run_config,
    seed_everything,
    set_rng_state,
)

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    """Everything a training run depends on. ``None`` means "the task's default"."""

    task: str
    model: str
    out: str
    data_dir: str | None = None
    embeddings: str | None = None
    freeze_embeddings: bool = False
    lower: bool = True
    #: words seen fewer times in training are <unk> (unless they have a pretrained vector)
    min_count: int = 1
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    emb_lr: float | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    x_size: int | None = None
    h_size: int | None = None
    layers: int = 1
    bidirectional: bool = False
    engine: str = "fast"
    seed: int = 1
    #: Sequence models on SST: train on every labelled phrase as its own sequence (as Tai et
    #: al. 2015 do) or on whole sentences only. Tree models always see every labelled node.
    seq_train: str = "phrases"
    eval_batch_size: int = 128
    threads: int | None = None
    #: "cpu" or "cuda": the fast engine and sequence models run on either (graphs stay on the
    #: CPU and their index tensors move); the dgl engine is CPU-only.
    device: str = "cpu"
    progress: bool = True
    #: ListOps generator settings (see ``data.listops.ListOpsConfig``); unused for SST.
    listops: dict = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` replaced by the task's default."""
        task = get_task(self.task)
        if self.model not in MODELS:
            raise TreennError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        if self.optimizer not in (None, *OPTIMIZERS):
            raise TreennError(f"unknown optimizer {self.optimizer!r}; "
                              f"choose from {', '.join(OPTIMIZERS)}")
        if self.seq_train not in ("phrases", "sentences"):
            raise TreennError("--seq-train is 'phrases' or 'sentences'")
        values = asdict(self)
        for key, default in task.defaults.items():
            if values.get(key) is None:
                values[key] = default
        out = TrainConfig(**values)
        for key in ("epochs", "batch_size", "x_size", "h_size", "layers", "min_count"):
            if getattr(out, key) < 1:
                raise TreennError(f"--{key.replace('_', '-')} must be at least 1")
        if not 0 <= out.dropout < 1:
            raise TreennError("--dropout must be in [0, 1)")
        if out.lr <= 0 or out.emb_lr <= 0:
            raise TreennError("learning rates must be positive")
        return out

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


#: name -> (optimiser of the dense parameters, optimiser of the sparse embedding table)
OPTIMIZERS: dict[str, tuple[type, type]] = {
    "adagrad": (torch.optim.Adagrad, torch.optim.Adagrad),
    "adam": (torch.optim.Adam, torch.optim.SparseAdam),
}


# ----------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """One split as flat per-tree arrays (batched into DGL graphs on the fly); the nltk trees
    too when they were parsed in this process (not when loaded from the cache)."""

    arrays: list[TreeArrays]
    trees: list[Tree] | None = None

    def __len__(self) -> int:
        return len(self.arrays)


def build_vocab(cfg: TrainConfig, splits: dict[str, list[Tree]]) -> Vocab:
    """Training words seen at least ``min_count`` times; with pretrained vectors also every
    word of any split that has a vector (no labels are used, and those words would otherwise
    all be ``<unk>`` although their vectors are known)."""
    train_words = [leaves(t) for t in splits["train"]]
    extra: list[str] = []
    if cfg.embeddings:
        known = embedding_words(cfg.embeddings)

        def has_vector(word: str) -> bool:
            return (word.lower() if cfg.lower else word) in known or word in known

        extra = [w for trees in splits.values() for t in trees for w in leaves(t)
                 if has_vector(w)]
    return Vocab.build(train_words, lower=cfg.lower, min_count=cfg.min_count, extra=extra)


def to_datasets(task: Task, vocab: Vocab, splits: dict[str, list[Tree]]) -> dict[str, Dataset]:
    """Convert every split's trees to arrays with the task's labels."""
    return {name: Dataset([tree_to_arrays(t, vocab, task.label_of) for t in trees], trees)
            for name, trees in splits.items()}


def batches(data: Dataset, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[Batch]:
    """Batches of ``batch_size`` trees, in order or shuffled by ``generator``."""
    order = (torch.randperm(len(data), generator=generator).tolist() if shuffle
             else list(range(len(data))))
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield collate_arrays([data.arrays[i] for i in index], index)


# ----------------------------------------------------------------------------- model


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
    opts = [dense_cls(dense, lr=cfg.lr, weight_decay=cfg.weight_decay)]
    if model.embedding.weight.requires_grad:
        opts.append(sparse_cls([model.embedding.weight], lr=cfg.emb_lr))
    return opts


# ----------------------------------------------------------------------------- loops


def training_nodes(batch: Batch, model: Classifier, cfg: TrainConfig) -> torch.Tensor:
    """Which nodes the loss sees: every labelled node, or labelled roots for sentence-only
    sequence training."""
    if not model.cfg.is_tree and cfg.seq_train == "sentences":
        roots = batch.roots
        return roots[batch.labels[roots] >= 0]
    return torch.nonzero(batch.labels >= 0).squeeze(1)


def train_step(model: Classifier, batch: Batch, cfg: TrainConfig,
               optimizers: list[torch.optim.Optimizer]) -> float:
    """One optimiser step on ``batch``; returns its loss per tree."""
    nodes = training_nodes(batch, model, cfg)
    logits = model(batch, nodes)
    # Tai et al.: per-tree loss is the sum over its labelled nodes; average over trees.
    loss = F.cross_entropy(logits, batch.labels[nodes], reduction="sum") / batch.n_trees
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optimizers:
        opt.step()
    return loss.item()


def train_epoch(model: Classifier, data: Dataset, cfg: TrainConfig,
                optimizers: list[torch.optim.Optimizer], generator: torch.Generator,
                desc: str) -> float:
    """One pass over ``data`` in the order ``generator`` draws; returns the mean loss per
    tree."""
    model.train()
    total, trees = 0.0, 0
    steps = math.ceil(len(data) / cfg.batch_size)
    bar = tqdm(batches(data, cfg.batch_size, shuffle=True, generator=generator), total=steps,
               desc=desc, leave=False, disable=not cfg.progress, mininterval=0.5,
               dynamic_ncols=True)
    device = next(model.parameters()).device
    for batch in bar:
        loss = train_step(model, batch.to(device), cfg, optimizers)
        total += loss * batch.n_trees
        trees += batch.n_trees
        bar.set_postfix(loss=f"{total / trees:.3f}", refresh=False)
    return total / max(trees, 1)


@torch.no_grad()
def predict_nodes(model: Classifier, data: Dataset, batch_size: int, labelled_only: bool,
                  progress: bool = False) -> list[torch.Tensor]:
    """Class probabilities per tree: ``[n_nodes, n_classes]`` (all nodes of each tree) in
    graph node order. With ``labelled_only``, sequence models skip unlabelled nodes (rows
    left as NaN) since each node costs them a separate sequence."""
    model.eval()
    device = next(model.parameters()).device
    out: list[torch.Tensor] = []
    bar = tqdm(batches(data, batch_size), total=math.ceil(len(data) / batch_size),
               desc="predict", leave=False, disable=not progress, mininterval=0.5)
    for batch in bar:
        n = batch.graph.num_nodes()
        if labelled_only and not model.cfg.is_tree:
            nodes = torch.nonzero(batch.labels >= 0).squeeze(1)
        else:
            nodes = torch.arange(n)
        probs = torch.full((n, model.cfg.n_classes), float("nan"))
        if len(nodes):
            logits = model(batch.to(device), nodes.to(device))
            probs[nodes] = torch.softmax(logits, dim=-1).float().cpu()
        out.extend(torch.split(probs, batch.graph.batch_num_nodes().tolist()))
    return out


def evaluate(model: Classifier, task: Task, data: Dataset, split: str,
             batch_size: int = 128, progress: bool = False) -> dict:
    """Root and all-node scores for one split (the same code serves dev and test).

    Returns a JSON-ready dict with ``task``, ``split``, ``root`` and ``all`` (each with
    ``accuracy``, ``n``, ``confusion``, ``per_class``), ``collapsed`` for 5-class SST, and
    ``per_sentence`` (length, height, gold and predicted root label) for reports.
    """
    probs = predict_nodes(model, data, batch_size, labelled_only=True, progress=progress)
    gold_all, pred_all, gold_root, pred_root = [], [], [], []
    coll = {"all": [[], []], "root": [[], []]}
    per_sentence = {"length": [], "height": [], "gold": [], "pred": []}
    for arrays, p in zip(data.arrays, probs, strict=True):
        labels = torch.from_numpy(arrays.label)
        mask = labels >= 0
        pred = p.argmax(-1)
        gold_all.append(labels[mask])
        pred_all.append(pred[mask])
        root = arrays.n_nodes - 1
        per_sentence["length"].append(arrays.n_leaves)
        per_sentence["height"].append(int(arrays.height[root]) + 1)  # nodes on the longest path
        per_sentence["gold"].append(int(labels[root]))
        per_sentence["pred"].append(int(pred[root]))
        if labels[root] >= 0:
            gold_root.append(int(labels[root]))
            pred_root.append(int(pred[root]))
        if task.n_classes == 5 and task.name.startswith("sst"):
            polar = mask & (labels != 2)
            pos = p[:, 3:].sum(-1) > p[:, :2].sum(-1)
            coll["all"][0].append((labels[polar] > 2).long())
            coll["all"][1].append(pos[polar].long())
            if polar[root]:
                coll["root"][0].append(int(labels[root] > 2))
                coll["root"][1].append(int(pos[root]))
    k = task.n_classes
    result = {
        "task": task.name,
        "split": split,
        "root": Scores.from_predictions(gold_root, pred_root, k).to_dict(),
        "all": Scores.from_predictions(torch.cat(gold_all).tolist(),
                                       torch.cat(pred_all).tolist(), k).to_dict(),
        "per_sentence": per_sentence,
    }
    if coll["all"][0]:
        result["collapsed"] = {
            "all": Scores.from_predictions(torch.cat(coll["all"][0]).tolist(),
                                           torch.cat(coll["all"][1]).tolist(), 2).to_dict(),
            "root": Scores.from_predictions(coll["root"][0], coll["root"][1], 2).to_dict(),
        }
    return result


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TreennError(f"--device {name}: this torch build has no CUDA device available")
    return torch.device(name)


def prepare(cfg: TrainConfig, vocab: Vocab | None = None, use_cache: bool = True
            ) -> tuple[Task, Vocab, dict[str, Dataset]]:
    """Load the task's splits, build (or reuse) the vocabulary, convert trees to arrays.

    The result is cached (see ``data.prepared``); a cache hit skips parsing entirely.
    """
    task = get_task(cfg.task)
    t0 = time.perf_counter()
    options = {"listops": cfg.listops}
    key = prepared.cache_key({
        "task": task.name, "source": task.source(cfg.data_dir, options), "lower": cfg.lower,
        "min_count": cfg.min_count,
        "embeddings": _embeddings_fingerprint(cfg.embeddings),
        "vocab": None if vocab is None else vocab.to_dict()})
    hit = prepared.load(key) if use_cache else None
    if hit is not None:
        vocab, arrays = hit
        datasets = {name: Dataset(items) for name, items in arrays.items()}
        how = "from the cache"
    else:
        splits = task.load(cfg.data_dir, options)
        if vocab is None:
            vocab = build_vocab(cfg, splits)
        datasets = to_datasets(task, vocab, splits)
        if use_cache:
            prepared.save(key, vocab, {k: v.arrays for k, v in datasets.items()})
        how = "parsed"
    log.info("%s: %s in %.1fs (%s)", task.name,
             ", ".join(f"{k} {len(v)}" for k, v in datasets.items()),
             time.perf_counter() - t0, how)
    return task, vocab, datasets


def _embeddings_fingerprint(source: str | None) -> str | None:
    if source is None or not Path(source).is_file():
        return source
    stat = Path(source).stat()
    return f"{Path(source).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def train(cfg: TrainConfig, resume: bool = False) -> dict:
    """Train, keep the best epoch by dev root accuracy, then evaluate it on every split.

    With ``resume`` the run continues from ``last.pt`` with its saved configuration (only
    ``cfg.epochs`` may extend it), the same data order and the same random state.

    Returns the evaluation results of the best checkpoint, by split.
    """
    run = RunDir(cfg.out)
    cfg, state = run.start(cfg, resume)
    cfg = cfg.resolved()
    # Sparse embedding gradients are built by torch itself; skip its invariant checks (and the
    # warning Adagrad prints about them).
    torch.sparse.check_sparse_tensor_invariants.disable()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)

    vocab = Vocab.from_dict(state["vocab"]) if state else None
    task, vocab, data = prepare(cfg, vocab)
    device = resolve_device(cfg.device)
    model = make_model(cfg, task, vocab)
    for split, dataset in data.items():
        check_arity(model, dataset.arrays, f"the {split} split")
    coverage = init_embeddings(model, cfg, vocab)
    model.to(device)
    if coverage:
        log.info("embeddings: %s", coverage)
    optimizers = make_optimizers(model, cfg)
    run.write_config({"train": asdict(cfg), "model": asdict(model.cfg), "vocab_size": len(vocab),
                      "parameters": count_parameters(model), "embedding_coverage": coverage,
                      "unk_id": UNK_ID, "sizes": {k: len(v) for k, v in data.items()}})

    start, best = 1, {"epoch": 0, "dev_root_acc": -1.0}
    if state:
        model.load_state_dict(state["state_dict"])
        for opt, opt_state in zip(optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        set_rng_state(state["rng"])
        start, best = state["epoch"] + 1, state["best"]
        log.info("resuming %s at epoch %d", run.path, start)
    run.keep_metrics_until(start - 1)

    for epoch in range(start, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, data["train"], cfg, optimizers,
                           epoch_generator(cfg.seed, epoch), f"epoch {epoch}/{cfg.epochs}")
        train_time = time.perf_counter() - t0
        dev = evaluate(model, task, data["dev"], "dev", cfg.eval_batch_size)
        record = {"epoch": epoch, "train_loss": loss, "train_time_s": train_time,
                  "dev_root_acc": dev["root"]["accuracy"], "dev_all_acc": dev["all"]["accuracy"],
                  "eval_time_s": time.perf_counter() - t0 - train_time}
        improved = dev["root"]["accuracy"] > best["dev_root_acc"]
        if improved:
            best = {"epoch": epoch, "dev_root_acc": dev["root"]["accuracy"]}
        run.log_epoch(record)
        run.save_epoch({
            "format": CHECKPOINT_FORMAT, "name": cfg.model, "task": task.name,
            "config": asdict(model.cfg), "train_config": asdict(cfg), "vocab": vocab.to_dict(),
            "state_dict": model.state_dict(), "epoch": epoch, "best": best,
        }, improved, {"optimizers": [o.state_dict() for o in optimizers]})
        log.info("epoch %d: loss %.4f, dev root %.4f, all %.4f (%.1fs)%s", epoch, loss,
                 record["dev_root_acc"], record["dev_all_acc"], train_time,
                 "  *best*" if improved else "")

    best_model = load_model(run.path, "best")[0]
    best_model.set_engine(cfg.engine)
    best_model.to(device)
    results = {}
    for split in data:
        if split == "train":
            continue
        results[split] = evaluate(best_model, task, data[split], split, cfg.eval_batch_size)
        run.write_eval(split, results[split])
    return results


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


# ----------------------------------------------------------------------------- reuse


_PARSER_RUN = ("{0} is a parser run: use `train.py parse {0} --text FILE`, or pass it to "
               "predict/show as --parser")


def run_task(run_dir: str | Path, which: str = "best") -> Task:
    """A classifier run's task, from its ``config.json`` (without loading the model)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TreennError(f"run directory {run_dir} does not exist")
    info = read_run_config(run_dir) or load_checkpoint(run_dir / f"{which}.pt")
    if info.get("kind") == "parser":
        raise TreennError(_PARSER_RUN.format(run_dir))
    return get_task(info["train"]["task"] if "train" in info else info["task"])


def load_model(run_dir: str | Path, which: str = "best") -> tuple[Classifier, dict]:
    """Rebuild a model from ``RUN_DIR/<which>.pt`` (``best`` or ``last``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TreennError(f"run directory {run_dir} does not exist")
    ckpt = load_checkpoint(run_dir / f"{which}.pt")
    if ckpt.get("kind") == "parser":
        raise TreennError(_PARSER_RUN.format(run_dir))
    model = Classifier(ModelConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


def evaluate_run(run_dir: str | Path, split: str, data_dir: str | None = None,
                 engine: str | None = None, which: str = "best") -> dict:
    model, ckpt = load_model(run_dir, which)
    if engine:
        model.set_engine(engine)
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    if data_dir is not None:
        cfg.data_dir = data_dir
    task, vocab, data = prepare(cfg, Vocab.from_dict(ckpt["vocab"]))
    if split not in data:
        raise TreennError(f"task {task.name} has no {split!r} split here; "
                          f"choose from {', '.join(data)}")
    result = evaluate(model, task, data[split], split, cfg.eval_batch_size, progress=True)
    RunDir(run_dir).write_eval(split, result)
    return result


def predict_trees(run_dir: str | Path, trees: list[Tree], which: str = "best"
                  ) -> tuple[Task, list[torch.Tensor]]:
    """Class probabilities ``[n_nodes, n_classes]`` for every node of every tree."""
    model, ckpt = load_model(run_dir, which)
    task = get_task(ckpt["task"])
    vocab = Vocab.from_dict(ckpt["vocab"])
    data = Dataset([tree_to_arrays(t, vocab, task.gold_or_none) for t in trees], trees)
    check_arity(model, data.arrays, "the input")
    return task, predict_nodes(model, data, 64, labelled_only=False)

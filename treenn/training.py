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

import json
import logging
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nltk import Tree
from tqdm import tqdm

from data import prepared
from data.graphs import Batch, TreeArrays, collate_arrays, tree_to_arrays
from data.tasks import Task, get_task
from data.trees import leaves
from data.vocab import UNK_ID, Vocab, embedding_words, load_embeddings
from treenn.errors import TreennError
from treenn.metrics import Scores
from treenn.models import MODELS, Classifier, ModelConfig, count_parameters

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
        return TrainConfig(**values)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


OPTIMIZERS = ("adagrad", "adam")


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
    """Words of the training trees; with pretrained vectors, also the other splits' words
    that have a vector (they would otherwise all be ``<unk>`` although their vectors are
    known; no labels are used)."""
    train_words = [leaves(t) for t in splits["train"]]
    extra: list[str] = []
    if cfg.embeddings:
        known = embedding_words(cfg.embeddings)
        for name, trees in splits.items():
            if name == "train":
                continue
            for tree in trees:
                extra.extend(w for w in leaves(tree)
                             if (w.lower() if cfg.lower else w) in known or w in known)
    return Vocab.build(train_words, lower=cfg.lower, extra=extra)


def to_datasets(task: Task, vocab: Vocab, splits: dict[str, list[Tree]]) -> dict[str, Dataset]:
    return {name: Dataset([tree_to_arrays(t, vocab, task.label_of) for t in trees], trees)
            for name, trees in splits.items()}


def batches(data: Dataset, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[Batch]:
    order = (torch.randperm(len(data), generator=generator).tolist() if shuffle
             else list(range(len(data))))
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield collate_arrays([data.arrays[i] for i in index], index)


# ----------------------------------------------------------------------------- model


def make_model(cfg: TrainConfig, task: Task, vocab: Vocab) -> Classifier:
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
    dense = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
    if cfg.optimizer == "adagrad":
        opts: list[torch.optim.Optimizer] = [
            torch.optim.Adagrad(dense, lr=cfg.lr, weight_decay=cfg.weight_decay)]
        sparse_cls = torch.optim.Adagrad
    else:
        opts = [torch.optim.Adam(dense, lr=cfg.lr, weight_decay=cfg.weight_decay)]
        sparse_cls = torch.optim.SparseAdam
    if model.embedding.weight.requires_grad:
        opts.append(sparse_cls([model.embedding.weight], lr=cfg.emb_lr))
    return opts


# ----------------------------------------------------------------------------- files


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise TreennError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise TreennError(f"{path}: not a readable treenn checkpoint ({err})") from None


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- loops


def training_nodes(batch: Batch, model: Classifier, cfg: TrainConfig) -> torch.Tensor:
    """Which nodes the loss sees: every labelled node, or labelled roots for sentence-only
    sequence training."""
    if not model.cfg.is_tree and cfg.seq_train == "sentences":
        roots = batch.roots
        return roots[batch.labels[roots] >= 0]
    return torch.nonzero(batch.labels >= 0).squeeze(1)


def train_epoch(model: Classifier, data: Dataset, cfg: TrainConfig,
                optimizers: list[torch.optim.Optimizer], generator: torch.Generator,
                desc: str) -> float:
    model.train()
    total, trees = 0.0, 0
    steps = math.ceil(len(data) / cfg.batch_size)
    bar = tqdm(batches(data, cfg.batch_size, shuffle=True, generator=generator), total=steps,
               desc=desc, leave=False, disable=not cfg.progress, mininterval=0.5,
               dynamic_ncols=True)
    device = next(model.parameters()).device
    for batch in bar:
        batch = batch.to(device)
        nodes = training_nodes(batch, model, cfg)
        logits = model(batch, nodes)
        # Tai et al.: per-tree loss is the sum over its labelled nodes; average over trees.
        loss = F.cross_entropy(logits, batch.labels[nodes], reduction="sum") / batch.n_trees
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        total += loss.item() * batch.n_trees
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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # The data order of an epoch depends only on (seed, epoch), so a resumed run matches.
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


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

    Returns the evaluation results of the best checkpoint, by split.
    """
    run_dir = Path(cfg.out)
    last_path = run_dir / "last.pt"
    state = None
    if resume:
        if not (run_dir / "config.json").is_file():
            raise TreennError(f"{run_dir}: nothing to resume (no config.json)")
        saved = json.loads((run_dir / "config.json").read_text())
        epochs = cfg.epochs
        cfg = TrainConfig.from_dict(saved["train"])
        if epochs is not None:
            cfg.epochs = epochs
        cfg.out = str(run_dir)
        state = load_checkpoint(last_path) if last_path.is_file() else None
    elif last_path.is_file():
        raise TreennError(f"{run_dir} already holds a training run; pass --resume to continue "
                          "it, or choose another --out")
    cfg = cfg.resolved()
    # Sparse embedding gradients are built by torch itself; skip its invariant checks (and the
    # warning Adagrad prints about them).
    torch.sparse.check_sparse_tensor_invariants.disable()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _seed_everything(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)

    vocab = Vocab.from_dict(state["vocab"]) if state else None
    task, vocab, data = prepare(cfg, vocab)
    device = resolve_device(cfg.device)
    model = make_model(cfg, task, vocab)
    coverage = init_embeddings(model, cfg, vocab)
    model.to(device)
    if coverage:
        log.info("embeddings: %s", coverage)
    optimizers = make_optimizers(model, cfg)
    info = {"train": asdict(cfg), "model": asdict(model.cfg), "vocab_size": len(vocab),
            "parameters": count_parameters(model), "embedding_coverage": coverage,
            "unk_id": UNK_ID, "sizes": {k: len(v) for k, v in data.items()}}
    atomic_write_text(run_dir / "config.json", json.dumps(info, indent=2) + "\n")

    start, best = 1, {"epoch": 0, "dev_root_acc": -1.0}
    if state:
        model.load_state_dict(state["state_dict"])
        for opt, opt_state in zip(optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        torch.set_rng_state(state["torch_rng"])
        start, best = state["epoch"] + 1, state["best"]
        # Drop log lines of epochs after the checkpoint (an interruption between the two).
        kept = [m for m in read_metrics(run_dir) if m["epoch"] <= state["epoch"]]
        atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in kept))
        log.info("resuming %s at epoch %d", run_dir, start)
    elif (run_dir / "metrics.jsonl").exists():
        (run_dir / "metrics.jsonl").unlink()  # a run interrupted before its first checkpoint

    for epoch in range(start, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, data["train"], cfg, optimizers,
                           _epoch_generator(cfg.seed, epoch), f"epoch {epoch}/{cfg.epochs}")
        train_time = time.perf_counter() - t0
        dev = evaluate(model, task, data["dev"], "dev", cfg.eval_batch_size)
        record = {"epoch": epoch, "train_loss": loss, "train_time_s": train_time,
                  "dev_root_acc": dev["root"]["accuracy"], "dev_all_acc": dev["all"]["accuracy"],
                  "eval_time_s": time.perf_counter() - t0 - train_time}
        improved = dev["root"]["accuracy"] > best["dev_root_acc"]
        if improved:
            best = {"epoch": epoch, "dev_root_acc": dev["root"]["accuracy"]}
        checkpoint = {
            "format": CHECKPOINT_FORMAT, "name": cfg.model, "task": task.name,
            "config": asdict(model.cfg), "train_config": asdict(cfg), "vocab": vocab.to_dict(),
            "state_dict": model.state_dict(), "epoch": epoch, "best": best,
        }
        if improved:
            atomic_save(checkpoint, run_dir / "best.pt")
        with (run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        atomic_save({**checkpoint, "optimizers": [o.state_dict() for o in optimizers],
                     "torch_rng": torch.get_rng_state()}, last_path)
        log.info("epoch %d: loss %.4f, dev root %.4f, all %.4f (%.1fs)%s", epoch, loss,
                 record["dev_root_acc"], record["dev_all_acc"], train_time,
                 "  *best*" if improved else "")

    best_model = load_model(run_dir, "best")[0]
    best_model.set_engine(cfg.engine)
    best_model.to(device)
    results = {}
    for split in data:
        if split == "train":
            continue
        results[split] = evaluate(best_model, task, data[split], split, cfg.eval_batch_size)
        atomic_write_text(run_dir / f"eval-{split}.json", json.dumps(results[split]) + "\n")
    return results


# ----------------------------------------------------------------------------- reuse


def load_model(run_dir: str | Path, which: str = "best") -> tuple[Classifier, dict]:
    """Rebuild a model from ``RUN_DIR/<which>.pt`` (``best`` or ``last``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TreennError(f"run directory {run_dir} does not exist")
    ckpt = load_checkpoint(run_dir / f"{which}.pt")
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
    atomic_write_text(Path(run_dir) / f"eval-{split}.json", json.dumps(result) + "\n")
    return result


def predict_trees(run_dir: str | Path, trees: list[Tree], which: str = "best"
                  ) -> tuple[Task, list[torch.Tensor]]:
    """Class probabilities ``[n_nodes, n_classes]`` for every node of every tree."""
    model, ckpt = load_model(run_dir, which)
    task = get_task(ckpt["task"])
    vocab = Vocab.from_dict(ckpt["vocab"])
    data = Dataset([tree_to_arrays(t, vocab, task.gold_or_none) for t in trees], trees)
    return task, predict_nodes(model, data, 64, labelled_only=False)

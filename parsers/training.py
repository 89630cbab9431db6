"""Training and evaluating parsers on the Penn Treebank sample (``--task ptb``).

Run directories follow the classifiers' layout (``config.json``, ``metrics.jsonl`` with one
line per epoch, ``best.pt`` by dev labelled F1, ``last.pt`` for ``--resume``,
``eval-<split>.json``); checkpoints are plain dicts for ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from nltk import Tree
from tqdm import tqdm
from treenn.data.vocab import embedding_words, load_embeddings
from treenn.parsers import Parser
from treenn.parsers.chart import Labels, Words, make_example
from treenn.parsers.evalb import Scores
from treenn.parsers.neural import NEURAL_PARSERS as NEURAL
from treenn.parsers.neural import ParserConfig
from treenn.parsers.pcfg import PCFG, PCFGConfig
from treenn.parsers.treebank import load_ptb

from treenn.errors import TreennError
from treenn.runs import (
    RunDir,
    epoch_generator,
    is_parser_run,
    load_checkpoint,
    read_run_config,
    seed_everything,
    set_rng_state,
)

log = logging.getLogger(__name__)



@dataclass
class ParserTrainConfig:
    model: str
    out: str
    data_dir: str | None = None
    embeddings: str | None = None
    epochs: int | None = None  # None: 10, or the saved value when resuming
    batch_size: int = 16
    lr: float = 1e-3
    #: halve the learning rate after this many epochs in a row without a better dev labelled
    #: F1 (counted from the best epoch or the last halving); 0 keeps it constant
    lr_patience: int = 0
    #: neural parsers: evaluate, select and save an exponential moving average of the
    #: weights (Polyak averaging) with this decay per step; 0 keeps the last weights
    ema: float = 0.0
    seed: int = 1
    cell: str = "tree-lstm"
    leaves: str = "window"
    beam: int = 1
    h_size: int | None = None
    word_dim: int = 50
    dropout: float = 0.3
    #: training sentences longer than this are skipped (chart parsing is cubic in length)
    max_train_length: int = 60
    horizontal: int = 1
    vertical: int = 2
    threads: int | None = None
    progress: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> ParserTrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def evaluate_parser(parser: Parser, trees: list[Tree], split: str, batch_size: int = 32
                    ) -> dict:
    """evalb scores of ``parser`` on gold ``trees`` (all sentences, and those of <= 40 words)."""
    t0 = time.perf_counter()
    predicted = parser.parse_many([t.leaves() for t in trees], batch_size)
    seconds = time.perf_counter() - t0
    every, short = Scores(), Scores()
    for gold, test in zip(trees, predicted, strict=True):
        every.add(gold, test)
        if len(gold.leaves()) <= 40:
            short.add(gold, test)
    return {"task": "ptb", "split": split, **every.to_dict(), "length<=40": short.to_dict(),
            "parse_seconds": seconds, "sentences_per_second": len(trees) / seconds}


def _build_neural(cfg: ParserTrainConfig, data: dict[str, list[Tree]]):
    """A new parser: tables from the training treebank, GloVe rows copied in when given."""
    labels = Labels.build(data["train"])
    extra: set[str] = set()
    if cfg.embeddings:
        known = embedding_words(cfg.embeddings)
        extra = {w.lower() for split in ("dev", "test") for t in data[split]
                 for w in t.leaves() if w.lower() in known}
    words = Words.build([t.leaves() for t in data["train"]], extra)
    pcfg = ParserConfig(model=cfg.model, word_dim=cfg.word_dim, cell=cfg.cell, leaves=cfg.leaves,
                        beam=cfg.beam, dropout=cfg.dropout,
                        h_size=cfg.h_size or (128 if cfg.model == "rnn-parser" else 200))
    model = NEURAL[cfg.model](pcfg, words, labels)
    coverage = None
    if cfg.embeddings:
        vectors, found, cov = load_embeddings(cfg.embeddings, words.vocab)
        if vectors.shape[1] != cfg.word_dim:
            raise TreennError(f"{cfg.embeddings} has {vectors.shape[1]}-d vectors; pass "
                              f"--x-size {vectors.shape[1]}")
        with torch.no_grad():
            rows = torch.from_numpy(np.flatnonzero(found))
            model.word_emb.weight[rows] = torch.from_numpy(vectors[found])
        coverage = str(cov)
    return model, coverage


def load_parser_checkpoint(ckpt: dict) -> Parser:
    if ckpt["name"] == "pcfg":
        return PCFG.from_dict(ckpt["pcfg"])
    cfg = ParserConfig(**ckpt["config"])
    model = NEURAL[cfg.model](cfg, Words.from_dict(ckpt["words"]), Labels(ckpt["labels"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model


def train_parser(cfg: ParserTrainConfig, resume: bool = False) -> dict:
    """Train (or, for the PCFG, estimate) a parser; evaluate the best one on dev and test.

    With ``resume`` the run continues from ``last.pt`` with its saved configuration; only
    ``cfg.epochs`` (when set) may extend it.
    """
    run = RunDir(cfg.out)
    cfg, state = run.start(cfg, resume)
    if cfg.model not in PARSER_MODELS:
        raise TreennError(f"unknown parser {cfg.model!r}; choose from {', '.join(PARSER_MODELS)}")
    if cfg.beam != 1 and cfg.model != "rnn-parser":
        raise TreennError(f"--beam is the recursive parser's (rnn-parser); {cfg.model} "
                          "decodes exactly")
    if cfg.lr_patience < 0:
        raise TreennError(f"--lr-patience {cfg.lr_patience}: give a number of epochs >= 0 "
                          "(0: constant learning rate)")
    if cfg.lr_patience and cfg.model == "pcfg":
        raise TreennError("--lr-patience is the neural parsers'; the PCFG has no learning rate")
    if not 0 <= cfg.ema < 1:
        raise TreennError(f"--ema {cfg.ema}: give a decay in [0, 1) (0: no weight averaging)")
    if cfg.ema and cfg.model == "pcfg":
        raise TreennError("--ema is the neural parsers'; the PCFG has no weights to average")
    cfg.epochs = cfg.epochs or 10
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    data = load_ptb(cfg.data_dir)
    log.info("PTB sample: %s", ", ".join(f"{k} {len(v)}" for k, v in data.items()))
    return PARSER_TRAINERS[cfg.model](cfg, data, run, state)


def _fit_pcfg(cfg: ParserTrainConfig, data: dict[str, list[Tree]], run: RunDir, state) -> dict:
    """The PCFG has no epochs: counting rules over the training trees is its training."""
    t0 = time.perf_counter()
    parser = PCFG(PCFGConfig(horizontal=cfg.horizontal, vertical=cfg.vertical))
    parser.fit(data["train"])
    run.write_config({"kind": "parser", "train": asdict(cfg),
                      "parser": {"model": "pcfg", **parser.cfg.__dict__},
                      "symbols": len(parser.symbols), "rules": len(parser.rule_logp),
                      "fit_seconds": time.perf_counter() - t0})
    ckpt = {"kind": "parser", "name": "pcfg", "pcfg": parser.to_dict(), "epoch": 1}
    run.save_epoch(ckpt, True, {})
    return _final_evaluation(parser, data, run)


def _train_neural(cfg: ParserTrainConfig, data: dict[str, list[Tree]], run: RunDir, state
                  ) -> dict:
    if state:  # the checkpoint holds the tables and every weight: nothing to rebuild
        model = load_parser_checkpoint(state)
        coverage = read_run_config(run.path).get("embedding_coverage")
    else:
        model, coverage = _build_neural(cfg, data)
    average = None
    if cfg.ema:  # a checkpoint's weights are the average: it starts from them, and training
        average = WeightAverage(model, cfg.ema, state["ema_steps"] if state else 0)
        if state:  # goes on from the raw weights saved beside them
            model.load_state_dict(state["train_state_dict"])
    model.word_unk_p = 0.25
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run.write_config({"kind": "parser", "train": asdict(cfg), "parser": asdict(model.cfg),
                      "labels": len(model.labels), "words": len(model.words.words),
                      "parameters": sum(p.numel() for p in model.parameters()),
                      "embedding_coverage": coverage})
    train_examples = [make_example(t, model.labels) for t in data["train"]
                      if len(t.leaves()) <= cfg.max_train_length]
    start, best, halved_at = 1, {"epoch": 0, "dev_f1": -1.0}, 0
    if state:
        optimizer.load_state_dict(state["optimizer"])  # holds the (possibly halved) rate
        set_rng_state(state["rng"])
        start, best = state["epoch"] + 1, state["best"]
        halved_at = state.get("lr_halved_at", 0)
    run.keep_metrics_until(start - 1)

    for epoch in range(start, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(train_examples),
                               generator=epoch_generator(cfg.seed, epoch)).tolist()
        t0, total, violations = time.perf_counter(), 0.0, 0
        steps = math.ceil(len(order) / cfg.batch_size)
        bar = tqdm(range(0, len(order), cfg.batch_size), total=steps, leave=False,
                   desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress, mininterval=0.5)
        for s in bar:
            batch = [train_examples[k] for k in order[s:s + cfg.batch_size]]
            loss, stats = model.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            if average:
                average.update(model)
            total += loss.item() * len(batch)
            violations += stats["violations"]
            bar.set_postfix(loss=f"{total / (s + len(batch)):.3f}", refresh=False)
        train_time = time.perf_counter() - t0
        model.eval()
        record = {"epoch": epoch, "train_loss": total / len(order), "train_time_s": train_time,
                  "violations": violations}
        if average:  # the raw weights' dev scores too, to see what the average changes
            raw = evaluate_parser(model, data["dev"], "dev")
            record.update(dev_labelled_f1_raw=raw["labelled"]["f1"],
                          dev_unlabelled_f1_raw=raw["unlabelled"]["f1"])
        with average.applied(model) if average else nullcontext():
            dev = evaluate_parser(model, data["dev"], "dev")
            saved = {"kind": "parser", "name": cfg.model, **model.state(), "epoch": epoch}
            saved["state_dict"] = {k: v.clone() for k, v in saved["state_dict"].items()}
        record.update(dev_labelled_f1=dev["labelled"]["f1"],
                      dev_unlabelled_f1=dev["unlabelled"]["f1"],
                      eval_time_s=dev["parse_seconds"])
        improved = dev["labelled"]["f1"] > best["dev_f1"]
        if improved:
            best = {"epoch": epoch, "dev_f1": dev["labelled"]["f1"]}
        record["lr"] = optimizer.param_groups[0]["lr"]
        log.info("epoch %d: loss %.4f, dev F1 labelled %.2f unlabelled %.2f (%.0fs)%s", epoch,
                 record["train_loss"], 100 * dev["labelled"]["f1"],
                 100 * dev["unlabelled"]["f1"], train_time, "  *best*" if improved else "")
        if should_halve_lr(epoch, best["epoch"], halved_at, cfg.lr_patience):
            halved_at = epoch
            for group in optimizer.param_groups:
                group["lr"] /= 2
            log.info("no better dev F1 for %d epochs: learning rate halved to %g",
                     cfg.lr_patience, optimizer.param_groups[0]["lr"])
        run.log_epoch(record)
        resume_state = {"optimizer": optimizer.state_dict(), "lr_halved_at": halved_at}
        if average:
            resume_state.update(train_state_dict=model.state_dict(), ema_steps=average.steps)
        run.save_epoch({**saved, "best": best}, improved, resume_state)
    return _final_evaluation(load_parser_checkpoint(load_checkpoint(run.best)), data, run)


class WeightAverage:
    """Exponential moving average of a model's floating-point weights (Polyak and Juditsky
    1992): after step ``t`` each average moves to the new weights by ``1 - d_t`` with
    ``d_t = min(decay, (1 + t) / (10 + t))``, so the first steps, far from where training
    ends, are not kept for long."""

    def __init__(self, model: torch.nn.Module, decay: float, steps: int = 0):
        """Starts from the model's weights, as an average of ``steps`` steps so far."""
        self.decay, self.steps = decay, steps
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()
                       if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.steps += 1
        rate = 1 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        current = model.state_dict()
        for k, v in self.shadow.items():
            v.lerp_(current[k], rate)

    @contextmanager
    def applied(self, model: torch.nn.Module):
        """The model holds the averaged weights inside the block, its own ones after."""
        own = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(own)


def should_halve_lr(epoch: int, best_epoch: int, halved_at: int, patience: int) -> bool:
    """Plateau schedule: halve after ``patience`` epochs in a row that did not beat the best
    dev score, counting from the best epoch or the last halving, whichever is later."""
    return patience > 0 and epoch - max(best_epoch, halved_at) >= patience


def _final_evaluation(parser: Parser, data: dict[str, list[Tree]], run: RunDir) -> dict:
    results = {}
    for split in ("dev", "test"):
        results[split] = evaluate_parser(parser, data[split], split)
        run.write_eval(split, results[split])
    return results


PARSER_TRAINERS = {"rnn-parser": _train_neural, "bilstm-parser": _train_neural,
                   "pcfg": _fit_pcfg}
PARSER_MODELS = tuple(PARSER_TRAINERS)


def load_trained_parser(run_dir: Path) -> Parser:
    if not is_parser_run(run_dir):
        raise TreennError(f"{run_dir} is not a parser run (train one with --task ptb)")
    return load_parser_checkpoint(load_checkpoint(run_dir / "best.pt"))


def evaluate_parser_run(run_dir: str | Path, split: str, data_dir: str | None = None) -> dict:
    run_dir = Path(run_dir)
    parser = load_trained_parser(run_dir)
    cfg = read_run_config(run_dir).get("train", {})
    data = load_ptb(data_dir if data_dir is not None else cfg.get("data_dir"))
    if split not in data:
        raise TreennError(f"no {split!r} split; choose from {', '.join(data)}")
    result = evaluate_parser(parser, data[split], split)
    RunDir(run_dir).write_eval(split, result)
    return result


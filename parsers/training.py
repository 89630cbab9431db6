"""Training and evaluating parsers on the Penn Treebank sample (``--task ptb``).

Run directories follow the classifiers' layout (``config.json``, ``metrics.jsonl`` with one
line per epoch, ``best.pt`` by dev labelled F1, ``last.pt`` for ``--resume``,
``eval-<split>.json``); checkpoints are plain dicts for ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from nltk import Tree

from treenn import distributed
from treenn.data.ptb import load_ptb
from treenn.data.trees import to_bracketed
from treenn.data.vocab import embedding_words, load_embeddings
from treenn.errors import TreennError
from treenn.loop import LoopConfig, Trainee, data_fingerprint, evaluate_splits, fit
from treenn.optimisation import WeightAverage, should_halve_lr
from treenn.options import check_fields, option
from treenn.parsers import Parser
from treenn.parsers.chart import Labels, Words, make_example
from treenn.parsers.evalb import PRF, Scores
from treenn.parsers.neural import ParserConfig
from treenn.parsers.pcfg import PCFG, PCFGConfig
from treenn.parsers.registry import PARSERS, trainable
from treenn.randomness import seed_everything
from treenn.runs import (
    RunDir,
    check_belongs,
    check_keys,
    checkpoint_errors,
    config_from_dict,
    is_parser_run,
    load_checkpoint,
    read_run_config,
    read_train_config,
)

__all__ = ["PARSER_CLIP", "PARSER_MODELS", "ParserTrainConfig", "ParserTrainee", "WeightAverage",
           "evaluate_parser", "evaluate_parser_run", "load_parser_checkpoint",
           "load_trained_parser", "should_halve_lr", "train_parser"]

log = logging.getLogger(__name__)

#: the gradient norm the neural parsers are clipped to unless ``--clip`` says otherwise
PARSER_CLIP = 5.0


@dataclass
class ParserTrainConfig:
    """Everything a parser's training run depends on; each field's help, range and flag
    build ``treenn train --task ptb``'s options."""

    kind = "parser"  # the runs it trains (a class attribute, not a setting)

    model: str = option(cli=False)
    out: str = option(cli=False)
    data_dir: str | None = option(None, "an nltk_data folder with corpora/treebank (default: "
                                  "NLTK's search path, NLTK_DATA)")
    embeddings: str | None = option(None, "GloVe/word2vec text file, or glove-6b-50d")
    epochs: int | None = option(None, "training epochs (default 10)", low=1)
    batch_size: int = option(16, "sentences per batch", low=1)
    batch_nodes: int | None = option(None, "batches of sentences up to N words in all instead "
                                     "of --batch-size sentences", low=1, metavar="N")
    bucket: int = option(0, "draw batches from pools of N batches sorted by sentence length "
                         "(0: shuffled batches)", low=0, metavar="N")
    lr: float = option(1e-3, "learning rate (Adam)", low=0, low_open=True)
    #: halve the learning rate after this many epochs in a row without a better dev labelled
    #: F1 (counted from the best epoch or the last halving); 0 keeps it constant
    lr_patience: int = option(0, "halve the learning rate after N epochs without a better "
                              "dev score (0: constant rate)", low=0)
    #: evaluate, select and save an exponential moving average of the
    #: weights (Polyak averaging) with this decay per step; 0 keeps the last weights
    ema: float = option(0.0, "evaluate, choose and save a moving average of the weights with "
                        "this decay per step, e.g. 0.998 (0: the last weights)", low=0, high=1,
                        high_open=True)
    seed: int = option(1, "random seed (initialisation, data order, dropout)")
    cell: str = option("tree-lstm", "rnn-parser: the recursive cell that composes spans",
                       choices=("tree-lstm", "childsum-tree-lstm", "recnn", "rntn"))
    leaves: str = option("window", "rnn-parser leaves: embeddings of a word window (purely "
                         "recursive) or BiLSTM states", choices=("window", "bilstm"))
    beam: int = option(1, "rnn-parser: sub-derivations kept per chart cell, in training and "
                       "parsing", low=1)
    h_size: int | None = option(None, "hidden size (default: 128 rnn-parser, 200 "
                                "bilstm-parser)", low=1)
    word_dim: int = option(50, "embedding size", low=1, flag="--x-size")
    dropout: float = option(0.3, "dropout", low=0, high=1, high_open=True)
    #: training sentences longer than this are skipped (chart parsing is cubic in length)
    max_train_length: int = option(60, low=1, cli=False)
    horizontal: int = option(1, low=0, cli=False)
    vertical: int = option(2, low=1, cli=False)
    threads: int | None = option(None, "torch intra-op threads (default: torch's choice)",
                                 low=1)
    progress: bool = option(True, cli=False)
    #: rescale each step's gradient to at most this L2 norm (None or 0: no clipping)
    clip: float | None = option(PARSER_CLIP, "rescale each step's gradient to at most this "
                                "norm (0: none)", low=0)

    @classmethod
    def from_dict(cls, values: dict, path: str | Path = "train settings", text: str = ""
                  ) -> ParserTrainConfig:
        """Saved settings, each value checked: an error names ``path`` (line in ``text``)."""
        return config_from_dict(cls, values, path, text)

    def loop_config(self) -> LoopConfig:
        """The options of :func:`treenn.loop.fit`."""
        return LoopConfig.of(self)


def evaluate_parser(parser: Parser, trees: list[Tree], split: str, batch_size: int = 32,
                    sharded: bool = False) -> dict:
    """evalb scores of ``parser`` on gold ``trees`` (all sentences, and those of <= 40 words).
    ``sharded``: in a process group each process parses its share of the batches and the
    counts are summed, so each gets the result one process gets (the slowest one's time)."""
    where = distributed.world() if sharded else distributed.World()
    t0 = time.perf_counter()
    predicted = parser.parse_many([t.leaves() for t in trees], batch_size,
                                  shard=(where.rank, where.size))
    seconds = time.perf_counter() - t0
    every, short = Scores(), Scores()
    for gold, test in zip(trees, predicted, strict=True):
        if test is None:  # another process's
            continue
        every.add(gold, test)
        if len(gold.leaves()) <= 40:
            short.add(gold, test)
    if where.size > 1:
        every, short = _summed(every), _summed(short)
        seconds = float(distributed.all_reduce(torch.tensor([seconds]), op="max"))
    return {"task": "ptb", "split": split, **every.to_dict(), "length<=40": short.to_dict(),
            "parse_seconds": seconds, "sentences_per_second": len(trees) / seconds}


def _summed(scores: Scores) -> Scores:
    """``scores``' counts summed over the processes."""
    parts = (scores.labelled, scores.unlabelled)
    counts = [x for prf in parts for x in (prf.matched, prf.gold, prf.test)]
    total = distributed.all_reduce(torch.tensor([*counts, scores.sentences, scores.exact],
                                                dtype=torch.int64)).tolist()
    return Scores(PRF(*total[:3]), PRF(*total[3:6]), total[6], total[7])


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
                        h_size=cfg.h_size or DEFAULT_H_SIZE[cfg.model])
    model = PARSERS[cfg.model].cls(pcfg, words, labels)
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


def load_parser_checkpoint(ckpt: dict, path: str | Path = "checkpoint") -> Parser:
    """The trained parser a checkpoint holds; a damaged or foreign one is a one-line error
    naming ``path``."""
    check_keys(ckpt, path, {"name": str})
    if ckpt["name"] not in PARSER_MODELS:
        raise TreennError(f"{path}: not a treenn parser checkpoint (name {ckpt['name']!r})")
    with checkpoint_errors(Path(path)):
        return PARSERS[ckpt["name"]].cls.from_checkpoint(ckpt, path)


def data_sources(data_dir: str | None, data: dict[str, list[Tree]]) -> dict[str, dict]:
    """Each split's ``data_dir`` and fingerprint (of its trees), as evaluations record it."""
    where = None if data_dir is None else str(Path(data_dir).resolve())
    return {split: {"data_dir": where, "fingerprint": data_fingerprint(
        {"task": "ptb", "split": split, "trees": [to_bracketed(t) for t in trees]})}
        for split, trees in data.items()}


class ParserTrainee(Trainee):
    """A neural parser's side of :func:`treenn.loop.fit`: batches of training sentences (up
    to ``max_train_length`` words), the parser's own loss, dev labelled F1 as the selection
    score."""

    best_key = "dev_f1"

    def __init__(self, cfg: ParserTrainConfig, model, data: dict[str, list[Tree]]):
        self.cfg, self.model, self.data = cfg, model, data
        self.optimizers = [torch.optim.Adam(model.parameters(), lr=cfg.lr)]
        self.examples = [make_example(t, model.labels) for t in data["train"]
                         if len(t.leaves()) <= cfg.max_train_length]

    def n_items(self) -> int:
        return len(self.examples)

    def collate(self, index: list[int]) -> list:
        return [self.examples[k] for k in index]

    def loss(self, batch: list) -> tuple[torch.Tensor, int, dict]:
        loss, stats = self.model.loss(batch)
        return loss, len(batch), {"violations": stats["violations"]}

    def sizes(self) -> list[int]:
        return [len(e.tokens) for e in self.examples]

    def evaluate(self, split: str) -> dict:
        return evaluate_parser(self.model, self.data[split], split, sharded=True)

    def score(self, dev: dict) -> float:
        return dev["labelled"]["f1"]

    def fields(self, dev: dict) -> dict:
        return {"dev_labelled_f1": dev["labelled"]["f1"],
                "dev_unlabelled_f1": dev["unlabelled"]["f1"]}

    def summary(self, dev: dict) -> str:
        return (f"dev F1 labelled {100 * dev['labelled']['f1']:.2f} unlabelled "
                f"{100 * dev['unlabelled']['f1']:.2f}")

    def checkpoint(self) -> dict:
        saved = {"kind": "parser", "name": self.cfg.model, **self.model.state()}
        saved["state_dict"] = {k: v.clone() for k, v in saved["state_dict"].items()}
        return saved


def train_parser(cfg: ParserTrainConfig, resume: bool = False, overwrite: bool = False
                 ) -> dict:
    """Train (or, for the PCFG, estimate) a parser; evaluate the best one on dev and test.

    With ``resume`` the run continues from ``last.pt`` with its saved configuration; only
    ``cfg.epochs`` (when set) may extend it. Started by a launcher among several processes, a
    neural parser trains on all of them (:mod:`treenn.distributed`).
    """
    _check_processes(cfg.model)
    with distributed.session("cpu"):
        return _train_parser(cfg, resume, overwrite)


def _check_processes(model: str | None) -> None:
    if distributed.launched_size() > 1 and model in PARSERS and \
            PARSERS[model].training == "counted":
        raise TreennError(f"{model}: counted, not trained by gradient: it takes one process "
                          "(leave out --nproc / torchrun)")


def _train_parser(cfg: ParserTrainConfig, resume: bool, overwrite: bool) -> dict:
    run = RunDir(cfg.out)  # rank 0 reads and writes it; the others are sent what it read
    cfg, state = distributed.from_main(lambda: run.start(cfg, resume, overwrite))
    _check_processes(cfg.model)
    check_fields(cfg)
    _check(cfg)
    cfg.epochs = cfg.epochs or DEFAULT_EPOCHS
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    data = load_ptb(cfg.data_dir)
    log.info("PTB sample: %s", ", ".join(f"{k} {len(v)}" for k, v in data.items()))
    return PARSER_TRAINERS[PARSERS[cfg.model].training](cfg, data, run, state)


def _check(cfg: ParserTrainConfig) -> None:
    if cfg.model not in PARSER_MODELS:
        raise TreennError(f"unknown parser {cfg.model!r}; choose from {', '.join(PARSER_MODELS)}")
    if cfg.beam != 1 and cfg.model != "rnn-parser":
        raise TreennError(f"--beam is the recursive parser's (rnn-parser); {cfg.model} "
                          "decodes exactly")
    if PARSERS[cfg.model].training == "counted":
        if cfg.lr_patience:
            raise TreennError("--lr-patience is for models trained by gradient; the PCFG has "
                              "no learning rate")
        if cfg.ema:
            raise TreennError("--ema is for models trained by gradient; the PCFG has no "
                              "weights to average")
        if cfg.clip not in (None, PARSER_CLIP):
            raise TreennError("--clip is for models trained by gradient; the PCFG counts rules")
        if cfg.bucket:
            raise TreennError("--bucket is for models trained in batches; the PCFG counts rules "
                              "over the whole treebank at once")


def _fit_pcfg(cfg: ParserTrainConfig, data: dict[str, list[Tree]], run: RunDir, state) -> dict:
    """The PCFG has no epochs: counting rules over the training trees is its training."""
    t0 = time.perf_counter()
    parser = PCFG(PCFGConfig(horizontal=cfg.horizontal, vertical=cfg.vertical))
    parser.fit(data["train"])
    sources = data_sources(cfg.data_dir, data)
    run.write_config({"kind": "parser", "train": asdict(cfg),
                      "parser": {"model": "pcfg", **parser.cfg.__dict__},
                      "symbols": len(parser.symbols), "rules": len(parser.rule_logp),
                      "fit_seconds": time.perf_counter() - t0, "data": _data(sources)})
    ckpt = {"kind": "parser", "name": "pcfg", "pcfg": parser.to_dict(), "epoch": 1}
    run.save_epoch(ckpt, True, {})
    return _final_evaluation(parser, data, run, sources, ckpt)


def _data(sources: dict[str, dict]) -> dict:
    """``config.json``'s record of the data a run was trained and evaluated on."""
    return {"data_dir": sources["train"]["data_dir"],
            "fingerprints": {k: v["fingerprint"] for k, v in sources.items()}}


def _train_neural(cfg: ParserTrainConfig, data: dict[str, list[Tree]], run: RunDir, state
                  ) -> dict:
    if state:  # the checkpoint holds the tables and every weight: nothing to rebuild
        model = load_parser_checkpoint(state, run.last)
        coverage = read_run_config(run.path).get("embedding_coverage")
    else:
        model, coverage = _build_neural(cfg, data)
    model.word_unk_p = 0.25
    trainee = ParserTrainee(cfg, model, data)
    sources = data_sources(cfg.data_dir, data)
    trainee.run_config = {"kind": "parser", "train": asdict(cfg), "parser": asdict(model.cfg),
                          "labels": len(model.labels), "words": len(model.words.words),
                          "parameters": sum(p.numel() for p in model.parameters()),
                          "embedding_coverage": coverage, "data": _data(sources)}
    fit(trainee, cfg.loop_config(), run, state)
    best = distributed.from_main(lambda: load_checkpoint(run.best))
    return _final_evaluation(load_parser_checkpoint(best, run.best), data, run, sources, best)


def _final_evaluation(parser: Parser, data: dict[str, list[Tree]], run: RunDir,
                      sources: dict[str, dict], best: dict) -> dict:
    return evaluate_splits(run, lambda split: evaluate_parser(parser, data[split], split,
                                                              sharded=True),
                           ("dev", "test"), sources, best)


#: how each kind of parser in ``PARSERS`` is trained
#: epochs, and each neural parser's hidden size, when --epochs / --h-size are not given
DEFAULT_EPOCHS = 10
DEFAULT_H_SIZE = {"rnn-parser": 128, "bilstm-parser": 200}

PARSER_TRAINERS = {"neural": _train_neural, "counted": _fit_pcfg}
PARSER_MODELS = tuple(trainable())


def _load_best(run_dir: Path) -> tuple[Parser, dict]:
    if not is_parser_run(run_dir):
        raise TreennError(f"{run_dir} is not a parser run (train one with --task ptb)")
    path = Path(run_dir) / "best.pt"
    ckpt = load_checkpoint(path)
    check_belongs(ckpt, path, read_run_config(run_dir))
    return load_parser_checkpoint(ckpt, path), ckpt


def load_trained_parser(run_dir: Path) -> Parser:
    """The parser of a run's ``best.pt`` (a damaged or foreign one: a one-line error)."""
    return _load_best(run_dir)[0]


def evaluate_parser_run(run_dir: str | Path, split: str, data_dir: str | None = None) -> dict:
    """Score the run's parser on ``split`` of its data (or ``data_dir``'s) and write the
    result where :func:`treenn.runs.eval_path` says (an unwritable run stops before)."""
    run = RunDir(run_dir)
    parser, ckpt = _load_best(run.path)
    run.check_writable()
    data_dir = data_dir if data_dir is not None else read_train_config(
        run.path, ParserTrainConfig).data_dir
    data = load_ptb(data_dir)
    if split not in data:
        raise TreennError(f"no {split!r} split; choose from {', '.join(data)}")
    result = evaluate_parser(parser, data[split], split)
    run.write_eval(result, data_sources(data_dir, {split: data[split]})[split], run.best, ckpt)
    return result


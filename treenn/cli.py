"""The ``train.py`` / ``treenn`` command line: arguments -> configs -> library calls.

Run without arguments it trains a tree model and a sequence baseline on generated ListOps
data and prints their comparison (the quick start).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from treenn import demo, distributed, launch, report, show
from treenn.arguments import (
    FIELD_BOUNDS,
    LISTOPS_FLAGS,
    ArgumentParser,
    add_chart_arguments,
    add_config_arguments,
    add_input_arguments,
    add_listops_arguments,
    add_threads_argument,
    config_from_args,
    dest,
    input_trees,
    int_in,
    log_to_stderr,
    output_dir,
    resume_settings,
)
from treenn.errors import TreennError, run_main

log = logging.getLogger("treenn")


def _train_configs() -> dict[str, type]:
    """Who reads ``train``'s generated flags: owner -> config dataclass."""
    from treenn.parsers.training import ParserTrainConfig
    from treenn.training import TrainConfig

    return {"classifiers": TrainConfig, "parsers": ParserTrainConfig}


def _task_defaults() -> dict[str, str]:
    """Classifier defaults that depend on the task, as ``--help`` shows them."""
    from treenn.data.tasks import TASKS
    from treenn.parsers.training import DEFAULT_EPOCHS, DEFAULT_H_SIZE

    shown: dict[str, dict] = {}
    for name, task in TASKS.items():
        for key, value in task.defaults.items():
            shown.setdefault(key, {}).setdefault(value, []).append(name)
    return {**{f"classifiers:{key}": ", ".join(f"{'/'.join(names)} {value}"
                                               for value, names in by_value.items())
               for key, by_value in shown.items()},
            "parsers:epochs": str(DEFAULT_EPOCHS),
            "parsers:h_size": ", ".join(f"{k} {v}" for k, v in DEFAULT_H_SIZE.items())}


def _add_train(sub) -> None:
    from treenn.data.tasks import TASKS
    from treenn.models import MODELS
    from treenn.parsers.training import PARSER_MODELS

    p = sub.add_parser("train", help="train a model and keep its best epoch",
                       description="Train a model; keeps the best epoch by dev score (root "
                       "accuracy; parsers: labelled F1) and evaluates it on every split at "
                       "the end. Flags come from the training configurations; a flag the "
                       "task's models do not read is refused.")
    p.add_argument("--task", choices=list(TASKS),
                   help="sst5, sst2, listops (classification) or ptb (constituency parsing); "
                   "required unless --resume")
    p.add_argument("--model", choices=[*MODELS, *PARSER_MODELS],
                   help="a classifier for sst5/sst2/listops, a parser for ptb; required "
                   "unless --resume")
    p.add_argument("--out", required=True, type=output_dir, metavar="RUN_DIR",
                   help="run directory to write")
    run = p.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true",
                     help="continue RUN_DIR from last.pt with its task, model and settings "
                     "(flags given must agree with them; --epochs extends the run)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the run already in RUN_DIR (its files are deleted first); "
                     "without it, existing run files stop train")
    p.add_argument("--nproc", type=int_in(1, 1024), default=1, metavar="N",
                   help="train on N processes of this machine (data-parallel, the same "
                   "result as one; each with --threads or cores/N threads; default: 1)")
    add_config_arguments(p, _train_configs(), _task_defaults())
    add_listops_arguments(p.add_argument_group("ListOps generator (used without --data-dir)"))


def _cmd_train(args) -> int:
    from treenn.data.tasks import get_task
    from treenn.parsers.training import PARSER_MODELS, ParserTrainConfig

    if args.resume:
        resume_settings(args, _train_configs())
    elif args.task is None or args.model is None:
        raise TreennError("train: the following arguments are required: "
                          + ", ".join(f for f in ("--task", "--model")
                                      if getattr(args, f[2:]) is None)
                          + " (unless --resume continues the run in --out)")
    task = get_task(args.task)
    parsing = task.kind == "parsing"
    if parsing != (args.model in PARSER_MODELS):
        raise TreennError(f"--model {args.model} does not fit --task {args.task}: parsing "
                          f"(--task ptb) takes {', '.join(PARSER_MODELS)}; the other tasks "
                          "take classifiers")
    listops = {key: getattr(args, dest(flag)) for flag, (key, _) in LISTOPS_FLAGS.items()
               if hasattr(args, dest(flag))}
    if listops and "listops" not in task.options:
        raise TreennError(f"{', '.join(f for f in LISTOPS_FLAGS if hasattr(args, dest(f)))}: "
                          f"not read by --task {args.task} (those flags are for listops)")
    common = {"out": args.out, "model": args.model, "progress": not args.quiet}
    what = f"--task {args.task}"
    if parsing:
        cfg = config_from_args(ParserTrainConfig, "parsers", args, _train_configs(), what,
                               **common)
        launched = _processes(args)
        return launched if launched is not None else _train_parser(cfg, args.resume,
                                                                   args.overwrite)
    from treenn.models import MODELS
    from treenn.training import TrainConfig, train

    cfg = config_from_args(TrainConfig, "classifiers", args, _train_configs(), what,
                           kind=MODELS[args.model].kind, task=args.task, listops=listops,
                           **common)
    launched = _processes(args)
    if launched is not None:
        return launched
    results = train(cfg, resume=args.resume, overwrite=args.overwrite)
    if distributed.launched_rank():
        return 0  # rank 0 prints the results
    print(f"run: {args.out}")
    for split, res in results.items():
        print(f"{split:>7}: root accuracy {100 * res['root']['accuracy']:.2f}%  "
              f"all nodes {100 * res['all']['accuracy']:.2f}%  ({res['root']['n']} sentences)")
    return 0


def _processes(args) -> int | None:
    """``--nproc N``: the exit status of N processes running this command (None: train here,
    in this process, alone or as one of a launch's)."""
    if args.nproc == 1 or launch.in_worker():
        return None
    if distributed.launched_size() > 1:
        raise TreennError("--nproc: this process is one of torchrun's already (WORLD_SIZE="
                          f"{distributed.launched_size()}); leave --nproc out")
    from treenn.parsers.registry import PARSERS

    if args.model in PARSERS and PARSERS[args.model].training == "counted":
        raise TreennError(f"--nproc {args.nproc}: {args.model} is counted, not trained by "
                          "gradient; it takes one process")
    threads = getattr(args, "threads", None) or max(1, (os.cpu_count() or 1) // args.nproc)
    return launch.launch(main, args.argv, args.nproc, threads, args.debug)


def _train_parser(cfg, resume: bool, overwrite: bool) -> int:
    from treenn.parsers.training import train_parser

    results = train_parser(cfg, resume=resume, overwrite=overwrite)
    if distributed.launched_rank():
        return 0  # rank 0 prints the results
    print(f"run: {cfg.out}")
    for split, res in results.items():
        print(f"{split:>5}: labelled F1 {100 * res['labelled']['f1']:.2f}  unlabelled F1 "
              f"{100 * res['unlabelled']['f1']:.2f}  ({res['sentences']} sentences, "
              f"{res['sentences_per_second']:.0f} sentences/s)")
    return 0


def _cmd_parse(args) -> int:
    """One raw sentence per line in, one bracketed tree per line out."""
    from treenn.data.trees import to_bracketed
    from treenn.parsers.pipeline import load_parser, read_sentences
    from treenn.parsers.tokenize import tokenize

    parser = load_parser(args.run_dir, args.beam, args.pairs)
    name = "<stdin>" if args.text == "-" else args.text
    lines = read_sentences(args.text)
    sentences = [tokenize(line) for _, line in lines]
    for (lineno, _), tokens in zip(lines, sentences, strict=True):
        try:
            parser.check(tokens)
        except ValueError as err:
            raise TreennError(f"{name}:{lineno}: {err}") from None
    for tree in parser.parse_many(sentences, args.batch_size):
        print(to_bracketed(tree))
    return 0


def _cmd_evaluate(args) -> int:
    from treenn.runs import eval_path, is_parser_run

    run_dir = Path(args.run_dir)
    if run_dir.is_dir() and not os.access(run_dir, os.W_OK | os.X_OK):
        raise TreennError(f"{run_dir}: no permission to write eval-{args.split}.json there")
    if is_parser_run(run_dir):
        from treenn.parsers.training import evaluate_parser_run

        result = evaluate_parser_run(args.run_dir, args.split, args.data_dir)
        for key in ("labelled", "unlabelled"):
            r = result[key]
            print(f"{key:>10}: precision {100 * r['precision']:.2f}  recall "
                  f"{100 * r['recall']:.2f}  F1 {100 * r['f1']:.2f}  "
                  f"(matched {r['matched']} of gold {r['gold']}, test {r['test']})")
        print(f"sentences {result['sentences']}, exact match "
              f"{100 * result['exact_match']:.2f}%, length<=40 labelled F1 "
              f"{100 * result['length<=40']['labelled']['f1']:.2f}")
        print(f"\nwrote {eval_path(args.run_dir, result)}")
        return 0
    from treenn.data.tasks import get_task
    from treenn.metrics import format_summary
    from treenn.parsers.latent import induced_tree_scores
    from treenn.training import evaluate_run

    result = evaluate_run(args.run_dir, args.split, args.data_dir, args.engine, args.checkpoint,
                          extra=induced_tree_scores)
    task = get_task(result["task"])
    print(format_summary(result, task.class_names, task.group_name))
    if "induced_trees" in result:
        scores = result["induced_trees"]
        print("induced trees, unlabelled F1 against the gold trees: " + ", ".join(
            f"{name} {100 * scores[name]['f1']:.2f}"
            for name in ("induced", "right-branching", "left-branching")))
    if "on_gold_trees" in result:
        gold = result["on_gold_trees"]
        print(f"on the gold trees instead (its cell and classifier as {gold['model']}): root "
              f"accuracy {100 * gold['root_accuracy']:.2f}%")
    print(f"\nwrote {eval_path(args.run_dir, result)}")
    return 0


def _cmd_predict(args) -> int:
    from treenn.data.graphs import relabel
    from treenn.data.trees import to_bracketed
    from treenn.induced import predict_with_trees
    from treenn.training import run_task

    task = run_task(args.run_dir, args.checkpoint)
    trees, probs = predict_with_trees(args.run_dir, input_trees(task, args), args.checkpoint)
    for tree, p in zip(trees, probs, strict=True):
        pred = p.argmax(-1).tolist()
        if args.probabilities:
            labels = [f"{y}|" + ",".join(f"{v:.3f}" for v in row.tolist())
                      for y, row in zip(pred, p, strict=True)]
        else:
            labels = [str(y) for y in pred]
        print(to_bracketed(relabel(tree, labels)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description="Recursive (tree-structured) neural networks against "
                            "sequence baselines: train, evaluate, predict. Without arguments: "
                            "the demo.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also log set-up details (data sizes, embedding coverage) and "
                        "debug lines")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    _add_train(sub)

    p = sub.add_parser("evaluate", help="score a run on a split and write eval-<split>.json")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", default="dev", help="dev, test (or extrap for ListOps)")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--engine", choices=["fast", "dgl"])
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    add_threads_argument(p)

    p = sub.add_parser("predict", help="label every node of the given trees or sentences")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_input_arguments(p)
    p.add_argument("--probabilities", action="store_true",
                   help="print each node's class distribution after its label")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    add_threads_argument(p)

    p = sub.add_parser("show", help="draw trees coloured by a run's predictions",
                       description="Draw each input tree with every node's predicted class "
                       "(and its gold label where the input has one): in the terminal, as "
                       "SVG or PNG, or as one HTML page with a filter for errors.")
    show.add_arguments(p)
    p = sub.add_parser("compare", help="compare runs (or train a grid) and write a report",
                       description="Compare finished runs: accuracy tables, accuracy by "
                       "length and depth, confusion matrices, learning curves and paired "
                       "significance tests, written as report.md and report.html.")
    report.add_arguments(p)

    p = sub.add_parser("parse", help="parse raw sentences into bracketed trees",
                       description="Tokenise each line (Penn Treebank conventions) and parse "
                       "it; prints one bracketed tree per line.")
    p.add_argument("run_dir", metavar="RUN_DIR|NAME",
                   help="a parser run (train --task ptb), rnn-parser runs joined by "
                   "commas (an ensemble), or right-branching, left-branching, balanced")
    p.add_argument("--text", required=True, metavar="FILE",
                   help="one sentence per line ('-' reads standard input)")
    p.add_argument("--batch-size", type=int_in(1, FIELD_BOUNDS["batch_size"][1]), default=32,
                   help="sentences parsed together (default: 32)")
    add_chart_arguments(p)
    add_threads_argument(p)

    p = sub.add_parser("demo", help="the quick start: tree vs sequence on generated ListOps")
    p.add_argument("--out", type=output_dir, default="runs/demo", metavar="DIR",
                   help="where the two runs go (default: runs/demo)")
    p.add_argument("--epochs", type=int_in(1, FIELD_BOUNDS["epochs"][1]), default=15,
                   help="training epochs of each model (default: 15)")
    return parser


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict,
            "parse": _cmd_parse, "demo": demo.run, "show": show.run, "compare": report.run}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:  # a usage error (one line, status 2) or --help: returned like any other outcome
        args = parser.parse_args(argv)
        if args.command is None:  # only global options (-q, -v): the demo, with them
            args = parser.parse_args([*argv, "demo"])
    except SystemExit as exit_:
        return exit_.code
    log_to_stderr(args.verbose)
    args.argv = argv  # what each process of train --nproc runs
    if getattr(args, "run_threads", None):  # add_threads_argument's commands
        import torch

        torch.set_num_threads(args.run_threads)
    try:
        return run_main(lambda: COMMANDS[args.command](args), debug=args.debug,
                        report=launch.error_reporter())
    except KeyboardInterrupt:
        if launch.interrupted_message():
            print(f"\n{launch.interrupted_message()}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

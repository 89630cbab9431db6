"""``train --nproc N``: N training processes on this machine, started by torch's own launcher
(``torch.distributed.launcher``, what ``torchrun`` runs: a c10d rendezvous on a free local
port), each one the same ``train`` command; :mod:`treenn.distributed` makes them one run.

What the user sees is one process's: rank 0's progress and lines (the others' output goes to
files that are deleted), and when a process fails, one ``error:`` line, the failed process's
own (its error boundary writes the line to a file instead of printing it), with its exit
status: 2 for input to fix, 1 for anything else. The launcher then stops the others.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

#: the folder where the processes of a launch leave their error line (set by the launcher)
ERRORS_ENV = "TREENN_LAUNCH_DIR"

_INTERRUPTED = ("interrupted; finished epochs are saved (continue with train --resume --out "
                "RUN_DIR)")


def in_worker() -> bool:
    """Whether this process was started by :func:`launch`."""
    return ERRORS_ENV in os.environ


def error_reporter() -> Callable[[str], None] | None:
    """How a process of a launch reports its ``error:`` line: into the launch's folder, for
    the launcher to print once (None outside a launch: printed)."""
    folder = os.environ.get(ERRORS_ENV)
    if folder is None:
        return None
    rank = os.environ.get("RANK", "0")

    def report(line: str) -> None:
        Path(folder, f"error-{rank}.txt").write_text(line, encoding="utf-8")

    return report


def interrupted_message() -> str | None:
    """What Ctrl-C prints (None in a process of a launch: the launcher prints it)."""
    return None if in_worker() else _INTERRUPTED


def worker(main: Callable[[list[str]], int], argv: list[str], threads: int) -> int:
    """One process of a launch: ``main(argv)`` with ``threads`` torch threads. A failure
    ends the process with its status, which makes the launcher stop the others."""
    import torch

    torch.set_num_threads(threads)
    code = main(argv)
    if code:
        rank = os.environ.get("RANK", "0")
        Path(os.environ[ERRORS_ENV], f"status-{rank}.txt").write_text(str(code))
        raise SystemExit(code)
    return 0


def launch(main: Callable[[list[str]], int], argv: list[str], nproc: int, threads: int,
           debug: bool = False) -> int:
    """Run ``main(argv)`` in ``nproc`` processes of one process group; their exit status."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    folder = tempfile.mkdtemp(prefix="treenn-launch-")
    saved = dict(os.environ)
    os.environ[ERRORS_ENV] = folder
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    # DDP's remark that a step used every parameter (they need not: find_unused_parameters)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    # the semaphores of a process killed -9, which multiprocessing's tracker reports
    os.environ["PYTHONWARNINGS"] = ",".join(
        w for w in (saved.get("PYTHONWARNINGS"),
                    "ignore::UserWarning:multiprocessing.resource_tracker") if w)
    if not debug:
        for name in ("torch.distributed.elastic", "torch.distributed.launcher",
                     "torch.multiprocessing"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"treenn-{uuid.uuid4().hex}",
        rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", local_addr="127.0.0.1",
        max_restarts=0, start_method="spawn", monitor_interval=0.1,
        logs_specs=DefaultLogsSpecs(log_dir=str(Path(folder, "logs")),
                                    redirects={r: Std.ALL for r in range(1, nproc)}))
    try:
        elastic_launch(config, worker)(main, argv, threads)
        return 0
    except ChildFailedError as failed:
        return _report(failed, folder)
    except (KeyboardInterrupt, SignalException):
        print(f"\n{_INTERRUPTED}", file=sys.stderr)
        return 130
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def _report(failed, folder: str) -> int:
    """Print the error line of the process that failed first (input to fix before internal
    errors: a process whose peer stopped fails too, later, with a lost connection), else
    what ended it; return its exit status."""
    found = []
    for path in Path(folder).glob("error-*.txt"):
        rank = path.stem.split("-")[1]
        status = Path(folder, f"status-{rank}.txt")
        code = int(status.read_text()) if status.is_file() else 1
        found.append((code != 2, path.stat().st_mtime_ns, code, path.read_text("utf-8")))
    killed = [r for r, f in failed.failures.items() if f.exitcode == -signal.SIGKILL]
    if found and (killed == [] or min(found)[2] == 2):
        _, _, code, line = min(found)
        print(line, file=sys.stderr)
        return code
    rank, failure = (killed[0], failed.failures[killed[0]]) if killed else \
        failed.get_first_failure()
    how = (f"was killed ({failure.signal_name()})" if failure.exitcode < 0
           else f"exited with status {failure.exitcode}")
    print(f"error: training process {rank} {how}; finished epochs are saved (continue with "
          "train --resume --out RUN_DIR)", file=sys.stderr)
    return 1

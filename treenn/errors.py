"""Errors that reach the user as one line, without a traceback."""


import sys
from collections.abc import Callable


class TreennError(Exception):
    """A problem the user can fix (bad input, missing file, unknown name).

    The command line prints ``error: <message>`` and exits with status 2.
    """


class DataError(TreennError):
    """Malformed input data. Messages start with ``path:line:`` when a line is known."""

    @classmethod
    def at(cls, path: object, lineno: int | None, message: str) -> "DataError":
        where = f"{path}:{lineno}" if lineno is not None else f"{path}"
        return cls(f"{where}: {message}")


def _print(line: str) -> None:
    print(line, file=sys.stderr)


def run_main(main: Callable[[], int], debug: bool = False,
             report: Callable[[str], None] | None = None) -> int:
    """Run a command's ``main`` inside the error boundary: a :class:`TreennError` (bad input)
    becomes ``error: ...`` and status 2; any other exception (a bug, or a failure this
    program did not foresee) becomes one ``error: internal error ...`` line and status 1,
    with the traceback only under ``debug`` (``--debug``). The line goes to ``report``
    (default: standard error)."""
    report = report or _print
    try:
        return main()
    except TreennError as err:
        report(f"error: {err}")
        return 2
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # noqa: BLE001 - the boundary: one line instead of a traceback
        if debug:
            raise
        text = " ".join(str(err).split())
        report(f"error: internal error: {type(err).__name__}: {text[:300]} (rerun with "
               "--debug for the traceback)")
        return 1

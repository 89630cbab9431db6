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


def run_main(main: Callable[[], int]) -> int:
    """Run a command's ``main``; a :class:`TreennError` becomes ``error: ...`` and status 2."""
    try:
        return main()
    except TreennError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

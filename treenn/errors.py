"""Errors that reach the user as one line, without a traceback."""


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

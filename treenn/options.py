"""Configuration fields that describe themselves: help text, allowed range, choices and the
command-line flag. The command line builds its flags from the config dataclasses
(:func:`treenn.arguments.add_config_arguments`) and checks every value once, where it is
given, instead of keeping lists of flags by hand.

>>> from dataclasses import dataclass, fields
>>> @dataclass
... class Example:
...     lr: float = option(0.1, "learning rate", low=0, low_open=True)
>>> check_value(fields(Example)[0], 0.5), describe_range(fields(Example)[0])
(0.5, 'a number > 0')
>>> check_value(fields(Example)[0], float("nan"))
Traceback (most recent call last):
...
ValueError: nan: give a number > 0
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from treenn.errors import TreennError


def option(default: Any = MISSING, help: str = "", *, low: float | None = None,
           high: float | None = None, low_open: bool = False, high_open: bool = False,
           choices: tuple | None = None, flag: str | None = None, cli: bool = True,
           metavar: str | None = None, factory: Any = MISSING,
           kinds: tuple[str, ...] | None = None) -> Any:
    """A dataclass field with what the command line needs to know about it.

    Args:
        default: the field's default (``None`` for classifiers means "the task's default").
        help: one line for ``--help``.
        low, high: the allowed range (``None``: unbounded); ``low_open``/``high_open``
            exclude the bound itself. Floats must also be finite.
        choices: the allowed values.
        flag: the flag's name when it is not ``--field-name``.
        cli: ``False`` for fields set by the program, not by a flag.
        metavar: the value's name in ``--help``.
        factory: a ``default_factory`` instead of ``default``.
        kinds: the kinds of model that read the field (e.g. ``("sequence",)``); a flag
            given for another kind is refused. ``None``: every model reads it.
    """
    metadata = {"help": help, "low": low, "high": high, "low_open": low_open,
                "high_open": high_open, "choices": choices, "flag": flag, "cli": cli,
                "metavar": metavar, "kinds": kinds}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Range:
    """The numbers an option takes: ``kind`` (``int`` or ``float``) between ``low`` and
    ``high`` (``None``: unbounded; ``*_open`` excludes the bound itself). A float must also
    be finite, whatever the bounds.

    >>> Range(int, 1, 10).describe(), 5 in Range(int, 1, 10), 0 in Range(int, 1, 10)
    ('an integer >= 1 and <= 10', True, False)
    >>> float("inf") in Range(float, 0)
    False
    """

    kind: type = float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """In words: ``an integer >= 1``, ``an integer >= 1 and <= 9``, ``a number in [0, 1)``."""
        what = "an integer" if self.kind is int else "a number"
        low, high = self.low, self.high
        if low is not None and high is not None and not (self.low_open or self.high_open):
            return f"{what} >= {_num(low)} and <= {_num(high)}"
        if low is not None and high is not None:
            return (f"{what} in {'(' if self.low_open else '['}{_num(low)}, {_num(high)}"
                    f"{')' if self.high_open else ']'}")
        if low is not None:
            return f"{what} {'>' if self.low_open else '>='} {_num(low)}"
        if high is not None:
            return f"{what} {'<' if self.high_open else '<='} {_num(high)}"
        return what

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and not (value > self.low if self.low_open
                                         else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open
                                     else value <= self.high)

    def check(self, value: Any) -> Any:
        """``value`` if it is in range, else ``ValueError('<value>: give <range>')``."""
        if value not in self:
            raise ValueError(f"{value}: give {self.describe()}")
        return value


def field_range(f: Field) -> Range:
    """The range a numeric field declares in its metadata (:func:`option`)."""
    meta = f.metadata
    return Range(field_type(f), meta.get("low"), meta.get("high"),
                 meta.get("low_open", False), meta.get("high_open", False))


def describe_range(f: Field) -> str:
    """What values a field takes, in words: ``an integer >= 1``, ``a number in [0, 1)``."""
    return field_range(f).describe()


def check_value(f: Field, value: Any) -> Any:
    """``value`` if the field allows it, else ``ValueError('<value>: give <range>')``."""
    if value is None:
        return value
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"{value}: choose from {', '.join(map(str, choices))}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return field_range(f).check(value)


def field_type(f: Field) -> type:
    """``int``, ``float``, ``str``, ``bool`` or ``dict`` from the field's annotation (a
    string under ``from __future__ import annotations``: ``"int | None"``)."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    name = text.replace("None", "").replace("|", "").strip()
    return {"int": int, "float": float, "str": str, "bool": bool, "dict": dict}[name]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def flag_name(f: Field) -> str:
    """The field's command-line flag: ``--batch-size`` for ``batch_size``."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def check_fields(cfg: Any) -> None:
    """Every field of the dataclass ``cfg`` within its range and choices, else a one-line
    :class:`TreennError` naming the flag (the Python API gets the same check as the CLI)."""
    for f in fields(cfg):
        try:
            check_value(f, getattr(cfg, f.name))
        except ValueError as err:
            raise TreennError(f"{flag_name(f)} {err}") from None

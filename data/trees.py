"""Reading and writing PTB-bracketed trees, with errors that name the file and line.

Every function here is iterative, so a 10,000-node chain does not hit Python's recursion
limit (nltk's own ``Tree.__str__`` and ``Tree.leaves`` are recursive).

>>> t = parse_tree("(3 (2 The) (4 (2 Rock) (3 rocks)))")
>>> to_bracketed(t)
'(3 (2 The) (4 (2 Rock) (3 rocks)))'
>>> [label for label, _ in iter_labels(t)]
['3', '2', '4', '2', '3']
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from nltk import Tree

from treenn.errors import DataError


def parse_tree(text: str) -> Tree:
    """Parse one bracketed tree; raise ``ValueError`` with a one-line reason.

    Rejects unbalanced brackets, text outside the brackets and nodes without children.

    >>> parse_tree("(2 (2 a) (2 b)")
    Traceback (most recent call last):
    ...
    ValueError: malformed tree: expected ')' but got 'end-of-string' at index 14
    >>> parse_tree("(2 (2 a) (2 ))")
    Traceback (most recent call last):
    ...
    ValueError: empty tree: node '2' has no children
    """
    text = text.strip()
    if not text:
        raise ValueError("empty line (expected one bracketed tree)")
    try:
        tree = Tree.fromstring(text)
    except ValueError as err:
        # nltk's message spans several lines with an ASCII-art pointer; keep its first sentence.
        first = " ".join(str(err).split("\n")[:2]).replace("Tree.read(): ", "")
        raise ValueError("malformed tree: " + " ".join(first.split()).rstrip(".")) from None
    for node in iter_subtrees(tree):
        if len(node) == 0:
            raise ValueError(f"empty tree: node '{node.label()}' has no children")
    return tree


def is_preterminal(node: Tree) -> bool:
    """A node over exactly one word (a part-of-speech tag, or an SST word with its label)."""
    return len(node) == 1 and isinstance(node[0], str)


def iter_subtrees(tree: Tree) -> Iterator[Tree]:
    """Yield every ``Tree`` node in pre-order (iteratively)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in reversed(node) if isinstance(child, Tree))


def iter_labels(tree: Tree) -> Iterator[tuple[str, Tree]]:
    """Yield ``(label, node)`` for every node in pre-order."""
    for node in iter_subtrees(tree):
        yield node.label(), node


def leaves(tree: Tree) -> list[str]:
    """The words of ``tree`` left to right (iterative ``Tree.leaves``)."""
    out: list[str] = []
    stack: list[Tree | str] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            stack.extend(reversed(node))
        else:
            out.append(node)
    return out


def to_bracketed(tree: Tree | str, label: Callable[[Tree], str] | None = None) -> str:
    """Write ``tree`` on one line, optionally replacing each node's label.

    Args:
        tree: the tree (a bare string is a one-word tree).
        label: maps a node to the label to print; defaults to ``node.label()``.

    >>> to_bracketed(Tree("S", [Tree("NP", ["I"]), Tree("VP", ["run"])]), lambda n: "X")
    '(X (X I) (X run))'
    """
    if isinstance(tree, str):
        return tree
    get = label or (lambda node: node.label())
    parts: list[str] = []
    stack: list[tuple[Tree | str | None, str]] = [(tree, "")]  # (item, prefix); None closes
    while stack:
        item, prefix = stack.pop()
        if item is None:
            parts.append(")")
        elif isinstance(item, Tree):
            parts.append(f"{prefix}({get(item)}")
            stack.append((None, ""))
            stack.extend((child, " ") for child in reversed(item))
        else:
            parts.append(prefix + item)
    return "".join(parts)


def height(tree: Tree) -> int:
    """Number of nodes on the longest root-to-word path, counting a preterminal as one node.

    >>> height(parse_tree("(1 (2 a) (3 (4 b) (5 c)))"))
    3
    """
    best = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        best = max(best, depth)
        for child in node:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))
    return best


def check_int_labels(tree: Tree, n_classes: int) -> None:
    """Raise ``ValueError`` unless every node label is an integer in ``[0, n_classes)``."""
    for label, _ in iter_labels(tree):
        try:
            value = int(label)
        except ValueError:
            raise ValueError(f"label {label!r} is not an integer") from None
        if not 0 <= value < n_classes:
            raise ValueError(f"label {value} is outside 0-{n_classes - 1}")


def decode_lines(raw: bytes, name: object) -> list[str]:
    r"""Text lines of a file's bytes, decoded in one place for every reader of input text.

    UTF-8, with a leading byte-order mark dropped; line ends ``\n``, ``\r\n`` or ``\r``. A
    byte that is not UTF-8, and a NUL byte, are a :class:`DataError` naming ``name:line``.

    >>> decode_lines(b"\xef\xbb\xbf(2 a)\r\n(3 b)\n", "f")
    ['(2 a)', '(3 b)']
    >>> decode_lines(b"(2 a)\n(3 caf\xe9)\n", "f")
    Traceback (most recent call last):
    ...
    treenn.errors.DataError: f:2: not UTF-8 text (byte 0xe9 at column 7)
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        raise DataError.at(name, raw.count(b"\n", 0, err.start) + 1,
                           f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column "
                           f"{err.start - line_start + 1})") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if "\0" in line:
            raise DataError.at(name, lineno, f"a NUL byte at column {line.index(chr(0)) + 1} "
                               "(binary data, not text)")
    return lines


def read_lines(path: str | Path) -> list[str]:
    """The decoded lines (:func:`decode_lines`) of a file, or of standard input for ``-``."""
    if str(path) == "-":
        return decode_lines(sys.stdin.buffer.read(), "<stdin>")
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return decode_lines(path.read_bytes(), path)


def read_tree_file(path: str | Path, check: Callable[[Tree], None] | None = None) -> list[Tree]:
    """Read a file with one bracketed tree per line.

    Args:
        path: the file.
        check: called on each tree; a ``ValueError`` it raises becomes a ``DataError``
            naming ``path:line``.

    Raises:
        DataError: on a missing file, an empty line, malformed brackets or a failed check.
    """
    path = Path(path)
    trees = []
    for lineno, line in enumerate(read_lines(path), start=1):
        try:
            tree = parse_tree(line)
            if check is not None:
                check(tree)
        except ValueError as err:
            raise DataError.at(path, lineno, str(err)) from None
        trees.append(tree)
    if not trees:
        raise DataError(f"{path}: the file holds no trees")
    return trees


def read_input_lines(path: str, what: str = "tree") -> list[tuple[int, str]]:
    """Lines of ``path`` (``-`` reads standard input) with their numbers, for commands that
    write one output line per input line: an empty line is an error, since skipping it
    would shift every later output line.

    Raises:
        DataError: a missing file, no lines, or an empty line (named ``path:line``).
    """
    name = "<stdin>" if path == "-" else path
    lines = list(enumerate(read_lines(path), start=1))
    if not lines:
        raise DataError(f"{name}: no input lines")
    for lineno, line in lines:
        if not line.strip():
            raise DataError.at(name, lineno, f"empty line (expected one {what} per line)")
    return lines

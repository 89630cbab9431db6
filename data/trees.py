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

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from nltk import Tree

from treenn.errors import DataError, TreennError

# A token character is a backslash-escaped bracket (kept verbatim, as nltk keeps it) or any
# character that is neither whitespace nor a bracket: the tokens of ``nltk.Tree.fromstring``.
_CHAR = r"(?:\\[()]|[^\s()])"
_TOKEN = re.compile(rf"\(\s*({_CHAR}+)?|\)|({_CHAR}+)")
_INT = re.compile(r"-?[0-9]{1,18}")  # no int of thousands of digits (slow, and nonsense)


class MalformedTree(ValueError):
    """Brackets that do not make one tree; ``index`` is where in the text it was found."""

    def __init__(self, reason: str, index: int):
        super().__init__(f"{reason} at index {index}")
        self.reason = reason
        self.index = index


def shown(text: str, limit: int = 30) -> str:
    """``repr`` of a piece of input for a one-line message, cut after ``limit`` characters.

    >>> shown("a" * 40, 5)
    "'aaaaa...'"
    """
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _malformed(expected: str, got: str, index: int) -> MalformedTree:
    return MalformedTree(f"malformed tree: expected {expected!r} but got {shown(got)}", index)


def parse_tree(text: str) -> Tree:
    """Parse one bracketed tree (iteratively: any depth); raise ``ValueError`` with a
    one-line reason.

    Reads what ``nltk.Tree.fromstring`` reads, without its nesting limit. Rejects unbalanced
    brackets, text outside the brackets and nodes without children (as
    :class:`MalformedTree`, with the index into ``text``).

    >>> for bad in ("(2 (2 a) (2 b)", "(2 (2 a) (2 ))", "(2 a) b"):
    ...     try:
    ...         parse_tree(bad)
    ...     except ValueError as err:
    ...         print(err)
    malformed tree: expected ')' but got 'end-of-string' at index 14
    empty tree: node '2' has no children at index 12
    malformed tree: expected 'end-of-string' but got 'b' at index 6
    """
    if not text.strip():
        raise ValueError("empty line (expected one bracketed tree)")
    # stack[0] is a sentinel that receives the finished tree
    stack: list[tuple[str, list[Tree | str]]] = [("", [])]
    for match in _TOKEN.finditer(text):
        token, at = match.group(), match.start()
        if len(stack) == 1 and stack[0][1]:
            raise _malformed("end-of-string", token, at)
        if token[0] == "(":
            stack.append((match.group(1) or "", []))
        elif len(stack) == 1:
            raise _malformed("(", token, at)
        elif token == ")":
            label, children = stack.pop()
            if not children:
                raise MalformedTree(f"empty tree: node {shown(label)} has no children", at)
            stack[-1][1].append(Tree(label, children))
        else:
            stack[-1][1].append(token)
    if len(stack) > 1:
        raise _malformed(")", "end-of-string", len(text))
    return stack[0][1][0]


def copy_tree(tree: Tree) -> Tree:
    """A deep copy of ``tree`` (iterative ``Tree.copy(deep=True)``)."""
    copies: dict[int, Tree] = {}
    for node in reversed(list(iter_subtrees(tree))):  # children before their parents
        copies[id(node)] = Tree(node.label(), [copies[id(c)] if isinstance(c, Tree) else c
                                               for c in node])
    return copies[id(tree)]


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


def int_label(text: str) -> int:
    """An integer label written in ASCII digits (``int`` alone would also take ``' 3'``,
    ``'1_0'`` and other scripts' digits, which do not write back as they were read).

    >>> int_label("3"), int_label("-1")
    (3, -1)
    >>> int_label("３")
    Traceback (most recent call last):
    ...
    ValueError: label '３' is not an integer
    """
    if not _INT.fullmatch(text):
        raise ValueError(f"label {shown(text)} is not an integer")
    return int(text)


def check_int_labels(tree: Tree, n_classes: int) -> None:
    """Raise ``ValueError`` unless every node label is an integer in ``[0, n_classes)``."""
    for label, _ in iter_labels(tree):
        value = int_label(label)
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
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        raise _not_utf8(name, raw.count(b"\n", 0, err.start) + 1, raw[err.start],
                        err.start - line_start + 1) from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if "\0" in line:
            raise _nul(name, lineno, line)
    return lines


def decode_line(raw: bytes, name: object, lineno: int) -> str:
    r"""One line of a file read line by line (files too large to hold, such as embeddings),
    decoded as :func:`decode_lines` decodes a whole file: the BOM dropped on line 1, the line
    end (``\n``, ``\r\n``) removed, the same errors.

    >>> decode_line(b"the 0.5\r\n", "f", 3)
    'the 0.5'
    >>> decode_line(b"caf\xe9 0.5\n", "f", 3)
    Traceback (most recent call last):
    ...
    treenn.errors.DataError: f:3: not UTF-8 text (byte 0xe9 at column 4)
    """
    if lineno == 1 and raw.startswith(BOM):
        raw = raw[len(BOM):]
    raw = raw.removesuffix(b"\n").removesuffix(b"\r")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(name, lineno, raw[err.start], err.start + 1) from None
    if "\0" in line:
        raise _nul(name, lineno, line)
    return line


BOM = b"\xef\xbb\xbf"


def _not_utf8(name: object, lineno: int, byte: int, column: int) -> DataError:
    return DataError.at(name, lineno, f"not UTF-8 text (byte 0x{byte:02x} at column {column})")


def _nul(name: object, lineno: int, line: str) -> DataError:
    return DataError.at(name, lineno, f"a NUL byte at column {line.index(chr(0)) + 1} "
                        "(binary data, not text)")


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


def data_folder(path: str | Path) -> Path:
    """``path`` as a folder of data files; a missing path, or a file, is a :class:`TreennError`."""
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file, not a directory" if folder.exists() else "does not exist"
        raise TreennError(f"data directory {folder} {what}")
    return folder


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


def relabel_uniform(tree: Tree | str, inner: str = "X", tag: str = "XX") -> Tree:
    """A copy of ``tree`` with every preterminal labelled ``tag`` and every other node
    ``inner``; a bare word becomes ``(tag word)``. (Bracket scoring then compares shapes
    only.)"""
    return rebuild(tree, lambda node: tag, lambda node: inner)


def rebuild(tree: Tree | str, leaf_label, inner_label) -> Tree:
    """A copy of ``tree`` built bottom-up without recursion (induced trees of long inputs are
    deeper than Python's recursion limit); words end under preterminals."""
    if isinstance(tree, str):
        return Tree(leaf_label(tree), [tree])
    done: dict[int, Tree] = {}
    stack = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        if len(node) == 1 and isinstance(node[0], str):
            done[id(node)] = Tree(leaf_label(node), [node[0]])
        elif ready:  # a bare word (the same str object may occur twice) gets a new node
            done[id(node)] = Tree(inner_label(node), [
                done[id(c)] if isinstance(c, Tree) else Tree(leaf_label(c), [c]) for c in node])
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in node if isinstance(child, Tree))
    return done[id(tree)]

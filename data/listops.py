"""ListOps (Nangia & Bowman, 2018): nested list operations over digits, with gold trees.

An expression such as ``[MAX 2 9 [MIN 4 7 ] 0 ]`` has a value (here 9). Its gold tree, as in
the published data, nests each operator left to right over its arguments and closes with
``]``::

    ( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )

Operators: ``[MIN``, ``[MAX``, ``[MED`` (median, rounded down as ``int(np.median)`` does) and
``[SM`` (sum modulo 10). Files are read unchanged in both published layouts: Nangia & Bowman's
``label<TAB>expression`` and Long Range Arena's ``Source<TAB>Target`` with a header line.

>>> tree = parse_expression("( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )")
>>> evaluate(tree)
9
>>> " ".join(tokens(tree))
'[MAX 2 9 [MIN 4 7 ] 0 ]'
>>> parse_expression("[MAX 2 9 [MIN 4 7 ] 0 ]") == tree
True
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from nltk import Tree

from treenn.data.trees import int_label, leaves, read_lines, shown
from treenn.errors import DataError

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
DIGITS = tuple(str(d) for d in range(10))


def apply_operator(op: str, args: list[int]) -> int:
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[MED":
        return int(statistics.median(args))
    if op == "[SM":
        return sum(args) % 10
    raise ValueError(f"unknown operator {op!r}")


def evaluate_tokens(toks: list[str]) -> int:
    """Value of an expression given as tokens (parentheses are ignored); ``ValueError``
    with a one-line reason when the tokens are not one well-formed expression.

    >>> evaluate_tokens("[SM 7 8 9 ]".split())
    4
    >>> evaluate_tokens("[FOO 1 2 ]".split())
    Traceback (most recent call last):
    ...
    ValueError: unknown operator 'FOO' (expected one of [MIN, [MAX, [MED, [SM)
    """
    stack: list[tuple[str, list[int]]] = []
    result = None
    for tok in toks:
        if tok in ("(", ")"):
            continue
        if tok in OPERATORS:
            stack.append((tok, []))
            continue
        if tok == END:
            if not stack:
                raise ValueError("']' without an operator")
            op, args = stack.pop()
            if not args:
                raise ValueError(f"{op} has no arguments")
            value = apply_operator(op, args)
        elif tok in DIGITS:
            value = int(tok)
        else:
            raise ValueError(_unknown(tok))
        if stack:
            stack[-1][1].append(value)
        elif result is None:
            result = value
        else:
            raise ValueError("more than one expression on the line")
    if stack or result is None:
        raise ValueError("unbalanced expression (an operator is not closed)")
    return result


def _unknown(tok: str) -> str:
    if tok.startswith("[") and len(tok) > 1:
        return f"unknown operator {shown(tok[1:])} (expected one of {', '.join(OPERATORS)})"
    if tok.isascii() and tok.isdigit():
        return f"number {shown(tok)} is not a digit 0-9"
    return f"unknown token {shown(tok)}"


def tokens(tree: Tree | str) -> list[str]:
    """The expression's tokens, left to right (the sequence models' input)."""
    return [tree] if isinstance(tree, str) else leaves(tree)


def evaluate(tree: Tree | str) -> int:
    return evaluate_tokens(tokens(tree))


def _binarise(toks: list[str]) -> Tree | str:
    """Gold tree of a flat token list ``[OP a b ... ]`` (no parentheses given)."""
    # Each open operator holds the tree built so far: ((OP a) b) ...
    stack: list[Tree | str | None] = []
    done: Tree | str | None = None
    for tok in toks:
        if tok in OPERATORS:
            stack.append(tok)
            continue
        item: Tree | str = tok
        if tok == END:
            if not stack:
                raise ValueError("']' without an operator")
            item = Tree("", [stack.pop(), END])
        if stack:
            stack[-1] = Tree("", [stack[-1], item])
        elif done is None:
            done = item
        else:
            raise ValueError("more than one expression on the line")
    if stack or done is None:
        raise ValueError("unbalanced expression (an operator is not closed)")
    return done


def _from_parentheses(toks: list[str]) -> Tree | str:
    stack: list[list] = []
    done = None
    for tok in toks:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if not stack:
                raise ValueError("unbalanced parentheses: ')' without '('")
            children = stack.pop()
            if not children:
                raise ValueError("empty tree: '( )'")
            node = Tree("", children)
            if stack:
                stack[-1].append(node)
            elif done is None:
                done = node
            else:
                raise ValueError("more than one tree on the line")
        elif stack:
            stack[-1].append(tok)
        else:
            raise ValueError(f"token {tok!r} outside the parentheses")
    if stack:
        raise ValueError("unbalanced parentheses: '(' without ')'")
    if done is None:
        raise ValueError("empty expression")
    return done


def parse_expression(text: str, label: int | None = None) -> Tree:
    """Gold tree of an expression, with or without the published parentheses.

    The root's label is the expression's value; other nodes are unlabelled (``""``). A
    lone digit becomes a one-node tree.

    Raises:
        ValueError: the text is not one expression, or ``label`` is given and is not its
            value.

    >>> parse_expression("[MIN 3 8 ]", label=7)
    Traceback (most recent call last):
    ...
    ValueError: label 7 disagrees with the expression's value 3
    """
    toks = text.split()
    if not toks:
        raise ValueError("empty expression")
    value = evaluate_tokens(toks)  # first: its messages name the faulty token
    if label is not None and label != value:
        raise ValueError(f"label {label} disagrees with the expression's value {value}")
    tree = _from_parentheses(toks) if "(" in toks or ")" in toks else _binarise(toks)
    if isinstance(tree, str):
        return Tree(str(value), [tree])
    tree.set_label(str(value))
    return tree


def parse_label(text: str) -> int:
    """A ListOps label: an integer 0-9 (surrounding spaces allowed)."""
    label = int_label(text.strip())
    if not 0 <= label <= 9:
        raise ValueError(f"label {label} is outside 0-9")
    return label


def read_tsv(path: str | Path) -> list[Tree]:
    """Read ``label<TAB>expression`` lines, or LRA's ``Source<TAB>Target`` with a header.

    Raises:
        DataError: ``path:line: ...`` for a line that is empty, has not two fields, has a
            label that is not 0-9 or not the expression's value, or an expression that does
            not parse (see :func:`evaluate_tokens`); ``path: ...`` for a file without
            expressions.
    """
    path = Path(path)
    trees = []
    label_first = True
    for lineno, line in enumerate(read_lines(path), start=1):
        if lineno == 1 and line.split("\t")[:2] == ["Source", "Target"]:
            label_first = False
            continue
        try:
            fields = line.split("\t")
            if not line.strip():
                raise ValueError("empty line")
            if len(fields) != 2:
                raise ValueError("expected two tab-separated fields")
            label_text, expr = fields if label_first else fields[::-1]
            trees.append(parse_expression(expr, parse_label(label_text)))
        except ValueError as err:
            raise DataError.at(path, lineno, str(err)) from None
    if not trees:
        raise DataError(f"{path}: the file holds no expressions")
    return trees


def write_tsv(trees: list[Tree], path: str | Path) -> None:
    """Write Nangia & Bowman's layout: ``value<TAB>( ( [MAX 2 ) 9 ) ...``."""
    from treenn.data.trees import to_bracketed

    with Path(path).open("w", encoding="utf-8") as handle:
        for tree in trees:
            expr = to_bracketed(tree, lambda node: "").replace(")", " )")
            if len(tree) == 1 and isinstance(tree[0], str):
                expr = tree[0]
            handle.write(f"{tree.label()}\t{expr}\n")


def find_split_files(folder: Path) -> dict[str, Path]:
    """Map split names to the TSV files of a published ListOps folder.

    Accepts ``train.tsv``/``dev.tsv``/``test.tsv`` and the published names (``train_d20s.tsv``,
    ``basic_val.tsv``, ...): a file belongs to the split whose name it contains.
    """
    names = {"train": ("train",), "dev": ("dev", "val"), "test": ("test",),
             "extrap": ("extrap",)}
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.tsv")):
        for split, keys in names.items():
            if any(key in path.stem.lower() for key in keys):
                if split in found:
                    raise DataError(f"{folder}: both {found[split].name} and {path.name} "
                                    f"look like the {split} split")
                found[split] = path
    return found


def hold_out_dev(data: dict[str, list[Tree]]) -> dict[str, list[Tree]]:
    """Split 5% of ``train`` off as ``dev``, always the same (seeded) trees: Nangia &
    Bowman's release has no dev split, and the ``nb`` generator preset mirrors that."""
    train = data["train"]
    order = list(range(len(train)))
    random.Random(0).shuffle(order)
    cut = max(1, len(train) // 20)
    rest = {k: v for k, v in data.items() if k not in ("train", "dev")}
    return {"train": [train[i] for i in order[cut:]], "dev": [train[i] for i in order[:cut]],
            **rest}


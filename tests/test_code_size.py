"""Library modules stay readable: none over 400 lines, no function over 60.

A function may be longer only where a comment in it starts with ``# long:`` and says why (a
hot loop that loses speed when split).
"""

import ast

import pytest

from tests.test_layers import modules

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_and_function_sizes(name):
    path = modules()[name]
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path}: {len(lines)} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            body = lines[node.lineno - 1:node.end_lineno]
            excused = any(line.strip().startswith("# long:") for line in body)
            assert length <= MAX_FUNCTION_LINES or excused, (
                f"{path}:{node.lineno}: {node.name} is {length} lines")

"""ListOps: values, both published file layouts, the generator and its splits."""

import random
import re
import sys

import pytest

from treenn.data.listops import (
    evaluate,
    evaluate_tokens,
    find_split_files,
    parse_expression,
    read_tsv,
    tokens,
    write_tsv,
)
from treenn.data.listops_generator import ListOpsConfig, generate
from treenn.data.listops_generator import random_expression as _random_expression
from treenn.data.trees import height, to_bracketed
from treenn.errors import DataError

PAPER = "( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )"


@pytest.mark.parametrize("expr, value", [
    ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),
    ("[MIN 3 8 1 ]", 1),
    ("[MED 1 2 3 4 ]", 2),   # int(np.median([1, 2, 3, 4])) == int(2.5) == 2
    ("[MED 5 1 3 ]", 3),
    ("[SM 7 8 9 ]", 4),
    ("[SM [MAX 9 1 ] [MIN 5 6 ] ]", 4),
    ("6", 6),
])
def test_values(expr, value):
    assert evaluate_tokens(expr.split()) == value


@pytest.mark.parametrize("expr", ["[MAX 2 9", "[MAX ]", "] 3", "[FOO 1 2 ]", "1 2"])
def test_invalid_expressions_raise(expr):
    with pytest.raises(ValueError):
        evaluate_tokens(expr.split())


def test_paper_example_tree_shape():
    tree = parse_expression(PAPER)
    assert tree.label() == "9"
    assert " ".join(tokens(tree)) == "[MAX 2 9 [MIN 4 7 ] 0 ]"
    # the root is ( X ] ): the whole operator application, then the closing bracket
    assert tree[1] == "]"
    assert parse_expression("[MAX 2 9 [MIN 4 7 ] 0 ]") == tree


def test_read_nangia_and_lra_layouts(tmp_path):
    nangia = tmp_path / "train_d20s.tsv"
    nangia.write_text(f"9\t{PAPER}\n")
    lra = tmp_path / "basic_test.tsv"
    lra.write_text(f"Source\tTarget\n{PAPER}\t9\n")
    assert read_tsv(nangia) == read_tsv(lra)
    assert find_split_files(tmp_path) == {"train": nangia, "test": lra}


@pytest.mark.parametrize("line, reason", [
    ("x\t[MAX 1 2 ]", "label 'x' is not an integer"),
    ("9\t( ( [MAX 1 ) 2 )", "unbalanced"),
    ("12\t[MAX 1 2 ]", "outside 0-9"),
    ("", "empty line"),
])
def test_read_tsv_errors_name_the_line(tmp_path, line, reason):
    path = tmp_path / "t.tsv"
    path.write_text(f"9\t{PAPER}\n{line}\n")
    with pytest.raises(DataError, match=rf"^{path}:2: .*{reason}"):
        read_tsv(path)


def test_generator_is_deterministic_distinct_and_respects_lengths():
    cfg = ListOpsConfig(n_train=300, n_dev=50, n_test=50, n_extrap=30, max_length=30,
                        extrap_max_length=60, seed=5)
    a, b = generate(cfg), generate(cfg)
    assert a == b
    all_exprs = [" ".join(tokens(t)) for split in a.values() for t in split]
    assert len(all_exprs) == len(set(all_exprs)) == 430
    for t in a["train"]:
        assert cfg.min_length <= len(tokens(t)) <= 30
        assert int(t.label()) == evaluate(t)
    assert all(30 < len(tokens(t)) <= 60 for t in a["extrap"])
    assert generate(ListOpsConfig(n_train=300, n_dev=50, n_test=50, n_extrap=30,
                                  seed=6))["train"] != a["train"]


def test_write_then_read_round_trip(tmp_path):
    trees = generate(ListOpsConfig(n_train=50, n_dev=1, n_test=1, n_extrap=1))["train"]
    write_tsv(trees, tmp_path / "x.tsv")
    assert read_tsv(tmp_path / "x.tsv") == trees


@pytest.mark.parametrize("layout", ["nangia", "lra"])
@pytest.mark.parametrize("label, expr, reason", [
    ("3", "[MAX 2 7 ]", "label 3 disagrees with the expression's value 7"),
    ("3", "[FOO 1 2 ]", "unknown operator 'FOO'"),
    ("3.0", "[MAX 1 3 ]", "label '3.0' is not an integer"),
    ("three", "[MAX 1 3 ]", "label 'three' is not an integer"),
    ("", "[MAX 1 3 ]", "label '' is not an integer"),
    ("3", "", "empty expression"),
    ("3", "   ", "empty expression"),
    ("3", "[MAX 1 3", "unbalanced expression"),
    ("3", "[MAX 1 3 ] ]", "']' without an operator"),
    ("3", "( ( ( [MAX 1 ) 3 ) ] ) )", "unbalanced parentheses: ')' without '('"),
    ("3", "[MAX 1 3 ] )", "token '[MAX' outside the parentheses"),
    ("3", "[MAX 1 12 ]", "number '12' is not a digit 0-9"),
    ("3", "[MAX 1 x ]", "unknown token 'x'"),
])
def test_read_tsv_refuses_bad_lines_with_file_and_line(tmp_path, layout, label, expr, reason):
    path = tmp_path / "t.tsv"
    if layout == "nangia":
        path.write_text(f"9\t{PAPER}\n{label}\t{expr}\n")
        lineno = 2
    else:
        path.write_text(f"Source\tTarget\n{PAPER}\t9\n{expr}\t{label}\n")
        lineno = 3
    with pytest.raises(DataError, match=rf"^{path}:{lineno}: {re.escape(reason)}"):
        read_tsv(path)


def _deep(depth: int) -> str:
    return "[MAX 1 " * depth + "2 " + "] " * depth


@pytest.mark.parametrize("depth", [1000, 10000])
def test_deep_expressions_need_no_recursion(tmp_path, depth):
    assert sys.getrecursionlimit() <= 10000
    tree = parse_expression(_deep(depth))
    assert evaluate(tree) == 2 and len(tokens(tree)) == 3 * depth + 1
    write_tsv([tree], tmp_path / "deep.tsv")
    assert "( ( [MAX 1 )" in (tmp_path / "deep.tsv").read_text()  # the published layout
    again = read_tsv(tmp_path / "deep.tsv")[0]
    assert to_bracketed(again) == to_bracketed(tree)
    assert to_bracketed(parse_expression("( " * depth + "7 " + ") " * depth)).count("(") == depth


def test_generator_takes_any_depth():
    class Chain(random.Random):
        """Draws an operator for every first argument down to the depth limit, then digits."""

        calls = 0
        getrandbits = random.Random.getrandbits  # so choice() and randint() do not call random()

        def random(self):
            self.calls += 1
            return 0.0 if self.calls <= 2998 else 0.99

    toks = _random_expression(Chain(0), max_depth=3000, max_args=2, op_p=0.5)
    tree = parse_expression(" ".join(toks))
    assert sum(tok.startswith("[") for tok in toks) == 2999 and height(tree) >= 3000
    assert int(tree.label()) == evaluate(tree)


def test_predict_input_labels_must_be_values(tmp_path):
    from treenn.data.tasks import get_task

    task = get_task("listops")
    path = tmp_path / "in.tsv"
    path.write_text("\t[MAX 1 3 ]\n[MIN 4 5 ]\n3\t[MAX 1 3 ]\n")
    assert [t.label() for t in task.read_input(str(path))] == ["3", "4", "3"]
    path.write_text("[MIN 4 5 ]\n7\t[MAX 1 3 ]\n")
    with pytest.raises(DataError, match=rf"^{path}:2: label 7 disagrees with the expression"):
        task.read_input(str(path))


@pytest.mark.parametrize("words, group", [
    (["[MAX", "2", "9", "]"], "MAX"), (["[sm", "1", "]"], "SM"),  # vocabularies lower-case
    (["[MED", "3", "]"], "MED"), (["[MIN", "4", "]"], "MIN"), (["6"], "digit"),
    (["<unk>", "2", "]"], "<unk>"), (["[", "2"], "["),
])
def test_sentence_group_is_the_root_operator(words, group):
    from treenn.data.tasks import get_task

    assert get_task("listops").sentence_group(words) == group


def test_evaluations_name_each_expressions_root_operator(tmp_path, capsys):
    """Training's test scores and ``evaluate`` both give the groups, in test-file order;
    the command prints root accuracy by them."""
    import json

    from treenn import cli
    from treenn.data.tasks import get_task
    from treenn.training import TrainConfig, evaluate_run, train

    listops = {"n_train": 100, "n_dev": 20, "n_test": 40, "n_extrap": 10, "seed": 5}
    train(TrainConfig(task="listops", model="tree-lstm", out=str(tmp_path / "r"), epochs=1,
                      listops=listops, h_size=8, x_size=8, threads=1, progress=False))
    test = get_task("listops").load(None, {"listops": listops})["test"]
    ops = [tokens(t)[0].lstrip("[") if len(tokens(t)) > 1 else "digit" for t in test]
    assert set(ops) >= {"MAX", "MIN", "MED", "SM"}
    written = json.loads((tmp_path / "r" / "eval-test.json").read_text())
    assert written["per_sentence"]["group"] == ops
    assert evaluate_run(tmp_path / "r", "extrap")["per_sentence"]["group"] == [
        tokens(t)[0].lstrip("[") for t in get_task("listops").load(
            None, {"listops": listops})["extrap"]]
    assert cli.main(["-q", "evaluate", str(tmp_path / "r"), "--split", "test"]) == 0
    per = json.loads((tmp_path / "r" / "eval-test.json").read_text())["per_sentence"]
    rows = list(zip(ops, per["gold"], per["pred"], strict=True))
    hits = {op: [g == p for o, g, p in rows if o == op] for op in set(ops)}
    assert "Root accuracy by root operator: " + ", ".join(
        f"{op} {100 * sum(h) / len(h):.2f}% ({len(h)})" for op, h in sorted(hits.items())
    ) in capsys.readouterr().out

"""Parsers: decoders against brute force and plain-loop references, and the pipeline."""

import itertools
import math
import random

import numpy as np
import pytest
import torch
from nltk import Tree

from treenn.errors import TreennError
from treenn.parsers.baselines import Balanced, LeftBranching, RightBranching
from treenn.parsers.chart import Labels, Words, cost, decode_decomposable, make_example, to_tree
from treenn.parsers.chart_search import _ChartMember, chart_decode
from treenn.parsers.ensemble import EnsembleChartParser
from treenn.parsers.neural import BiLSTMChartParser, ParserConfig, RecursiveChartParser
from treenn.parsers.pcfg import PCFG, PCFGConfig, _binarise, _collapse
from treenn.parsers.pipeline import binarize
from treenn.parsers.treebank import from_spans, to_spans

TREES = [Tree.fromstring(s) for s in [
    "(S (NP (DT the) (NN dog)) (VP (VBD saw) (NP (DT a) (NN cat))) (. .))",
    "(S (NP (PRP it)) (VP (VBD ran)) (. .))",
    "(S (NP (DT a) (JJ big) (NN cat)) (VP (VBD sat) (PP (IN on) (NP (DT the) (NN mat)))))",
    "(S (NP (NNP John)) (VP (VBZ likes) (NP (NNS dogs))))",
    "(S (S (VP (VB Go))) (, ,) (NP (PRP you)) (VP (VBD did)))",
]]


def _shapes(i, j):
    """Every binary bracketing of span (i, j) as a set of spans."""
    if j - i == 1:
        yield frozenset({(i, j)})
        return
    for k in range(i + 1, j):
        for left in _shapes(i, k):
            for right in _shapes(k, j):
                yield left | right | {(i, j)}


@pytest.mark.parametrize("augmented", [False, True])
def test_decode_decomposable_is_the_brute_force_optimum(augmented):
    rng = np.random.default_rng(0)
    for n in range(1, 7):
        scores = rng.normal(size=(n, n + 1, 4))
        gold = None
        if augmented:
            gold = {s: int(rng.integers(0, 4)) for s in next(iter(_shapes(0, n)))}
        pred, best = decode_decomposable(scores, gold)
        s = scores.copy()
        s[..., 0] = 0

        def value(span, lab, s=s, gold=gold):
            extra = 0.0 if gold is None else float(lab != gold.get(span, 0))
            return s[span[0], span[1], lab] + extra

        brute = max(sum(max(value(sp, lab) for lab in range(4)) for sp in shape)
                    for shape in _shapes(0, n))
        assert best == pytest.approx(brute)
        assert sum(value(sp, lab) for sp, lab in pred.items()) == pytest.approx(best)


def test_cost_counts_wrong_labels_only():
    gold = {(0, 2): 1, (0, 1): 0, (1, 2): 2}
    assert cost(gold, gold) == 0
    assert cost({(0, 2): 1, (0, 1): 3, (1, 2): 2}, gold) == 1


def _tiny(model_cls, h_size=5, **kw):
    labels = Labels.build(TREES)
    words = Words.build([t.leaves() for t in TREES])
    cfg = ParserConfig(model="rnn-parser" if model_cls is RecursiveChartParser else
                       "bilstm-parser", word_dim=6, shape_dim=3, h_size=h_size, mlp_size=16,
                       dropout=0.0, **kw)
    torch.manual_seed(0)
    return model_cls(cfg, words, labels).double().eval()


def _reference_recursive_chart(model, tokens, beam=1, pairs=None):
    """One span, split and pair at a time: the plain version of the batched chart. Each cell
    keeps its ``beam`` best (score, h, c, derivation); ``pairs`` composes, at each split
    point, only the pairs of the children's kept entries that score highest together."""
    padded = model._padded_tokens([tokens])
    x = model._leaf_inputs(padded)
    pad = torch.nn.utils.rnn.pad_sequence(padded, batch_first=True)
    n = len(tokens)
    chart = {}

    def label_scores(h, i, j):
        return model._label_scores(h, pad, torch.tensor([0]), torch.tensor([i]),
                                   torch.tensor([j]))[0]

    for i in range(n):
        h, c = model.cell(x[i:i + 1])
        s = label_scores(h, i, i + 1)
        chart[(i, i + 1)] = [(float(s.max()), h, c, {(i, i + 1): int(s.argmax())})]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j, found = i + length, []
            for k in range(i + 1, j):
                left, right = chart[(i, k)], chart[(k, j)]
                both = [(a, b) for a in range(len(left)) for b in range(len(right))]
                if pairs is not None:  # the best by children's score, in their first order
                    both = sorted(sorted(both, key=lambda ab: -(left[ab[0]][0]
                                                                + right[ab[1]][0]))[:pairs])
                for a, b in both:
                    (sl, hl, cl, dl), (sr, hr, cr, dr) = left[a], right[b]
                    h, c = model.cell(None, torch.stack([hl, hr], 1), torch.stack([cl, cr], 1))
                    s = label_scores(h, i, j)
                    found.append((sl + sr + float(s.max()), h, c,
                                  {**dl, **dr, (i, j): int(s.argmax())}))
            chart[(i, j)] = sorted(found, key=lambda r: -r[0])[:beam]  # stable: first of equals
    return chart[(0, n)][0]


@pytest.mark.parametrize("cell, leaves", [("tree-lstm", "window"), ("recnn", "window"),
                                          ("tree-lstm", "bilstm"), ("rntn", "window"),
                                          ("childsum-tree-lstm", "window")])
def test_batched_recursive_chart_matches_the_plain_reference(cell, leaves, monkeypatch):
    # several chunks of candidates per length
    monkeypatch.setattr("treenn.parsers.chart_search._CHUNK", 3)
    model = _tiny(RecursiveChartParser, cell=cell, leaves=leaves)
    sentences = [t.leaves() for t in TREES] + [["dog"], ["a", "cat"]]
    with torch.no_grad():
        batched = model.decode(sentences)
        for tokens, derivation in zip(sentences, batched, strict=True):
            total, *_, ref = _reference_recursive_chart(model, tokens)
            assert derivation == ref
            # the engine-composed score of the derivation equals the chart's score
            again = model.score_derivations([tokens], [derivation])
            assert float(again[0]) == pytest.approx(total, abs=1e-9)


@pytest.mark.parametrize("cell", ["tree-lstm", "rntn"])
@pytest.mark.parametrize("beam, pairs", [(2, None), (2, 1), (2, 2), (3, 4)])
def test_beam_chart_and_its_pairs_match_the_plain_reference(cell, beam, pairs, monkeypatch):
    """A beam of K sub-derivations per cell, with every pair of the children's kept ones or
    (--pairs P) only the P best at each split point, as a span-by-span loop finds them."""
    monkeypatch.setattr("treenn.parsers.chart_search._CHUNK", 3)
    model = _tiny(RecursiveChartParser, cell=cell)
    with torch.no_grad():  # a larger cell: vectors, hence choices, depend on the past
        for p in model.cell.parameters():
            p.mul_(5)
    rng = random.Random(2)
    vocabulary = sorted({w for t in TREES for w in t.leaves()})
    sentences = [t.leaves() for t in TREES] + [rng.choices(vocabulary, k=8) for _ in range(6)]
    model.cfg.beam, model.pairs = beam, pairs
    with torch.no_grad():
        found = model.decode(sentences)
        for tokens, derivation in zip(sentences, found, strict=True):
            assert derivation == _reference_recursive_chart(model, tokens, beam, pairs)[-1]
        if pairs == 1 and cell == "rntn":  # fewer pairs change what the chart finds here
            # (so the test can fail; this tiny Tree-LSTM finds the same trees either way)
            model.pairs = None
            assert model.decode(sentences) != found


@pytest.mark.parametrize("cell, split", [("tree-lstm", True), ("recnn", True),
                                         ("rntn", False), ("childsum-tree-lstm", False)])
def test_chart_member_composes_and_scores_as_the_cell_and_classifier_do(cell, split):
    """The chart's shortcuts (children's projections kept per slot, the classifier's
    outside-word part once per span) give the vectors and label scores of ``cell(...)`` and
    ``_label_scores`` on the same children and spans."""
    model = _tiny(RecursiveChartParser, cell=cell)
    sentences = [t.leaves() for t in TREES]
    with pytest.raises(ValueError, match="eval mode"):
        _ChartMember(model.train(), sentences, slots=12)
    member = _ChartMember(model.eval(), sentences, slots=12)
    assert member.split == split
    g = torch.Generator().manual_seed(0)
    h = torch.randn(12, model.cfg.h_size, generator=g, dtype=torch.double)
    c = torch.randn(12, model.cell.c_size, generator=g, dtype=torch.double)
    with torch.no_grad():
        member.keep(torch.arange(12), h, c)
        left, right = torch.tensor([0, 3, 5, 11, 7]), torch.tensor([1, 3, 9, 2, 0])
        got_h, got_c = member.compose(left, right)
        want_h, want_c = model.cell(None, torch.stack([h[left], h[right]], 1),
                                    torch.stack([c[left], c[right]], 1))
        torch.testing.assert_close(got_h, want_h)
        torch.testing.assert_close(got_c, want_c)
        sent, start, end = torch.tensor([0, 2, 2, 3, 4]), torch.tensor([0, 1, 0, 2, 3]), \
            torch.tensor([6, 4, 7, 4, 5])
        padded = torch.nn.utils.rnn.pad_sequence(model._padded_tokens(sentences),
                                                 batch_first=True)
        torch.testing.assert_close(member.label_scores(got_h, member.context(sent, start, end)),
                                   model._label_scores(got_h, padded, sent, start, end))


def _shape_scores(model, tokens, shape):
    """Compose a bracketing from scratch: each span's label scores under ``model``."""
    padded = model._padded_tokens([tokens])
    x = model._leaf_inputs(padded)
    pad = torch.nn.utils.rnn.pad_sequence(padded, batch_first=True)
    vectors, out = {}, {}
    for i, j in sorted(shape, key=lambda span: span[1] - span[0]):
        if j - i == 1:
            h, c = model.cell(x[i:i + 1])
        else:
            k = next(k for k in range(i + 1, j) if (i, k) in shape and (k, j) in shape)
            (hl, cl), (hr, cr) = vectors[(i, k)], vectors[(k, j)]
            h, c = model.cell(None, torch.stack([hl, hr], 1), torch.stack([cl, cr], 1))
        vectors[(i, j)] = (h, c)
        out[(i, j)] = model._label_scores(h, pad, torch.tensor([0]), torch.tensor([i]),
                                          torch.tensor([j]))[0]
    return out


def _score_shape(model, tokens, shape, gold=None, labels=None):
    """A bracketing's (score, derivation) with the given labels or, without them, each span's
    best label (loss-augmented against ``gold`` when given); ``model`` may be a list of
    ensemble members, whose label scores are averaged."""
    per_member = [_shape_scores(m, tokens, shape)
                  for m in (model if isinstance(model, list) else [model])]
    total, derivation = 0.0, {}
    for span in per_member[0]:
        s = sum(scores[span] for scores in per_member) / len(per_member)
        if gold is not None:
            s = s + 1.0
            s[gold.get(span, 0)] -= 1.0
        derivation[span] = int(s.argmax()) if labels is None else labels[span]
        total += float(s[derivation[span]])
    return total, derivation


@pytest.mark.parametrize("augmented", [False, True])
def test_recursive_chart_with_a_wide_beam_is_exhaustive_search(augmented):
    """Keeping every sub-derivation (42 = Catalan(5) covers each cell below a 7-word root)
    finds the best-scoring tree of all; greedy search does not always."""
    model = _tiny(RecursiveChartParser, h_size=4)
    with torch.no_grad():  # larger weights: vectors, hence the best split, depend on the past
        for p in model.parameters():
            p.mul_(10)
    rng = random.Random(0)
    vocabulary = sorted({w for t in TREES for w in t.leaves()})
    trees = TREES + [Tree("S", [Tree("X", [w]) for w in rng.choices(vocabulary, k=7)])
                     for _ in range(6)]
    sentences = [t.leaves() for t in trees]
    golds = [make_example(t, model.labels).gold for t in trees] if augmented else None
    found = {}
    with torch.no_grad():
        for beam in (1, 2, 42):
            model.cfg.beam = beam
            found[beam] = model.decode(sentences, golds)
        model.cfg.beam, model.pairs = 2, 2  # 2 of the 4 pairs at each split point
        found["pairs"] = model.decode(sentences, golds)
        model.pairs = None
        for b, tokens in enumerate(sentences):
            gold = golds[b] if augmented else None
            total, derivation = max((_score_shape(model, tokens, shape, gold)
                                     for shape in _shapes(0, len(tokens))), key=lambda r: r[0])
            assert found[42][b] == derivation
            for beam in (1, 2, "pairs"):  # narrower: a real tree, each span's best label
                shape = frozenset(found[beam][b])
                assert _score_shape(model, tokens, shape, gold)[1] == found[beam][b]
    # the beam matters on these trees: greedy search misses the optimum somewhere
    assert found[1] != found[42]


def _ensemble_trees():
    rng = random.Random(1)
    vocabulary = sorted({w for t in TREES for w in t.leaves()})
    return TREES + [Tree("S", [Tree("X", [w]) for w in rng.choices(vocabulary, k=6)])
                    for _ in range(4)]


def test_ensemble_chart_with_a_wide_beam_finds_the_best_mean_score_tree():
    """Two members, each composing its own vectors: with every sub-derivation kept the chart
    finds the tree whose members' mean label scores sum highest, found here by enumerating
    every bracketing."""
    members = []
    for seed in (0, 1):
        m = _tiny(RecursiveChartParser, h_size=4)
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn_like(p))
        members.append(m)
    sentences = [t.leaves() for t in _ensemble_trees()]
    golds = [make_example(t, members[0].labels).gold for t in _ensemble_trees()]
    with torch.no_grad():
        for augmented in (None, golds):
            found = chart_decode(members, sentences, augmented, 42)
            for b, tokens in enumerate(sentences):
                gold = None if augmented is None else golds[b]
                want = max((_score_shape(members, tokens, shape, gold)
                            for shape in _shapes(0, len(tokens))), key=lambda r: r[0])
                assert found[b] == want[1]
                for beam in (1, 2):  # narrower beams: a real tree, each span's best label
                    narrow = chart_decode(members, [tokens], None if gold is None else [gold],
                                          beam)[0]
                    assert _score_shape(members, tokens, frozenset(narrow), gold)[1] == narrow
        # the members disagree, so the check above tells the mean from either member alone
        alone = [chart_decode([m], sentences, None, 42) for m in members]
        with pytest.raises(ValueError, match="the same parser twice"):
            chart_decode([members[0], members[0]], sentences, None, 2)
        ensemble = chart_decode(members, sentences, None, 42)
        assert ensemble != alone[0] and ensemble != alone[1]


def test_ensemble_parser_returns_trees_and_refuses_mismatched_members():
    a, b = _tiny(RecursiveChartParser, beam=2), _tiny(RecursiveChartParser, beam=2)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(torch.randn_like(p))
    ensemble = EnsembleChartParser([a, b])
    a.train()  # parsing puts every member in eval mode (dropout off)
    sentences = [t.leaves() for t in TREES]
    trees = ensemble.parse_all(sentences)
    assert not a.training
    assert ensemble.beam == 2
    with torch.no_grad():
        derivations = chart_decode([a, b], sentences, None, 2)
    for tokens, tree, d in zip(sentences, trees, derivations, strict=True):
        assert tree.leaves() == tokens
        assert tree == to_tree(tokens, d, a.labels)
    with pytest.raises(TreennError, match=r"different beams \(\[1, 2\]\)"):
        EnsembleChartParser([a, _tiny(RecursiveChartParser)])
    assert EnsembleChartParser([a, _tiny(RecursiveChartParser)], beam=3).beam == 3
    with pytest.raises(TreennError, match="--beam 0: keep at least 1"):
        EnsembleChartParser([a, b], beam=0)
    with pytest.raises(TreennError, match="two or more rnn-parser"):
        EnsembleChartParser([a])
    with pytest.raises(TreennError, match="rnn-parser runs, not bilstm-parser"):
        EnsembleChartParser([a, _tiny(BiLSTMChartParser)])
    other = _tiny(RecursiveChartParser)
    other.labels = Labels(other.labels.names[:-1])
    with pytest.raises(TreennError, match="different label sets"):
        EnsembleChartParser([a, other])
    with pytest.raises(ValueError, match="empty sentence"):
        ensemble.parse_all([[]])


def _fits(model, lr, steps=400):
    """Train on TREES until every training sentence parses exactly as its gold tree."""
    examples = [make_example(t, model.labels) for t in TREES]
    gold = [to_spans(t)[1] for t in TREES]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        model.train()
        loss, _ = model.loss(examples)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19:
            model.eval()
            parsed = model.parse_all([t.leaves() for t in TREES])
            if [to_spans(p)[1] for p in parsed] == gold:
                return True
    return False


def test_recursive_parser_learns_a_tiny_treebank():
    assert _fits(_tiny(RecursiveChartParser).float(), lr=0.05)


def test_bilstm_parser_learns_a_tiny_treebank():
    assert _fits(_tiny(BiLSTMChartParser, h_size=16).float(), lr=0.01)


def test_parser_refuses_overlong_and_empty_sentences():
    model = _tiny(RecursiveChartParser, max_length=10)
    with pytest.raises(ValueError, match="11-token sentence is longer than"):
        model.check(["w"] * 11)
    with pytest.raises(ValueError, match="empty sentence"):
        model.check([])


def _reference_pcfg_best(p, tokens):
    """Plain memoised CKY over the rule list, one rule and split at a time."""
    n = len(tokens)
    best = {}
    for i, w in enumerate(tokens):
        lex = p._lexical_scores(w)
        best[(i, i + 1)] = {s: float(v) for s, v in enumerate(lex) if v > -1e29}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j, cell = i + length, {}
            for r in range(len(p.rule_logp)):
                a, b, c = int(p.rule_parent[r]), int(p.rule_left[r]), int(p.rule_right[r])
                for k in range(i + 1, j):
                    if b in best[(i, k)] and c in best[(k, j)]:
                        v = float(p.rule_logp[r]) + best[(i, k)][b] + best[(k, j)][c]
                        if v > cell.get(a, -math.inf):
                            cell[a] = v
            best[(i, j)] = cell
    return max(v + float(p.root_logp[a]) for a, v in best[(0, n)].items()
               if p.root_logp[a] > -1e29)


def _tree_logp(p, tree):
    """Log-probability the grammar gives one tree (in the grammar's own symbols)."""
    total = float(p.root_logp[p.index[tree.label()]])
    rule_of = {(int(a), int(b), int(c)): float(lp) for a, b, c, lp in
               zip(p.rule_parent, p.rule_left, p.rule_right, p.rule_logp, strict=True)}
    for node in tree.subtrees():
        if len(node) == 1 and isinstance(node[0], str):
            total += float(p._lexical_scores(node[0])[p.index[node.label()]])
        else:
            total += rule_of[(p.index[node.label()], p.index[node[0].label()],
                              p.index[node[1].label()])]
    return total


@pytest.mark.parametrize("vertical", [1, 2])
def test_pcfg_cky_matches_the_plain_reference(vertical):
    p = PCFG(PCFGConfig(horizontal=1, vertical=vertical)).fit(TREES * 3)
    for t in TREES:
        tokens = t.leaves()
        want = _reference_pcfg_best(p, tokens)
        # the parse returned is the grammar's best: re-derive its log-probability
        internal = p._parse_internal(tokens)
        assert _tree_logp(p, internal) == pytest.approx(want, abs=1e-3)
    # a training tree is reproduced exactly by a grammar read off copies of it
    assert p.parse(TREES[0].leaves()) == TREES[0]


def test_pcfg_unknown_words_still_parse():
    p = PCFG().fit(TREES)
    tree = p.parse(["the", "zorblax", "frobnicated", "a", "Quux", "."])
    assert tree.leaves() == ["the", "zorblax", "frobnicated", "a", "Quux", "."]


def test_pcfg_round_trips_through_a_plain_checkpoint(tmp_path):
    p = PCFG().fit(TREES)
    torch.save(p.to_dict(), tmp_path / "p.pt")
    q = PCFG.from_dict(torch.load(tmp_path / "p.pt", weights_only=True))
    for t in TREES:
        assert q.parse(t.leaves()) == p.parse(t.leaves())


@pytest.mark.parametrize("horizontal", [0, 1, 2])
def test_grammar_transforms_invert(horizontal):
    from treenn.parsers.pcfg import _annotate_parents, _unbinarise

    # the second tree has a phrase under a collapsed unary chain (SBAR+S): its children's
    # parent annotation then holds a '+' (NP^SBAR+S)
    extra = Tree.fromstring("(S (NP (DT the) (NN dog)) (VP (VBZ says) (SBAR (S (NP (PRP it))"
                            " (VP (VBZ runs) (ADVP (RB fast)))))))")
    for t in [*TREES, extra]:
        assert _unbinarise(_binarise(_collapse(t), horizontal)) == t
        assert _unbinarise(_binarise(_annotate_parents(_collapse(t)), horizontal)) == t


@pytest.mark.parametrize("parser", [RightBranching(), LeftBranching(), Balanced()])
def test_baselines_keep_the_words(parser):
    rng = random.Random(0)
    for n in range(1, 9):
        words = [f"w{rng.randrange(100)}" for _ in range(n)]
        tree = parser.parse(words)
        assert tree.leaves() == words
        assert all(len(node) <= 2 for node in tree.subtrees())


def test_from_spans_accepts_every_binary_shape():
    for shape in _shapes(0, 5):
        spans = {s: "X" for s in shape if s[1] - s[0] > 1}
        tree = from_spans(list("abcde"), spans)
        assert to_spans(tree)[1] == spans


def test_binarize_for_tree_models_gives_binary_trees():
    for t in TREES:
        b = binarize(t)
        assert b.leaves() == t.leaves()
        assert all(len(n) <= 2 for n in b.subtrees())
        assert all(len(n) == 2 or isinstance(n[0], str) for n in b.subtrees())


def test_shapes_helper_counts_catalan_numbers():
    assert [sum(1 for _ in _shapes(0, n)) for n in range(1, 7)] == [1, 1, 2, 5, 14, 42]
    assert list(itertools.islice(_shapes(0, 1), 2)) == [frozenset({(0, 1)})]


def test_tanh_by_sigmoid_is_tanh_to_rounding():
    """The chart's tanh (2 sigmoid(2x) - 1): float32 within 2e-7 of tanh, float64 1e-15."""
    from treenn.cells import tanh_by_sigmoid

    x = torch.linspace(-30, 30, 200_001, dtype=torch.float64)
    exact = torch.tanh(x)
    assert (tanh_by_sigmoid(x) - exact).abs().max() < 1e-15
    assert (tanh_by_sigmoid(x.float()).double() - exact).abs().max() < 2e-7
    assert tanh_by_sigmoid(torch.tensor([-1e4, 0.0, 1e4])).tolist() == [-1.0, 0.0, 1.0]


def test_chart_tables_kept_between_batches_do_not_leak_into_the_next():
    """The chart's tables are reused, not cleared: a batch after a larger one (stale rows
    everywhere) and after a smaller one (tables grown) finds what a fresh parser finds."""
    model = _tiny(RecursiveChartParser, cell="tree-lstm")
    model.cfg.beam = 2
    rng = random.Random(3)
    vocabulary = sorted({w for t in TREES for w in t.leaves()})
    big = [rng.choices(vocabulary, k=rng.randint(1, 12)) for _ in range(9)]
    small = [t.leaves() for t in TREES[:2]]
    with torch.no_grad():
        fresh_small = model.decode(small)
        model._chart_tables.clear()  # a fresh parser again
        fresh_big = model.decode(big)
        model._chart_tables.clear()
        model.decode(small)
        assert model.decode(big) == fresh_big  # grown from the smaller batch's tables
        assert model.decode(small) == fresh_small  # after the larger one

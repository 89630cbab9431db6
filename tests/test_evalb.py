"""evalb-compatible scoring on hand-computed cases, and the treebank preparation."""

import pytest
from nltk import Tree

from treenn.data.ptb import clean
from treenn.parsers.evalb import Scores, binary_unlabelled
from treenn.parsers.treebank import binary_spans, from_spans, to_spans


def _score(gold, test):
    s = Scores()
    s.add(Tree.fromstring(gold), Tree.fromstring(test))
    return s


def test_partial_match_counts_and_final_punctuation_ignored():
    s = _score("(S (NP (DT The) (NN cat)) (VP (VBD sat)) (. .))",
               "(S (NP (XX The)) (VP (XX cat) (XX sat)) (XX .))")
    assert (s.labelled.matched, s.labelled.gold, s.labelled.test) == (1, 3, 3)
    assert s.labelled.f1 == pytest.approx(1 / 3)
    assert s.exact == 0


def test_top_deleted_prt_equals_advp_and_unary_chain_counts_twice():
    s = _score("(TOP (S (VP (VB Look) (PRT (RP up))) (. !)))",
               "(TOP (S (VP (XX Look) (ADVP (XX up))) (XX !)))")
    assert (s.labelled.matched, s.labelled.gold, s.labelled.test) == (3, 3, 3)
    assert s.exact == 1


def test_brackets_are_a_multiset():
    s = _score("(NP (NP (DT a) (NN b)))", "(NP (XX a) (XX b))")
    assert (s.labelled.matched, s.labelled.gold, s.labelled.test) == (1, 2, 1)
    assert s.labelled.precision == 1.0 and s.labelled.recall == 0.5
    assert s.labelled.f1 == pytest.approx(2 / 3)


def test_punctuation_inside_a_constituent_does_not_change_its_span():
    s = _score("(S (NP (NNP John)) (, ,) (VP (VBD ran)))",
               "(S (NP (XX John) (XX ,)) (VP (XX ran)))")
    assert s.labelled.matched == s.labelled.gold == s.labelled.test == 3


def test_wrong_label_is_unlabelled_match_only():
    s = _score("(S (NP (DT a) (NN b)) (VP (VBZ c)))", "(S (VP (XX a) (XX b)) (VP (XX c)))")
    assert s.labelled.matched == 2 and s.unlabelled.matched == 3


def test_different_words_rejected():
    with pytest.raises(ValueError, match="different words"):
        _score("(S (NN a))", "(S (XX b))")


def test_binary_unlabelled_ignores_words_and_the_root_span():
    gold = Tree.fromstring("(3 (2 (2 a) (2 b)) (2 (2 c) (2 d)))")
    test = Tree.fromstring("(X (X (X (XX a) (XX b)) (XX c)) (XX d))")
    assert binary_unlabelled(gold, test) == (1, 2, 2)  # (0,2) matches; (2,4) vs (0,3)


def test_clean_strips_function_tags_traces_and_empty_constituents():
    t = Tree.fromstring("((S (NP-SBJ-1 (-NONE- *T*-1)) (VP (VBZ is) (ADJP-PRD=2 (JJ ok)))"
                        " (S-ADV (NP (-NONE- *))) (. .)))")
    assert str(clean(t)) == "(S (VP (VBZ is) (ADJP (JJ ok))) (. .))"


def test_spans_round_trip_restores_unary_chains():
    t = Tree.fromstring("(S (S (VP (VB Go))) (NP (PRP you)) (VP (VBD did) (NP (DT a) (NN b))))")
    words, spans = to_spans(t)
    assert spans[(0, 1)] == "S+VP"  # the chain above a single word, tags dropped
    assert spans[(1, 2)] == "NP"
    rebuilt = from_spans(words, spans)
    assert _score(str(t), str(rebuilt)).labelled.f1 == 1.0


def test_binary_spans_right_factor_wide_nodes():
    spans = binary_spans(4, {(0, 4): "S", (1, 4): "VP"})
    assert set(spans) == {(0, 1), (1, 2), (2, 3), (3, 4), (0, 4), (1, 4), (2, 4)}
    assert spans[(2, 4)] == ""

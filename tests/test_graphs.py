"""Tree -> graph conversion, batching, the level schedule and the sequence view."""

import random

import torch
from nltk import Tree

from tests.reference import WORDS, chain_tree, random_tree
from treenn.data.graphs import collate, relabel, sequence_view, tree_to_graph
from treenn.data.trees import parse_tree
from treenn.data.vocab import PAD_ID, Vocab

VOCAB = Vocab.build([WORDS + [f"w{i}" for i in range(10000)]])


def test_graph_layout_leaves_first_then_postorder():
    tree = parse_tree("(3 (2 a) (4 (2 b) (1 c)))")
    g = tree_to_graph(tree, VOCAB, int)
    assert g.num_nodes() == 5 and g.num_edges() == 4
    assert g.ndata["word"].tolist() == [VOCAB.id("a"), VOCAB.id("b"), VOCAB.id("c"),
                                        PAD_ID, PAD_ID]
    assert g.ndata["label"].tolist() == [2, 2, 1, 4, 3]
    assert g.ndata["start"].tolist() == [0, 1, 2, 1, 0]
    assert g.ndata["end"].tolist() == [1, 2, 3, 3, 3]
    src, dst = g.edges()
    pos = dict(zip(src.tolist(), g.edata["pos"].tolist(), strict=True))
    assert dict(zip(src.tolist(), dst.tolist(), strict=True)) == {0: 4, 1: 3, 2: 3, 3: 4}
    assert pos == {0: 0, 3: 1, 1: 0, 2: 1}


def test_single_word_tree_is_one_node():
    g = tree_to_graph(parse_tree("(4 great)"), VOCAB, int)
    assert g.num_nodes() == 1 and g.num_edges() == 0
    batch = collate([g, g])
    assert batch.roots.tolist() == [0, 1]
    assert batch.schedule.levels == []


def test_bare_words_become_unlabelled_leaves():
    g = tree_to_graph(Tree("7", [Tree("", ["[MAX", "2"]), "]"]), VOCAB, lambda s: int(s or -1))
    assert g.num_nodes() == 5
    assert g.ndata["label"].tolist() == [-1, -1, -1, -1, 7]


def test_relabel_follows_graph_numbering():
    tree = parse_tree("(3 (2 a) (4 (2 b) (1 c)))")
    g = tree_to_graph(tree, VOCAB, int)
    labels = [str(v) for v in g.ndata["label"].tolist()]
    assert relabel(tree, labels) == tree


def test_level_schedule_covers_every_internal_node_once_after_its_children():
    rng = random.Random(3)
    trees = [random_tree(rng, rng.randint(1, 15), 3, unary_p=0.2) for _ in range(20)]
    batch = collate([tree_to_graph(t, VOCAB, int) for t in trees])
    n = batch.graph.num_nodes()
    done = set(batch.schedule.leaf_ids.tolist())
    assert done == set(torch.nonzero(batch.graph.ndata["height"] == 0).squeeze(1).tolist())
    for nodes, kids in batch.schedule.levels:
        real = kids[kids < n].tolist()
        assert set(real) <= done  # children were computed at an earlier level
        done |= set(nodes.tolist())
    assert done == set(range(n))
    # each edge appears exactly once in the schedule
    pairs = {(c, p) for nodes, kids in batch.schedule.levels
             for p, row in zip(nodes.tolist(), kids.tolist(), strict=True) for c in row if c < n}
    assert pairs == set(zip(*(t.tolist() for t in batch.graph.edges()), strict=True))


def test_level_major_layout_is_the_schedule_sorted_by_height():
    rng = random.Random(4)
    trees = [random_tree(rng, rng.randint(1, 15), 3, unary_p=0.2) for _ in range(20)]
    s = collate([tree_to_graph(t, VOCAB, int) for t in trees]).schedule
    n = s.n_nodes
    assert sorted(s.order.tolist()) == list(range(n))
    assert torch.equal(s.rank[s.order], torch.arange(n))  # rank inverts order
    assert s.bounds[0] == len(s.leaf_ids) and s.bounds[-1] == n
    assert torch.equal(s.order[: s.bounds[0]], s.leaf_ids)
    rank = torch.cat([s.rank, torch.tensor([n])])  # the padding row maps to itself
    for k, ((nodes, kids), packed) in enumerate(zip(s.levels, s.packed_kids, strict=True)):
        assert torch.equal(s.order[s.bounds[k]:s.bounds[k + 1]], nodes)  # a level is a slice
        assert torch.equal(packed, rank[kids])
        assert bool((packed[kids < n] < s.bounds[k]).all())  # children sit in earlier rows


def test_sequence_view_gives_each_nodes_words():
    trees = [parse_tree("(3 (2 a) (4 (2 b) (1 c)))"), parse_tree("(1 (2 d) (0 e))")]
    batch = collate([tree_to_graph(t, VOCAB, int) for t in trees])
    nodes = torch.arange(batch.graph.num_nodes())
    tokens, lengths = sequence_view(batch, nodes)
    got = [[VOCAB.words[i] for i in row[:k]] for row, k in zip(tokens.tolist(), lengths.tolist(),
                                                                strict=True)]
    assert got == [["a"], ["b"], ["c"], ["b", "c"], ["a", "b", "c"], ["d"], ["e"], ["d", "e"]]
    assert (tokens[0, 1:] == PAD_ID).all()


def test_conversion_of_a_10000_node_chain():
    g = tree_to_graph(chain_tree(5000), VOCAB, int)
    assert g.num_nodes() == 9999
    assert int(g.ndata["height"].max()) == 4999


def test_collate_arrays_builds_the_same_batch_as_dgl_batch():
    from treenn.data.graphs import collate_arrays, tree_to_arrays

    rng = random.Random(7)
    trees = [random_tree(rng, rng.randint(1, 12), 3, unary_p=0.3) for _ in range(9)]
    a = collate([tree_to_graph(t, VOCAB, int) for t in trees])
    b = collate_arrays([tree_to_arrays(t, VOCAB, int) for t in trees])
    assert a.graph.batch_num_nodes().tolist() == b.graph.batch_num_nodes().tolist()
    assert a.graph.batch_num_edges().tolist() == b.graph.batch_num_edges().tolist()
    for x, y in zip(a.graph.edges(), b.graph.edges(), strict=True):
        assert x.tolist() == y.tolist()
    for key in a.graph.ndata:
        assert a.graph.ndata[key].tolist() == b.graph.ndata[key].tolist(), key
    assert a.graph.edata["pos"].tolist() == b.graph.edata["pos"].tolist()
    for t in ("roots", "labels", "words", "offsets"):
        assert getattr(a, t).tolist() == getattr(b, t).tolist()
    assert a.schedule.leaf_ids.tolist() == b.schedule.leaf_ids.tolist()
    for (n1, k1), (n2, k2) in zip(a.schedule.levels, b.schedule.levels, strict=True):
        assert n1.tolist() == n2.tolist() and k1.tolist() == k2.tolist()

"""Latent-tree encoders (treenn.latent) against plain per-sentence references.

The references below read one sentence at a time and compose one pair at a time, with the
same equations and the same cell and query parameters; the batched modules must agree on the
root, the node states, the chosen merges and every gradient. Most of the beam encoder's tests
run with three cells: the Tree-LSTM (its training path's backward written out), the gated
recursive cell of the ``-grc`` models (zero-width ``c``) and, standing in for any other cell
with a memory cell, the Child-Sum Tree-LSTM; the last two take the generic training path.
"""

import pytest
import torch

from treenn.cells import ChildSumTreeLSTMCell, GatedRecursiveCell, NaryTreeLSTMCell
from treenn.latent import (
    BeamTreeLSTM,
    GumbelTreeLSTM,
    LatentEncoder,
    merges_to_spans,
    merges_to_tree,
    sample_gumbel_noise,
)

X, H = 6, 5
CELLS = [NaryTreeLSTMCell, GatedRecursiveCell, ChildSumTreeLSTMCell]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(cell, hs, cs, i):
    """Compose positions ``i`` and ``i + 1`` alone: ``(h [H], c [H])``."""
    h, c = cell.compose(torch.stack([hs[i], hs[i + 1]])[None],
                        torch.stack([cs[i], cs[i + 1]])[None])
    return h[0], c[0]


def reference_gumbel(model, x, noise=None):
    """One sentence ``x [n, X]``: ``(root, merges, nodes)``; ``noise`` per step ``[n - t]``."""
    n = x.shape[0]
    h, c = model.cell.leaf(x)
    hs, cs = list(h), list(c)
    merges, nodes = [], list(hs)
    for t in range(1, n):
        cands = [_pair(model.cell, hs, cs, i) for i in range(len(hs) - 1)]
        scores = torch.stack([torch.dot(ch, model.query) for ch, _ in cands])
        if noise is None:
            k = int(scores.argmax())
            y = [torch.tensor(1.0 if i == k else 0.0) for i in range(len(cands))]
        else:
            logits = (scores + noise[t - 1]) / model.tau
            soft = logits.softmax(0)
            k = int(logits.argmax())
            y = [(1.0 if i == k else 0.0) - soft[i].detach() + soft[i] for i in range(len(cands))]
        new_h, new_c, run = [], [], 0.0
        for i, (ch, cc) in enumerate(cands):
            run = run + y[i]
            left, right = 1 - run, run - y[i]
            new_h.append(left * hs[i] + y[i] * ch + right * hs[i + 1])
            new_c.append(left * cs[i] + y[i] * cc + right * cs[i + 1])
        nodes.append(sum(y[i] * ch for i, (ch, _) in enumerate(cands)))
        merges.append(k)
        hs, cs = new_h, new_c
    return hs[0], merges, nodes


def reference_beam(model, x, noise=None):
    """One sentence, beams as a list of dicts: ``(root, best merges, best nodes)``; ``noise``
    per step ``[beam, n - t]`` (beam slot, pair) is added to the expansions' ranking keys."""
    n = x.shape[0]
    h, c = model.cell.leaf(x)
    beams = [{"score": x.new_zeros(()), "hs": list(h), "cs": list(c), "merges": [],
              "nodes": list(h)}]
    for t in range(1, n):
        expanded = []
        for slot, beam in enumerate(beams):
            cands = [_pair(model.cell, beam["hs"], beam["cs"], i)
                     for i in range(len(beam["hs"]) - 1)]
            logp = torch.stack([torch.dot(ch, model.query) for ch, _ in cands]).log_softmax(0)
            for k in range(len(cands)):
                total = beam["score"] + logp[k]
                bump = 0.0 if noise is None else float(noise[t - 1][slot, k])
                key = float(total.detach()) + bump
                expanded.append((key, total, beam, k, cands[k]))
        expanded.sort(key=lambda e: -e[0])
        beams = []
        for _, score, beam, k, (ch, cc) in expanded[:model.beam]:
            hs, cs = beam["hs"], beam["cs"]
            beams.append({"score": score, "hs": hs[:k] + [ch] + hs[k + 2:],
                          "cs": cs[:k] + [cc] + cs[k + 2:], "merges": beam["merges"] + [k],
                          "nodes": beam["nodes"] + [ch]})
    weights = torch.stack([b["score"] for b in beams]).softmax(0)
    root = sum(w * b["hs"][0] for w, b in zip(weights, beams, strict=True))
    best = max(beams, key=lambda b: float(b["score"].detach()))  # with noise not always the first
    return root, best["merges"], best["nodes"]


def _batch(seed, lengths):
    torch.manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), X)
    x[torch.arange(x.shape[1])[None] >= lengths[:, None]] = 0.0  # padding, as the encoder pads
    return x.requires_grad_(), lengths


def _grads(model, x, loss):
    model.zero_grad()
    x.grad = None
    loss.backward()
    return ([torch.zeros_like(p) if p.grad is None else p.grad.clone()
             for p in model.parameters()], x.grad.clone())


def _compare(model, reference, x, lengths, noise=None):
    """Batched vs reference: roots, node states, merges, gradients (params and x)."""
    t_max = x.shape[1]
    torch.manual_seed(1)
    w_root, w_node = torch.randn(len(lengths), H), torch.randn(len(lengths), 2 * t_max - 1, H)
    out = model(x, lengths) if noise is None else model(x, lengths, noise)
    grads, x_grad = _grads(model, x, (out.root_h * w_root).sum() + (out.node_h * w_node).sum())
    loss, roots = 0.0, []
    for b, n in enumerate(lengths.tolist()):
        sent_noise = None if noise is None else [g[b, ..., :n - t] for t, g in enumerate(noise, 1)]
        root, merges, nodes = reference(model, x[b, :n], sent_noise)
        assert out.merges[b].tolist() == merges + [-1] * (t_max - n)
        node_ids = list(range(n)) + [t_max + s for s in range(n - 1)]
        torch.testing.assert_close(out.node_h[b, node_ids], torch.stack(nodes), atol=1e-5, rtol=0)
        others = [i for i in range(2 * t_max - 1) if i not in node_ids]
        assert not out.node_h[b, others].any()
        loss = loss + (root * w_root[b]).sum() + (torch.stack(nodes) * w_node[b, node_ids]).sum()
        roots.append(root)
    torch.testing.assert_close(out.root_h, torch.stack(roots), atol=1e-5, rtol=0)
    ref_grads, ref_x_grad = _grads(model, x, loss)
    # relative too: the GRC's layer norms make gradients of 10-100 here, summed in another order
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x_grad, ref_x_grad, atol=1e-5, rtol=1e-5)
    padded = torch.arange(t_max)[None] >= lengths[:, None]
    assert not x_grad[padded].any()


LENGTHS = [[3, 7, 1, 5, 2], [4, 4, 4, 4], [1], [6, 2, 7, 7, 3, 1]]


@pytest.mark.parametrize("seed, lengths", list(enumerate(LENGTHS)))
def test_gumbel_eval_matches_reference(seed, lengths):
    torch.manual_seed(seed)
    model = GumbelTreeLSTM(X, H).eval()
    _compare(model, reference_gumbel, *_batch(seed, lengths))


@pytest.mark.parametrize("seed, lengths", list(enumerate(LENGTHS)))
def test_gumbel_training_matches_reference_with_replayed_noise(seed, lengths):
    torch.manual_seed(seed)
    model = GumbelTreeLSTM(X, H, tau=0.7).train()
    x, lengths = _batch(seed, lengths)
    noise = sample_gumbel_noise(len(lengths), x.shape[1])
    _compare(model, reference_gumbel, x, lengths, noise=noise)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("beam", [1, 3, 5])
@pytest.mark.parametrize("seed, lengths", list(enumerate(LENGTHS)))
def test_beam_matches_reference(seed, lengths, beam, cell):
    torch.manual_seed(seed)
    model = BeamTreeLSTM(X, H, beam=beam, cell=cell)
    _compare(model, reference_beam, *_batch(seed, lengths))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("incremental", [True, False])
@pytest.mark.parametrize("beam", [1, 3, 5])
@pytest.mark.parametrize("seed, lengths", list(enumerate(LENGTHS)))
def test_gumbel_beam_training_matches_reference_with_replayed_noise(seed, lengths, beam,
                                                                    incremental, cell):
    """Training ranks the expansions by score plus noise: the carried and the full path
    against the reference, with the same noise."""
    torch.manual_seed(seed)
    model = BeamTreeLSTM(X, H, beam=beam, gumbel=True, cell=cell).train()
    model._incremental = incremental
    x, lengths = _batch(seed, lengths)
    noise = sample_gumbel_noise(len(lengths), x.shape[1], beams=beam)
    _compare(model, reference_beam, x, lengths, noise=noise)


def test_gumbel_beam_samples_in_training_and_searches_in_eval():
    """Training draws different trees; eval mode is the plain beam search (noise ignored)."""
    torch.manual_seed(6)
    model = BeamTreeLSTM(X, H, beam=3, gumbel=True)
    plain = BeamTreeLSTM(X, H, beam=3)
    plain.load_state_dict(model.state_dict())
    x, lengths = _batch(6, [7, 6, 7])
    draws = {tuple(model.train()(x, lengths).merges.flatten().tolist()) for _ in range(20)}
    assert len(draws) > 1
    assert len({tuple(plain.train()(x, lengths).merges.flatten().tolist())
                for _ in range(3)}) == 1
    noise = sample_gumbel_noise(3, x.shape[1], beams=3)
    model.eval()
    plain.eval()
    a, b = model(x, lengths, noise), plain(x, lengths)  # with gradients: the carried path
    assert torch.equal(a.merges, b.merges) and torch.equal(a.root_h, b.root_h)


LATENT = [(GumbelTreeLSTM, {}), (BeamTreeLSTM, {}),
          (BeamTreeLSTM, {"cell": GatedRecursiveCell})]


@pytest.mark.parametrize("cls, kw", LATENT)
def test_padding_does_not_change_a_sentence(cls, kw):
    torch.manual_seed(0)
    model = cls(X, H, **kw).eval()
    x, lengths = _batch(5, [4, 9, 2, 7])
    with torch.no_grad():
        together = model(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone = model(x[b:b + 1, :n], lengths[b:b + 1])
            torch.testing.assert_close(together.root_h[b], alone.root_h[0], atol=1e-6, rtol=0)
            assert together.merges[b, :n - 1].tolist() == alone.merges[0].tolist()


@pytest.mark.parametrize("cls, kw", LATENT)
def test_a_one_word_sentence_is_its_leaf(cls, kw):
    torch.manual_seed(0)
    model = cls(X, H, **kw).eval()
    x = torch.randn(2, 1, X)
    out = model(x, torch.tensor([1, 1]))
    torch.testing.assert_close(out.root_h, model.cell.leaf(x[:, 0])[0])
    assert out.merges.shape == (2, 0) and out.node_h.shape == (2, 1, H)


def test_eval_merges_the_best_scoring_pair():
    """Replay the chosen merges from ``node_h`` and recompute every candidate's score."""
    torch.manual_seed(3)
    model = GumbelTreeLSTM(X, H).eval()
    x, lengths = _batch(3, [7, 5, 6])
    with torch.no_grad():
        out = model(x, lengths)
        t_max = x.shape[1]
        for b, n in enumerate(lengths.tolist()):
            h, c = model.cell.leaf(x[b, :n])
            hs, cs = list(h), list(c)
            for step, k in enumerate(out.merges[b, :n - 1].tolist()):
                cands = [_pair(model.cell, hs, cs, i) for i in range(len(hs) - 1)]
                scores = torch.stack([ch @ model.query for ch, _ in cands])
                assert int(scores.argmax()) == k
                chosen = out.node_h[b, t_max + step]
                assert float(chosen @ model.query) == pytest.approx(float(scores.max()), abs=1e-5)
                hs[k:k + 2], cs[k:k + 2] = [cands[k][0]], [cands[k][1]]


def test_a_beam_of_one_is_the_greedy_argmax_tree():
    torch.manual_seed(4)
    greedy = GumbelTreeLSTM(X, H).eval()
    beam = BeamTreeLSTM(X, H, beam=1)
    beam.load_state_dict(greedy.state_dict())
    x, lengths = _batch(4, [6, 3, 8, 1])
    with torch.no_grad():
        a, b = greedy(x, lengths), beam(x, lengths)
    assert torch.equal(a.merges, b.merges)
    torch.testing.assert_close(a.root_h, b.root_h, atol=1e-6, rtol=0)
    torch.testing.assert_close(a.node_h, b.node_h, atol=1e-6, rtol=0)


def test_training_draws_noise_and_trains_the_scorer():
    torch.manual_seed(5)
    model = GumbelTreeLSTM(X, H).train()
    x, lengths = _batch(5, [7, 6, 7])
    draws = {tuple(model(x, lengths).merges.flatten().tolist()) for _ in range(20)}
    assert len(draws) > 1  # Gumbel noise changes the trees
    model(x, lengths).root_h.sum().backward()
    assert model.query.grad is not None and model.query.grad.abs().sum() > 0


def test_spans_and_tree_of_a_hand_worked_example():
    # "the film is good": merge (the film) -> [NP, is, good]; (is good) -> [NP, VP]; root
    merges = torch.tensor([0, 1, 0, -1])  # padded to T = 5
    assert merges_to_spans(merges, 4) == [(0, 2), (2, 4), (0, 4)]
    words = ["the", "film", "is", "good"]
    assert str(merges_to_tree(words, merges)) == \
        "(X (X (XX the) (XX film)) (X (XX is) (XX good)))"
    tree = merges_to_tree(words, merges, labels=["NP", "VP", "S"])
    assert str(tree) == "(S (NP (XX the) (XX film)) (VP (XX is) (XX good)))"
    tree = merges_to_tree(words, merges, labels=["D", "N", "V", "A", "NP", "VP", "S"])
    assert str(tree) == "(S (NP (D the) (N film)) (VP (V is) (A good)))"
    assert merges_to_spans([], 1) == [] and str(merges_to_tree(["hi"], [])) == "(XX hi)"
    # right-branching: always merge the last pair
    assert merges_to_spans([2, 1, 0], 4) == [(2, 4), (1, 4), (0, 4)]
    with pytest.raises(ValueError):
        merges_to_tree(words, merges, labels=["S"])


@pytest.mark.parametrize("name", ["gumbel-tree-lstm", "beam-tree-lstm",
                                  "gumbel-beam-tree-lstm", "beam-tree-grc",
                                  "gumbel-beam-tree-grc"])
def test_registry_and_encoder_read_the_words_only(name):
    from treenn.api import trees_to_batch
    from treenn.data.vocab import Vocab
    from treenn.models import Classifier, ModelConfig

    trees = ["(3 (2 a) (3 (3 good) (2 film)))", "(1 (1 bad))", "(2 (2 (2 a) (2 b)) (2 c))"]
    vocab = Vocab.build([["a", "good", "film", "bad", "b", "c"]])
    batch = trees_to_batch(trees, vocab)
    cfg = ModelConfig(name, vocab_size=len(vocab), n_classes=5, x_size=X, h_size=H)
    assert cfg.is_latent and not cfg.is_tree
    model = Classifier(cfg).eval()
    assert isinstance(model.encoder, LatentEncoder) and model.encoder.out_size == H
    # the registry's options reach the encoder: this name alone trains on perturbed ranks
    assert getattr(model.encoder.tree, "gumbel", False) == name.startswith("gumbel-beam")
    assert isinstance(model.encoder.tree.cell,
                      GatedRecursiveCell if name.endswith("grc") else NaryTreeLSTMCell)
    logits = model(batch, batch.roots)
    assert logits.shape == (3, 5)
    # the same as running the tree module on the embedded words directly
    words = [vocab.encode(ws) for ws in (["a", "good", "film"], ["bad"], ["a", "b", "c"])]
    x = torch.zeros(3, 3, X)
    for b, ids in enumerate(words):
        x[b, :len(ids)] = model.embedding(torch.tensor(ids))
    direct = model.encoder.tree(x, torch.tensor([3, 1, 3]))
    parsed = model.encoder.parse(batch, model.embed, batch.roots)
    torch.testing.assert_close(parsed.root_h, direct.root_h)
    assert torch.equal(parsed.merges, direct.merges)
    model.train()
    model(batch, batch.roots).sum().backward()


def _random_batch(seed, batch=8, longest=30):
    torch.manual_seed(seed)
    lengths = torch.randint(1, longest + 1, (batch,))
    lengths[seed % batch] = 1  # always a one-word sentence
    x = torch.randn(batch, int(lengths.max()), X)
    x[torch.arange(x.shape[1])[None] >= lengths[:, None]] = 0.0
    return x, lengths


MODELS = [(GumbelTreeLSTM, {}), (BeamTreeLSTM, {"beam": 1}), (BeamTreeLSTM, {"beam": 3}),
          (BeamTreeLSTM, {"beam": 5}),
          (BeamTreeLSTM, {"beam": 3, "cell": GatedRecursiveCell})]


@pytest.mark.parametrize("cls, kw", MODELS)
@pytest.mark.parametrize("seed", range(6))
def test_incremental_path_matches_the_full_path(cls, kw, seed):
    torch.manual_seed(seed)
    model = cls(X, H, **kw).eval()
    x, lengths = _random_batch(seed)
    with torch.no_grad():
        fast = model(x, lengths)
        model._incremental = False
        full = model(x, lengths)
    assert torch.equal(fast.merges, full.merges)
    torch.testing.assert_close(fast.root_h, full.root_h, atol=1e-6, rtol=0)
    torch.testing.assert_close(fast.node_h, full.node_h, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cls, kw", MODELS)
def test_incremental_path_matches_the_reference(cls, kw):
    torch.manual_seed(7)
    model = cls(X, H, **kw).eval()
    x, lengths = _random_batch(7, longest=12)
    t_max = x.shape[1]
    reference = reference_gumbel if cls is GumbelTreeLSTM else reference_beam
    with torch.no_grad():
        out = model(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            root, merges, nodes = reference(model, x[b, :n])
            assert out.merges[b].tolist() == merges + [-1] * (t_max - n)
            node_ids = list(range(n)) + [t_max + s for s in range(n - 1)]
            torch.testing.assert_close(out.node_h[b, node_ids], torch.stack(nodes),
                                       atol=1e-5, rtol=0)
            torch.testing.assert_close(out.root_h[b], root, atol=1e-5, rtol=0)
            others = [i for i in range(2 * t_max - 1) if i not in node_ids]
            assert not out.node_h[b, others].any()


def _count_compositions(model, monkeypatch) -> list[int]:
    """The number of pairs of every composition call (``compose`` or the fused pointwise)."""
    sizes = []
    compose = model.cell.compose
    monkeypatch.setattr(model.cell, "compose", lambda h, c: sizes.append(len(h)) or compose(h, c))
    pointwise = model.cell.pointwise  # the Gumbel training path composes by the fused cell
    monkeypatch.setattr(model.cell, "pointwise",
                        lambda pre, c, **kw: sizes.append(len(pre)) or pointwise(pre, c, **kw))
    return sizes


@pytest.mark.parametrize("cls, kw", MODELS)
def test_eval_without_gradient_composes_two_pairs_per_sequence_and_step(cls, kw, monkeypatch):
    """After the first (all pairs) call, each step composes <= 2 pairs per sequence; with a
    gradient the Gumbel encoder composes every pair (the beam encoder: next test)."""
    torch.manual_seed(8)
    model = cls(X, H, **kw)
    x, lengths = _random_batch(8, longest=20)
    sizes = _count_compositions(model, monkeypatch)
    per_step = 2 * len(lengths) * kw.get("beam", 1)
    with torch.no_grad():
        model.eval()(x, lengths)
        assert max(sizes[1:]) <= per_step and len(sizes) <= x.shape[1]
    if cls is GumbelTreeLSTM:
        sizes.clear()
        with torch.no_grad():
            model.train()(x, lengths)  # training mode: the full path
        assert max(sizes) > per_step
        sizes.clear()
        model.eval()(x, lengths)  # with a gradient: the full path
        assert max(sizes) > per_step


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("beam", [1, 3, 5])
def test_beam_training_composes_only_the_new_pairs(beam, cell, monkeypatch):
    """With gradients the beam encoder carries its candidates: after the first call (every
    pair once) <= 2 new pairs per beam and step; the full path composes more in all."""
    torch.manual_seed(8)
    model = BeamTreeLSTM(X, H, beam=beam, cell=cell)
    x, lengths = _random_batch(8, longest=20)
    sizes = _count_compositions(model, monkeypatch)
    model(x, lengths)
    assert sizes[0] == int((lengths - 1).sum())
    assert max(sizes[1:]) <= 2 * len(lengths) * beam
    carried = sum(sizes)
    sizes.clear()
    model._incremental = False
    model(x, lengths)
    assert sum(sizes) > carried


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("beam", [1, 3, 5])
@pytest.mark.parametrize("seed", range(4))
def test_beam_training_path_matches_the_full_path(beam, seed, cell):
    """Carried candidates against every pair recomposed: roots, the best beam's merges and
    nodes, the gradients of every parameter and of the word vectors."""
    torch.manual_seed(seed)
    model = BeamTreeLSTM(X, H, beam=beam, cell=cell)
    x, lengths = _random_batch(seed, longest=16)
    x.requires_grad_()
    torch.manual_seed(1)
    w_root, w_node = torch.randn(len(lengths), H), torch.randn(*x.shape[:2], H)
    w_node = torch.cat([w_node, w_node[:, 1:]], 1)  # [B, 2T-1, H]
    outs = []
    for incremental in (True, False):
        model._incremental = incremental
        out = model(x, lengths)
        outs.append((out, *_grads(model, x, (out.root_h * w_root).sum()
                                  + (out.node_h * w_node).sum())))
    (carry, grads, x_grad), (full, want, x_want) = outs
    assert torch.equal(carry.merges, full.merges)
    torch.testing.assert_close(carry.root_h, full.root_h, atol=1e-5, rtol=0)
    torch.testing.assert_close(carry.node_h, full.node_h, atol=1e-5, rtol=0)
    for got, expected in zip(grads, want, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x_grad, x_want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_beam_training_path_gives_the_same_gradients_on_a_second_backward(cell):
    """Each backward pass starts from a zero pool gradient: a second backward of a retained
    graph gives the same gradients again, also after a pass limited to some inputs."""
    torch.manual_seed(3)
    model = BeamTreeLSTM(X, H, beam=3, cell=cell)
    x, lengths = _random_batch(3, longest=10)
    loss = model(x, lengths).root_h.square().sum()
    first = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    some = list(model.cell.parameters())[-1]
    torch.autograd.grad(loss, [some], retain_graph=True)  # leaves not reached
    second = torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_grc_composes_by_its_equations():
    """The gated recursive cell written out: gates and candidate from a GELU layer over both
    children, a gated sum, a layer norm (no learnt scale or shift at initialisation)."""
    torch.manual_seed(0)
    cell = GatedRecursiveCell(X, H)
    x, kids = torch.randn(3, X), torch.randn(3, 2, H)
    leaf, leaf_c = cell.leaf(x)
    pre = x @ cell.W_x.weight.T + cell.W_x.bias
    want = (pre - pre.mean(1, keepdim=True)) / (pre.var(1, unbiased=False, keepdim=True)
                                                 + 1e-5).sqrt()
    torch.testing.assert_close(leaf, want)
    assert leaf_c.shape == (3, 0)
    hidden = cell.W_1(kids.reshape(3, 2 * H))
    hidden = 0.5 * hidden * (1 + torch.erf(hidden / 2 ** 0.5))  # GELU
    f_l, f_r, i, u = cell.W_2(hidden).split(H, 1)
    mixed = f_l.sigmoid() * kids[:, 0] + f_r.sigmoid() * kids[:, 1] + i.sigmoid() * u
    want = (mixed - mixed.mean(1, keepdim=True)) / (mixed.var(1, unbiased=False, keepdim=True)
                                                     + 1e-5).sqrt()
    h, c = cell.compose(kids, torch.zeros(3, 2, 0))
    torch.testing.assert_close(h, want)
    assert c.shape == (3, 0)


@pytest.mark.parametrize("cell", [GatedRecursiveCell, ChildSumTreeLSTMCell])
def test_generic_training_path_leaves_frozen_parameters_out(cell):
    """Frozen parameters (and the query) get no gradient; the others, and the words', are the
    full path's; a hook on a parameter sees its summed gradient once."""
    torch.manual_seed(2)
    model = BeamTreeLSTM(X, H, beam=3, cell=cell)
    frozen = [next(model.cell.parameters()), model.query]
    for p in frozen:
        p.requires_grad_(False)
    x, lengths = _random_batch(2, longest=9)
    x.requires_grad_()
    seen = []
    live = [p for p in model.parameters() if p.requires_grad]
    live[-1].register_hook(lambda g: seen.append(g.clone()))
    got = []
    for incremental in (True, False):
        model._incremental = incremental
        got.append(torch.autograd.grad(model(x, lengths).root_h.square().sum(), [x, *live]))
    for a, b in zip(*got, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert len(seen) == 2  # once per pass
    torch.testing.assert_close(seen[0], got[0][-1])

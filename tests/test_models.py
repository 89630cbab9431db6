"""Models: the packed sequence path against one-sequence-at-a-time runs; every model trains."""

import random

import pytest
import torch
from torch import nn

from tests.reference import WORDS, random_tree
from treenn.data.graphs import collate, sequence_view, tree_to_graph
from treenn.data.vocab import Vocab
from treenn.encoders import SequenceEncoder
from treenn.models import MODELS, Classifier, ModelConfig

VOCAB = Vocab.build([WORDS])


def _batch(seed=0, n=5):
    rng = random.Random(seed)
    return collate([tree_to_graph(random_tree(rng, rng.randint(1, 9)), VOCAB, int)
                    for _ in range(n)])


@pytest.mark.parametrize("cls, layers, bidirectional", [
    (nn.RNN, 1, False), (nn.GRU, 1, False), (nn.LSTM, 1, False), (nn.LSTM, 2, True),
])
def test_packed_sequences_match_one_at_a_time(cls, layers, bidirectional):
    torch.manual_seed(0)
    rnn = cls(4, 3, num_layers=layers, bidirectional=bidirectional, batch_first=True).double()
    enc = SequenceEncoder(rnn)
    emb = torch.randn(len(VOCAB), 4, dtype=torch.double, requires_grad=True)
    batch = _batch()
    nodes = torch.arange(batch.graph.num_nodes())
    got = enc(batch, lambda ids: emb[ids], nodes)

    tokens, lengths = sequence_view(batch, nodes)
    want = []
    for row, k in zip(tokens, lengths.tolist(), strict=True):
        out, _ = rnn(emb[row[:k]].unsqueeze(0))  # [1, k, dirs * h]
        fwd = out[0, -1, :3]
        want.append(torch.cat([fwd, out[0, 0, 3:]]) if bidirectional else fwd)
    want = torch.stack(want)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)

    w = torch.randn_like(got)
    g1 = torch.autograd.grad((got * w).sum(), [emb, *rnn.parameters()])
    g2 = torch.autograd.grad((want * w).sum(), [emb, *rnn.parameters()])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_fits_a_small_batch(name):
    torch.manual_seed(0)
    model = Classifier(ModelConfig(name, len(VOCAB), 5, x_size=8, h_size=8, dropout=0.0))
    batch = _batch(1, n=4)
    nodes = torch.arange(batch.graph.num_nodes())
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if "embedding" not in n],
                           lr=0.05)
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(batch, nodes), batch.labels[nodes])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bilstm_name_fixes_bidirectional():
    cfg = ModelConfig("bilstm", 10, 2)
    assert cfg.bidirectional and not cfg.is_tree
    assert Classifier(cfg).encoder.out_size == 2 * cfg.h_size


def test_dropout_is_the_rand_mask_bit_for_bit_and_its_gradient_is_the_mask():
    from treenn.models import Dropout

    drop = Dropout(0.3)
    x = torch.randn(50, 20, requires_grad=True)
    torch.manual_seed(7)
    y = drop(x)
    torch.manual_seed(7)
    keep = torch.rand_like(x) >= 0.3
    assert torch.equal(y, x * keep * (1.0 / 0.7))  # the draw and products it always made
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, keep * (1.0 / 0.7))
    drop.eval()
    assert drop(x) is x

"""The CUDA path against the CPU: the fast engine, the latent encoders and every model.

CI has no GPU, so these tests are skipped there; docs/speed.md#gpu gives the last run on a
GPU machine. Each test runs the same module in double precision on the CPU (itself checked
against the per-tree recursive references in test_engines and test_latent) and on CUDA, and
compares values, chosen trees and gradients.
"""

import copy
import os
import random

import pytest
import torch
from torch import nn

from tests.reference import random_tree, recursive_states
from tests.test_engines import CELLS, VOCAB, _trees
from tests.test_latent import LENGTHS, X, _batch
from treenn.data.graphs import collate, tree_to_graph
from treenn.engines import ENGINES
from treenn.latent import BeamTreeLSTM, GumbelTreeLSTM, sample_gumbel_noise
from treenn.models import MODELS, Classifier, ModelConfig

# TREENN_TEST_DEVICE=cpu runs these tests' own code on a machine without a GPU.
CUDA = torch.device(os.environ.get("TREENN_TEST_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(CUDA.type == "cuda" and not torch.cuda.is_available(),
                                reason="no CUDA device")


def _close(got, want):
    torch.testing.assert_close(got.cpu(), want.cpu(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_fast_engine_on_cuda_matches_the_recursive_reference(name, grad):
    """With gradients the level loop records for its own backward; without, it does not."""
    make, arity = CELLS[name]
    cell = make().double()
    emb = torch.randn(len(VOCAB), 5, dtype=torch.double)
    trees = _trees(arity, seed=2)
    ref = [recursive_states(cell, t, VOCAB, emb.requires_grad_(grad)) for t in trees]
    ref_h, ref_c = torch.cat([r[0] for r in ref]), torch.cat([r[1] for r in ref])

    gpu_cell = copy.deepcopy(cell).to(CUDA)
    gpu_emb = emb.detach().to(CUDA).requires_grad_(grad)
    batch = collate([tree_to_graph(t, VOCAB, int) for t in trees]).to(CUDA)
    with torch.set_grad_enabled(grad):
        h, c = ENGINES["fast"](gpu_cell, batch, gpu_emb[batch.words[batch.schedule.leaf_ids]])
    assert h.device.type == c.device.type == CUDA.type
    _close(h, ref_h)
    _close(c, ref_c)
    if not grad:
        return
    w_h, w_c = torch.randn_like(ref_h), torch.randn_like(ref_c)  # gradients into h and c
    want = torch.autograd.grad((ref_h * w_h).sum() + (ref_c * w_c).sum(),
                               [emb, *cell.parameters()], allow_unused=True)
    got = torch.autograd.grad((h * w_h.to(CUDA)).sum() + (c * w_c.to(CUDA)).sum(),
                              [gpu_emb, *gpu_cell.parameters()], allow_unused=True)
    for g, r in zip(got, want, strict=True):
        assert (g is None) == (r is None)
        if g is not None:
            _close(g, r)


def _latent_pair(cls, seed, **kw):
    torch.manual_seed(seed)
    model = cls(X, 5, **kw).double()
    return model, copy.deepcopy(model).to(CUDA)


def _same_output(cpu_out, gpu_out):
    assert torch.equal(gpu_out.merges.cpu(), cpu_out.merges.cpu())
    _close(gpu_out.root_h, cpu_out.root_h)
    _close(gpu_out.node_h, cpu_out.node_h)


def _same_gradients(cpu_model, gpu_model, x, gx, cpu_out, gpu_out):
    """Through the roots too: the beam encoder's scorer reaches the output only there."""
    w_root, w_node = torch.randn_like(cpu_out.root_h), torch.randn_like(cpu_out.node_h)
    ((cpu_out.root_h * w_root).sum() + (cpu_out.node_h * w_node).sum()).backward()
    ((gpu_out.root_h * w_root.to(CUDA)).sum() + (gpu_out.node_h * w_node.to(CUDA)).sum()
     ).backward()
    for p, q in zip(cpu_model.parameters(), gpu_model.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            _close(q.grad, p.grad)
    _close(gx.grad, x.grad)


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("cls, kw", [(GumbelTreeLSTM, {}), (BeamTreeLSTM, {"beam": 3})])
@pytest.mark.parametrize("seed, lengths", list(enumerate(LENGTHS)))
def test_latent_encoders_on_cuda_match_the_cpu(cls, kw, seed, lengths, grad):
    """Eval mode. With gradients: the Gumbel encoder's full path (hard argmax merges) and the
    beam encoder's carried candidates, as in training; without: the fast no-tape paths."""
    cpu_model, gpu_model = _latent_pair(cls, seed, **kw)
    cpu_model.eval(), gpu_model.eval()
    x, n = _batch(seed, lengths)
    x = x.detach().double().requires_grad_(grad)
    gx = x.detach().to(CUDA).requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        cpu_out, gpu_out = cpu_model(x, n), gpu_model(gx, n.to(CUDA))
    _same_output(cpu_out, gpu_out)
    if grad:
        _same_gradients(cpu_model, gpu_model, x, gx, cpu_out, gpu_out)
        if cls is BeamTreeLSTM and max(lengths) > 2:  # the scorer's gradient was compared
            assert gpu_model.query.grad.abs().sum() > 0


@pytest.mark.parametrize("seed, lengths", list(enumerate(LENGTHS)))
def test_gumbel_training_on_cuda_matches_the_cpu_with_the_same_noise(seed, lengths):
    cpu_model, gpu_model = _latent_pair(GumbelTreeLSTM, seed, tau=0.7)
    x, n = _batch(seed, lengths)
    x = x.detach().double().requires_grad_()
    gx = x.detach().to(CUDA).requires_grad_()
    noise = [g.double() for g in sample_gumbel_noise(len(n), x.shape[1])]
    cpu_out = cpu_model(x, n, noise)
    gpu_out = gpu_model(gx, n.to(CUDA), [g.to(CUDA) for g in noise])
    _same_output(cpu_out, gpu_out)
    _same_gradients(cpu_model, gpu_model, x, gx, cpu_out, gpu_out)
    if max(lengths) > 2:  # the scorer's gradient (straight-through) was compared
        assert gpu_model.query.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_on_cuda_gives_the_cpu_loss_and_gradients(name):
    torch.manual_seed(0)
    cfg = ModelConfig(name, len(VOCAB), 5, x_size=8, h_size=8, dropout=0.0)
    # cuDNN's RNN backward needs training mode; a Gumbel encoder in training mode draws its
    # noise on each device, so it is compared in eval mode, where its scorer gets no gradient
    # (the Gumbel training test above compares that gradient with the same noise)
    cpu_model = Classifier(cfg).double().train("gumbel" not in name)
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    rng = random.Random(3)
    batch = collate([tree_to_graph(random_tree(rng, rng.randint(1, 9)), VOCAB, int)
                     for _ in range(6)])
    nodes = torch.arange(batch.graph.num_nodes())
    losses = []
    for model, b, ids in ((cpu_model, batch, nodes), (gpu_model, batch.to(CUDA), nodes.to(CUDA))):
        loss = nn.functional.cross_entropy(model(b, ids), b.labels[ids])
        loss.backward()
        losses.append(loss)
    _close(losses[1], losses[0])
    for (pname, p), q in zip(cpu_model.named_parameters(), gpu_model.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), pname
        if p.grad is not None:
            _close(q.grad.to_dense(), p.grad.to_dense())


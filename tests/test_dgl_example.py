"""The benchmark's re-implementation of DGL's Tree-LSTM example against the recursive
reference: logits of every node and every parameter gradient, weights mapped explicitly."""

import random

import pytest
import torch
import torch.nn.functional as F

from tests.reference import WORDS, random_tree, recursive_states
from treenn.cells import NaryTreeLSTMCell
from treenn.data.graphs import collate, tree_to_graph
from treenn.data.vocab import Vocab
from treenn.experiments.dgl_example import example_batch, example_loss, make_example

X, H, CLASSES = 5, 4, 5
VOCAB = Vocab.build([WORDS])


def _mapped_cell(example) -> NaryTreeLSTMCell:
    """Our binary cell with the example's weights. Ours lays the composition out
    ``[i, o, f_1, f_2, u]`` in one matrix with bias; the example has ``U_iou`` ``[i, o, u]``,
    ``U_f`` ``[f_1, f_2]`` and one ``b_iou`` shared by leaves and internal nodes."""
    cell = NaryTreeLSTMCell(X, H)
    u_iou, u_f, b_iou = example.U_iou.weight, example.U_f, example.b_iou[0]
    with torch.no_grad():
        cell.W_iou.weight.copy_(example.W_iou.weight)
        cell.W_iou.bias.copy_(b_iou)
        cell.U.weight.copy_(torch.cat([u_iou[:2 * H], u_f.weight, u_iou[2 * H:]]))
        cell.U.bias.copy_(torch.cat([b_iou[:2 * H], u_f.bias, b_iou[2 * H:]]))
    return cell


# the leaf frontier has no in-edges, and DGL warns about it on every call
@pytest.mark.filterwarnings("ignore:.*does not contain valid edges")
def test_dgl_example_matches_recursive_reference():
    rng = random.Random(0)
    trees = [random_tree(rng, rng.randint(1, 9)) for _ in range(5)]
    batch = collate([tree_to_graph(t, VOCAB, int) for t in trees])
    torch.manual_seed(0)
    model, _ = make_example(torch.randn(len(VOCAB), X), H, CLASSES, dropout=0.0)
    with torch.no_grad():  # non-zero biases, so a misplaced bias cannot pass unseen
        for p in (model.cell.b_iou, model.cell.U_f.bias, model.linear.bias):
            p.normal_()
    cell = _mapped_cell(model.cell)
    emb = model.embedding.weight.detach().clone().requires_grad_()
    labels = batch.labels

    ex = example_batch(batch)
    loss = example_loss(model, ex)
    loss.backward()
    ref_h = torch.cat([recursive_states(cell, t, VOCAB, emb)[0] for t in trees])
    ref_logits = F.linear(ref_h, model.linear.weight.detach(), model.linear.bias.detach())
    ref_loss = F.cross_entropy(ref_logits, labels, reduction="sum")
    ref_loss.backward()

    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=0)
    n = batch.graph.num_nodes()
    logits = model(ex, torch.zeros(n, H), torch.zeros(n, H))
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=0)

    def close(got, want):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)

    u_grad, w_grad = cell.U.weight.grad, cell.W_iou.bias.grad + cell.U.bias.grad[[
        *range(2 * H), *range(4 * H, 5 * H)]]
    close(model.embedding.weight.grad, emb.grad)
    close(model.cell.W_iou.weight.grad, cell.W_iou.weight.grad)
    close(model.cell.U_iou.weight.grad, torch.cat([u_grad[:2 * H], u_grad[4 * H:]]))
    close(model.cell.U_f.weight.grad, u_grad[2 * H:4 * H])
    close(model.cell.U_f.bias.grad, cell.U.bias.grad[2 * H:4 * H])
    close(model.cell.b_iou.grad[0], w_grad)

"""Tree and sequence encoders behind one interface.

``encoder(batch, embed, nodes) -> [len(nodes), out_size]`` gives a state for each requested
node of the batch. A tree encoder computes every node bottom-up and picks the requested ones;
a sequence encoder reads, for each requested node, the words under it left to right (for a
root that is the whole sentence, for an inner node its phrase) and returns the final state.
So "tree versus sequence" is one config field: the classifier head and the training loop do
not know which kind they drive.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from treenn.cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell, TreeCell
from treenn.data.graphs import Batch, sequence_view
from treenn.engines import ENGINES
from treenn.errors import TreennError

Embed = Callable[[torch.Tensor], torch.Tensor]


class TreeEncoder(nn.Module):
    """A recursive cell driven by an engine (``fast`` or ``dgl``)."""

    def __init__(self, cell: TreeCell, engine: str = "fast"):
        super().__init__()
        self.cell = cell
        self.engine = engine
        self.out_size = cell.h_size

    def forward(self, batch: Batch, embed: Embed, nodes: torch.Tensor) -> torch.Tensor:
        x_leaf = embed(batch.words[batch.schedule.leaf_ids.to(batch.words.device)])
        h, _ = ENGINES[self.engine](self.cell, batch, x_leaf)  # h: [N, h_size]
        return h[nodes]


class SequenceEncoder(nn.Module):
    """``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` over packed variable-length word sequences.

    The state of a sequence is the last layer's final hidden state (both directions
    concatenated when bidirectional).
    """

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.rnn = rnn
        self.directions = 2 if rnn.bidirectional else 1
        self.out_size = rnn.hidden_size * self.directions

    def forward(self, batch: Batch, embed: Embed, nodes: torch.Tensor) -> torch.Tensor:
        tokens, lengths = sequence_view(batch, nodes)  # [n, T], [n]
        # Pack the word ids first and embed only real tokens: embedding, dropout and the
        # sparse embedding gradient then cost sum(lengths) rows, not n * T (phrase training
        # pads ~900 short phrases per batch to the longest one).
        ids = pack_padded_sequence(tokens, lengths.cpu(), batch_first=True,
                                   enforce_sorted=False)
        _, final = self.rnn(ids._replace(data=embed(ids.data)))  # data: [sum(lengths), x]
        if isinstance(final, tuple):  # LSTM: (h_n, c_n)
            final = final[0]
        # final: [layers * directions, n, h] -> last layer, directions side by side
        last = final.view(self.rnn.num_layers, self.directions, -1, self.rnn.hidden_size)[-1]
        return last.permute(1, 0, 2).reshape(-1, self.out_size)


class TreeLSTM(nn.Module):
    """A Tree-LSTM over a batch of trees, in the conventions of ``torch.nn.LSTM``.

    Args:
        x_size: size of each node's input vector.
        h_size: size of the hidden and memory states.
        cell: ``"nary"`` (the binary N-ary Tree-LSTM of Tai et al. 2015; every node has at
            most two children) or ``"childsum"`` (Child-Sum Tree-LSTM; any number).
        engine: ``"fast"`` (level-batched) or ``"dgl"`` (the ``prop_nodes_topo`` reference).

    ``forward(batch, x)`` takes a batch from :func:`treenn.trees_to_batch` and ``x``:
    ``[n_nodes, x_size]``, one input row per node (only the leaves' rows are read: words sit
    on leaves), and returns ``output, (h_n, c_n)``: ``output`` ``[n_nodes, h_size]`` the
    hidden state of every node, ``h_n`` and ``c_n`` ``[n_trees, h_size]`` each tree's root.

    >>> from treenn import Vocab, trees_to_batch
    >>> batch = trees_to_batch(["(3 (2 a) (3 (3 good) (2 film)))"], Vocab.build([["a", "good"]]))
    >>> embed = nn.Embedding(5, 8)
    >>> output, (h_n, c_n) = TreeLSTM(8, 16)(batch, embed(batch.words))
    >>> tuple(output.shape), tuple(h_n.shape), bool(torch.equal(h_n[0], output[-1]))
    ((5, 16), (1, 16), True)
    """

    def __init__(self, x_size: int, h_size: int, cell: str = "nary", engine: str = "fast"):
        super().__init__()
        cells = {"nary": NaryTreeLSTMCell, "childsum": ChildSumTreeLSTMCell}
        if cell not in cells:
            raise TreennError(f"unknown Tree-LSTM cell {cell!r}; choose from "
                              f"{', '.join(cells)}")
        if engine not in ENGINES:
            raise TreennError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
        self.cell = cells[cell](x_size, h_size)
        self.engine = engine

    def forward(self, batch: Batch, x: torch.Tensor
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x_leaf = x[batch.schedule.leaf_ids.to(x.device)]  # [n_leaves, x_size]
        h, c = ENGINES[self.engine](self.cell, batch, x_leaf)  # [n_nodes, h_size] each
        roots = batch.roots.to(h.device)
        return h, (h[roots], c[roots])

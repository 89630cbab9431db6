"""Model configuration, the model registry, and the classifier (encoder + head).

``MODELS`` is the one place where a model name becomes a class.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from treenn.cells import (
    ChildSumTreeLSTMCell,
    GatedRecursiveCell,
    NaryTreeLSTMCell,
    RecursiveNNCell,
    RNTNCell,
)
from treenn.data.vocab import PAD_ID
from treenn.encoders import SequenceEncoder, TreeEncoder
from treenn.engines import ENGINES
from treenn.errors import TreennError
from treenn.latent import BeamTreeLSTM, GumbelTreeLSTM, LatentEncoder


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means: a tree cell, a recurrent layer or a latent-tree encoder (which
    builds its own trees over the words), plus fixed settings; ``options`` are keyword
    arguments of a latent encoder's class (ignored for the other kinds)."""

    kind: str  # "tree", "sequence" or "latent"
    cls: type[nn.Module]
    fixed: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # a latent encoder's keyword arguments


MODELS: dict[str, ModelSpec] = {
    "tree-lstm": ModelSpec("tree", NaryTreeLSTMCell),
    "childsum-tree-lstm": ModelSpec("tree", ChildSumTreeLSTMCell),
    "recnn": ModelSpec("tree", RecursiveNNCell),
    "rntn": ModelSpec("tree", RNTNCell),
    "tree-grc": ModelSpec("tree", GatedRecursiveCell),  # the beam-tree-grc models' cell
    "rnn": ModelSpec("sequence", nn.RNN),
    "lstm": ModelSpec("sequence", nn.LSTM),
    "gru": ModelSpec("sequence", nn.GRU),
    "bilstm": ModelSpec("sequence", nn.LSTM, {"bidirectional": True}),
    "gumbel-tree-lstm": ModelSpec("latent", GumbelTreeLSTM),
    "beam-tree-lstm": ModelSpec("latent", BeamTreeLSTM),
    "gumbel-beam-tree-lstm": ModelSpec("latent", BeamTreeLSTM, options={"gumbel": True}),
    "beam-tree-grc": ModelSpec("latent", BeamTreeLSTM, options={"cell": GatedRecursiveCell}),
    "gumbel-beam-tree-grc": ModelSpec("latent", BeamTreeLSTM,
                                      options={"gumbel": True, "cell": GatedRecursiveCell}),
}


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored in checkpoints as a plain dict."""

    model: str
    vocab_size: int
    n_classes: int
    x_size: int = 300
    h_size: int = 150
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.5
    engine: str = "fast"

    def __post_init__(self):
        if self.model not in MODELS:
            raise TreennError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        if self.engine not in ENGINES:
            raise TreennError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        for key, value in MODELS[self.model].fixed.items():
            setattr(self, key, value)

    @property
    def is_tree(self) -> bool:
        """A gold-tree model (reads the dataset's trees); latent-tree models do not."""
        return MODELS[self.model].kind == "tree"

    @property
    def is_latent(self) -> bool:
        """A latent-tree model: reads the words only and induces its own trees."""
        return MODELS[self.model].kind == "latent"


def build_encoder(cfg: ModelConfig) -> TreeEncoder | SequenceEncoder | LatentEncoder:
    spec = MODELS[cfg.model]
    if spec.kind == "tree":
        return TreeEncoder(spec.cls(cfg.x_size, cfg.h_size), engine=cfg.engine)
    if spec.kind == "latent":
        return LatentEncoder(spec.cls(cfg.x_size, cfg.h_size, **spec.options))
    rnn = spec.cls(cfg.x_size, cfg.h_size, num_layers=cfg.layers, batch_first=True,
                   bidirectional=cfg.bidirectional,
                   dropout=cfg.dropout if cfg.layers > 1 else 0.0)
    return SequenceEncoder(rnn)


class Dropout(nn.Module):
    """Inverted dropout with the mask drawn by ``torch.rand``.

    Same distribution as ``nn.Dropout``; on the CPU ``rand`` draws a mask about three times
    faster than the Bernoulli sampler ``nn.Dropout`` uses, which matters on the hot path.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        # One float mask holding 0 or 1 / (1 - p): the same products as ``x * keep * scale``
        # bit for bit, and the backward is one float product instead of two (one with a
        # boolean tensor, which is slow on the CPU).
        mask = (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * mask


class Classifier(nn.Module):
    """Embeddings -> dropout -> encoder -> dropout -> linear head, one prediction per node.

    The embedding table has sparse gradients: a batch touches a few hundred of the ~20k rows,
    and the optimiser then updates only those.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.x_size, padding_idx=PAD_ID,
                                      sparse=True)
        self.input_dropout = Dropout(cfg.dropout)
        self.encoder = build_encoder(cfg)
        self.output_dropout = Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.out_size, cfg.n_classes)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.input_dropout(self.embedding(ids))

    def forward(self, batch, nodes: torch.Tensor) -> torch.Tensor:
        """Logits ``[len(nodes), n_classes]`` for the given node ids of ``batch``."""
        states = self.encoder(batch, self.embed, nodes)
        return self.head(self.output_dropout(states))

    def set_engine(self, engine: str) -> None:
        if engine not in ENGINES:
            raise TreennError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
        self.cfg.engine = engine
        if isinstance(self.encoder, TreeEncoder):
            self.encoder.engine = engine


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gold_tree_twin(model: Classifier) -> Classifier:
    """A latent-tree classifier with its tree search replaced by the trees it is given: the
    registered gold-tree model of its cell (``tree-lstm`` for the Tree-LSTM, ``tree-grc`` for
    the GRC) holding the same embedding, cell and head modules (shared, not copied). Scored
    on gold trees, it tells finding a tree apart from computing along one."""
    cell = model.encoder.tree.cell
    name = next((n for n, s in MODELS.items() if s.kind == "tree" and s.cls is type(cell)),
                None)
    if name is None:
        raise TreennError(f"no gold-tree model is registered for {type(cell).__name__}")
    twin = Classifier(replace(model.cfg, model=name))
    twin.embedding, twin.head = model.embedding, model.head
    twin.encoder = TreeEncoder(cell, engine=model.cfg.engine)
    return twin.train(model.training)

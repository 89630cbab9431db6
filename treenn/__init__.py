"""treenn: recursive (tree-structured) neural networks on DGL graphs.

The package is split by job:

* ``treenn.cells``     per-node maths (Tree-LSTMs, recursive NN, RNTN)
* ``treenn.engines``   bottom-up traversals that drive a cell over a batch of trees
* ``treenn.encoders``  tree and sequence encoders sharing one interface
* ``treenn.models``    encoder + classifier head, and the model registry
* ``treenn.training``  train / evaluate / predict loops and checkpoints
* ``treenn.metrics``   confusion matrices and CoreNLP-style summaries
* ``treenn.cli``       the ``train.py`` / ``treenn`` command line

Data readers, vocabularies and tree -> graph conversion live in the sibling package ``data``;
parsers that turn raw text into trees live in ``parsers``.
"""

import os

# DGL picks its backend from this variable at import time and warns when it is unset.
os.environ.setdefault("DGLBACKEND", "pytorch")

__version__ = "0.1.0"

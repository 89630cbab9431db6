"""treenn: recursive (tree-structured) neural networks on DGL graphs.

The public API is importable from here (loaded on first use, so ``import treenn`` is cheap)::

    import treenn
    clf = treenn.TreeClassifier.from_pretrained("runs/t")      # a trained classifier
    clf.predict(["(3 (2 a) (3 (3 good) (2 film)))", "A gorgeous movie ."])
    treenn.Parser.from_pretrained("right-branching").parse(["It works ."])
    treenn.train(task="listops", model="tree-lstm", out="runs/l", epochs=2)
    treenn.TreeLSTM(x_size, h_size)(treenn.trees_to_batch(trees, vocab), x)

The package is split into layers that import downwards only (docs/architecture.md):
``treenn.errors`` -> ``treenn.data`` (trees, tasks, datasets) -> the core (``cells``,
``engines``, ``encoders``, ``models``, ``loop``/``training``, ``metrics``, ``runs``) ->
``treenn.parsers`` -> ``treenn.api`` -> the application (``cli``, ``show``, ``report``,
``experiments``).
"""

import importlib
import os

# DGL picks its backend from this variable at import time and warns when it is unset.
os.environ.setdefault("DGLBACKEND", "pytorch")

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "TreeClassifier": "treenn.api",
    "Parser": "treenn.api",
    "Prediction": "treenn.api",
    "train": "treenn.api",
    "trees_to_batch": "treenn.api",
    "TreeLSTM": "treenn.encoders",
    "Vocab": "treenn.data.vocab",
    "TreennError": "treenn.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'treenn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})

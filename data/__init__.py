"""Data for treenn: tree readers, vocabularies, tree -> DGL graph conversion, tasks.

``nltk.Tree`` is the exchange type: readers produce trees, :mod:`treenn.data.graphs` turns
them into DGL graphs, and the visualisation and parsers consume or produce trees.
"""

import os

os.environ.setdefault("DGLBACKEND", "pytorch")

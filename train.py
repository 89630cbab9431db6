#!/usr/bin/env python3
"""Train, evaluate and apply tree-structured and sequence models: ``python train.py --help``.

Without arguments it runs the quick-start demo (generated ListOps, Tree-LSTM vs LSTM).
"""

import sys

from treenn.cli import main

if __name__ == "__main__":
    sys.exit(main())

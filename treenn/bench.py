"""``python -m treenn.bench``: the engine benchmark (see :mod:`treenn.experiments.bench`).

Kept at this name because the command is part of the documented interface.
"""

import sys

from treenn.errors import run_main
from treenn.experiments.bench import main

if __name__ == "__main__":
    sys.exit(run_main(main))

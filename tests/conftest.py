"""Shared fixtures: tiny bracket strings and paths to the shared development data."""

import os
import random
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

os.environ.setdefault("DGLBACKEND", "pytorch")

# The fuzzing suite is deterministic (derandomize: the same examples on every run, so CI
# cannot turn red by chance) and keeps no example database in the checkout.
settings.register_profile("treenn", derandomize=True, database=None, deadline=None,
                          max_examples=int(os.environ.get("TREENN_FUZZ_EXAMPLES", "150")),
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("treenn")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TREENN_SHARED", ROOT.parent / "shared")) / "data"

SST_LINES = [
    "(3 (2 The) (4 (3 (2 Rock) (4 rocks)) (2 .)))",
    "(1 (2 It) (1 (2 is) (0 dull)))",
    "(2 (2 Fine))",
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache (nor download anything into it)."""
    os.environ["TREENN_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def sst_file(tmp_path):
    path = tmp_path / "trees.txt"
    path.write_text("\n".join(SST_LINES) + "\n")
    return path


def shared_path(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def tiny_sst(tmp_path_factory):
    """A small SST-format data directory (random trees with random labels)."""
    from tests.reference import random_tree
    from treenn.data.trees import to_bracketed

    folder = tmp_path_factory.mktemp("sst")
    rng = random.Random(0)
    for split, n in (("train", 40), ("dev", 12), ("test", 12)):
        lines = [to_bracketed(random_tree(rng, rng.randint(1, 8))) for _ in range(n)]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


PTB_SENTENCES = [
    "(S (NP-SBJ (DT The) (NN dog)) (VP (VBD saw) (NP (DT a) (NN cat))) (. .))",
    "(S (NP-SBJ (PRP It)) (VP (VBD ran) (ADVP (RB fast))) (. .))",
    "(S (NP-SBJ (DT A) (JJ big) (NN cat)) (VP (VBD sat) (PP (IN on) (NP (DT the) (NN mat)))))",
    "(S (NP-SBJ (NNP John)) (VP (VBZ likes) (NP (NNS dogs))) (. .))",
    "(S (NP-SBJ (-NONE- *)) (VP (VB Go) (ADVP (RB home))) (. !))",
]


@pytest.fixture(scope="session")
def tiny_ptb(tmp_path_factory):
    """An nltk_data folder whose treebank has a few files in each split's range."""
    root = tmp_path_factory.mktemp("nltk_data")
    combined = root / "corpora" / "treebank" / "combined"
    combined.mkdir(parents=True)
    rng = random.Random(0)
    for number in (1, 2, 160, 180):
        trees = [rng.choice(PTB_SENTENCES) for _ in range(6)]
        (combined / f"wsj_{number:04d}.mrg").write_text("".join(f"( {t} )\n\n" for t in trees))
    return root


@pytest.fixture(scope="session")
def finished_sst_run(tiny_sst, tmp_path_factory):
    """A finished one-epoch Tree-LSTM run on ``tiny_sst``, trained once per session; tests
    that damage or modify a run work on copies of it."""
    from treenn.training import TrainConfig, train

    out = tmp_path_factory.mktemp("finished") / "run"
    train(TrainConfig(task="sst5", model="tree-lstm", out=str(out), data_dir=str(tiny_sst),
                      epochs=1, x_size=8, h_size=8, batch_size=8, seed=3, progress=False,
                      threads=1))
    return out

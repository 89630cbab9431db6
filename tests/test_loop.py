"""The training loop (treenn.loop): its pieces against plain references, and every model kind
going through it."""

import json
import random

import pytest
import torch

from treenn.optimisation import (
    WeightAverage,
    clip_gradients,
    ema_rate,
    plateau_from_rule,
    plateau_schedulers,
    should_halve_lr,
)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(5, 4)
        self.b = torch.nn.Linear(4, 3, bias=False)


def test_weight_average_is_bit_identical_to_a_plain_lerp_per_tensor():
    torch.manual_seed(0)
    net = _Net()
    decay = 0.998
    steps = 7  # as if resumed after 7 steps
    average = WeightAverage(net, decay, steps)
    # the reference: what parsers/training.py's WeightAverage did before the loop
    shadow = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for t in range(steps + 1, steps + 40):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        average.update(net)
        rate = 1 - min(decay, (1 + t) / (10 + t))
        assert rate == ema_rate(decay, t)
        for k, v in shadow.items():
            v.lerp_(net.state_dict()[k], rate)
        assert average.steps == t
    for k, v in shadow.items():
        assert torch.equal(average.shadow[k], v), k


def test_weight_average_first_update_lerps_from_the_starting_weights():
    layer = torch.nn.Linear(2, 1)
    average = WeightAverage(layer, decay=0.5)
    expected = layer.weight.detach().clone()
    for step, value in enumerate([1.0, -2.0, 4.0], start=1):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update(layer)
        keep = min(0.5, (1 + step) / (10 + step))  # 2/11, 3/12, then capped at 0.5
        expected = keep * expected + (1 - keep) * value
    assert torch.allclose(average.shadow["weight"], expected)
    with average.applied(layer):
        assert torch.equal(layer.weight, average.shadow["weight"])
    assert torch.equal(layer.weight, torch.full((1, 2), 4.0))  # its own weights are back


def _rule_rates(scores, patience, lr=1e-3):
    best, best_epoch, halved_at, rates = -1.0, 0, 0, []
    for epoch, score in enumerate(scores, start=1):
        if score > best:
            best, best_epoch = score, epoch
        if should_halve_lr(epoch, best_epoch, halved_at, patience):
            lr, halved_at = lr / 2, epoch
        rates.append(lr)
    return rates


@pytest.mark.parametrize("patience", [1, 2, 3, 5])
def test_plateau_scheduler_halves_exactly_as_the_rule(patience):
    rng = random.Random(patience)
    for _ in range(200):
        # few distinct values, so that ties (not better) are common
        scores = [rng.choice([0.1, 0.2, 0.3, 0.4, 0.45]) * rng.random() ** 0.1
                  if rng.random() < 0.5 else rng.choice([0.2, 0.3]) for _ in range(30)]
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        (scheduler,) = plateau_schedulers([opt], patience)
        rates = []
        for score in scores:
            scheduler.step(score)
            rates.append(opt.param_groups[0]["lr"])
        assert rates == _rule_rates(scores, patience)  # equal to the last bit


@pytest.mark.parametrize("patience", [1, 3])
def test_plateau_resumes_from_a_rule_checkpoint_and_from_its_own_state(patience):
    rng = random.Random(7)
    for _ in range(100):
        scores = [rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in range(20)]
        expected = _rule_rates(scores, patience)
        cut = rng.randrange(1, 19)
        best, best_epoch, halved_at, lr = -1.0, 0, 0, 1e-3  # the old loop's saved counts
        for epoch, score in enumerate(scores[:cut], start=1):
            if score > best:
                best, best_epoch = score, epoch
            if should_halve_lr(epoch, best_epoch, halved_at, patience):
                lr, halved_at = lr / 2, epoch
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        (old,) = plateau_schedulers([opt], patience)
        plateau_from_rule(old, cut, best_epoch, best, halved_at)
        opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        (new,) = plateau_schedulers([opt2], patience)
        new.load_state_dict(old.state_dict())
        for score in scores[cut:]:
            old.step(score)
            new.step(score)
        assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"] == expected[-1]


def test_plateau_is_off_with_patience_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert plateau_schedulers([opt], 0) == []


def test_clip_gradients_matches_torch_and_takes_sparse_gradients():
    torch.manual_seed(0)
    nets = []
    for sparse in (True, False):  # the same weights, with a sparse and a dense embedding
        torch.manual_seed(0)
        emb, layer = torch.nn.Embedding(10, 4, sparse=sparse), torch.nn.Linear(4, 2)
        words = torch.tensor([1, 2, 2, 5])  # a repeated row: the sparse gradient has duplicates
        (layer(emb(words)) ** 2).sum().backward()
        nets.append([emb.weight, layer.weight, layer.bias])
    clip_gradients(nets[0], 0.5)
    torch.nn.utils.clip_grad_norm_(nets[1], 0.5)
    assert nets[0][0].grad.is_sparse
    torch.testing.assert_close(nets[0][0].grad.to_dense(), nets[1][0].grad)
    for p, q in zip(nets[0][1:], nets[1][1:], strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def test_clip_gradients_is_torch_itself_for_dense_gradients():
    torch.manual_seed(1)
    a, b = _Net(), _Net()
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 5)
    for net in (a, b):
        net.b(net.a(x)).sum().backward()
    clip_gradients(a.parameters(), 0.1)
    torch.nn.utils.clip_grad_norm_(b.parameters(), 0.1)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in a.parameters()]))
    assert total <= 0.1 + 1e-6


def _listops_cfg(out, **kw):
    from treenn.training import TrainConfig

    base = dict(task="listops", model="tree-lstm", out=str(out), epochs=3, x_size=8, h_size=8,
                batch_size=16, seed=2, progress=False, threads=1,
                listops={"n_train": 120, "n_dev": 40, "n_test": 40, "n_extrap": 20,
                         "max_depth": 3, "max_args": 3, "min_length": 4, "max_length": 20,
                         "extrap_max_depth": 4, "extrap_max_length": 30, "seed": 11})
    base.update(kw)
    return TrainConfig(**base)


def _records(run):
    timing = ("train_time_s", "eval_time_s")
    return [{k: v for k, v in json.loads(line).items() if k not in timing}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_classifier_with_ema_plateau_and_clipping_resumes_to_the_same_run(tmp_path,
                                                                          monkeypatch):
    import treenn.loop as loop
    from treenn.training import TrainConfig, train

    options = dict(ema=0.9, lr_patience=1, clip=1.0, lr=0.05, emb_lr=0.05, bucket=3)
    train(_listops_cfg(tmp_path / "straight", **options))

    real, calls = loop.train_epoch, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # in the middle of epoch 3
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(_listops_cfg(tmp_path / "cut", **options))
    monkeypatch.setattr(loop, "train_epoch", real)
    train(TrainConfig(task="listops", model="tree-lstm", out=str(tmp_path / "cut")),
          resume=True)

    straight = _records(tmp_path / "straight")
    assert _records(tmp_path / "cut") == straight
    assert {"dev_root_acc_raw", "dev_all_acc_raw", "lr"} <= set(straight[0])
    a = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    for key in ("state_dict", "train_state_dict"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert a["ema_steps"] == b["ema_steps"] > 0 and "plateau" in a
    config = json.loads((tmp_path / "straight" / "config.json").read_text())["train"]
    assert (config["ema"], config["lr_patience"], config["clip"], config["bucket"]) == (
        0.9, 1, 1.0, 3)


def test_every_model_kind_trains_through_the_one_loop(tmp_path, tiny_ptb, monkeypatch):
    import treenn.loop as loop
    from treenn.parsers.training import ParserTrainConfig, ParserTrainee, train_parser
    from treenn.training import ClassifierTrainee, train

    seen, real_fit = [], loop.fit

    def spy(trainee, cfg, run, state=None):
        seen.append((type(trainee).__name__, cfg.clip))
        return real_fit(trainee, cfg, run, state)

    monkeypatch.setattr("treenn.training.fit", spy)
    monkeypatch.setattr("treenn.parsers.training.fit", spy)
    for model in ("tree-lstm", "gru"):
        train(_listops_cfg(tmp_path / model, model=model, epochs=1))
    for model in ("rnn-parser", "bilstm-parser"):
        train_parser(ParserTrainConfig(model=model, out=str(tmp_path / model),
                                       data_dir=str(tiny_ptb), epochs=1, h_size=8,
                                       word_dim=8, progress=False))
    assert seen == [(ClassifierTrainee.__name__, None)] * 2 + [(ParserTrainee.__name__, 5.0)] * 2
    # the PCFG has no epochs, but writes its run with the same helpers
    results = train_parser(ParserTrainConfig(model="pcfg", out=str(tmp_path / "pcfg"),
                                             data_dir=str(tiny_ptb), progress=False))
    assert set(results) == {"dev", "test"} and (tmp_path / "pcfg" / "eval-test.json").is_file()
    with pytest.raises(Exception, match="the PCFG has no learning rate"):
        train_parser(ParserTrainConfig(model="pcfg", out=str(tmp_path / "p2"),
                                       data_dir=str(tiny_ptb), lr_patience=2))
    with pytest.raises(Exception, match="the PCFG counts rules over the whole treebank"):
        train_parser(ParserTrainConfig(model="pcfg", out=str(tmp_path / "p3"),
                                       data_dir=str(tiny_ptb), bucket=2))


def test_bucket_reaches_the_batches_the_loop_trains_on(tmp_path, monkeypatch):
    from treenn.training import ClassifierTrainee, train

    real, seen = ClassifierTrainee.collate, []

    def spy(self, index):  # the sizes of each batch's trees, in training order
        seen.append([self.data["train"].arrays[i].n_nodes for i in index])
        return real(self, index)

    monkeypatch.setattr(ClassifierTrainee, "collate", spy)

    def spread(bucket):  # mean size range within a batch of one epoch
        seen.clear()
        train(_listops_cfg(tmp_path / f"b{bucket}", epochs=1, batch_size=8, bucket=bucket))
        assert [len(b) for b in seen] == [8] * 15  # 120 trees
        return sum(max(b) - min(b) for b in seen) / len(seen), list(seen)

    (plain, _), (bucketed, batches) = spread(0), spread(5)
    assert bucketed < plain / 2  # pools of 40 trees sorted, then cut into batches of 8
    assert batches != sorted(batches, key=min)  # and the batches shuffled


def test_bucket_bench_times_the_same_items_in_both_orders(tmp_path):
    from treenn.experiments.bucket_bench import main

    out = tmp_path / "b.json"
    assert main(["--models", "lstm,tree-lstm", "--batches", "3", "--bucket", "5",
                 "--listops-train", "300", "--listops-test", "20", "--listops-extrap", "10",
                 "--listops-seed", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["models"]) == {"lstm", "tree-lstm"}
    assert result["items_timed"] == 3 * 64 < result["train_items"]  # ListOps batch: 64
    for row in result["models"].values():
        shuffled, bucketed = row["shuffled"], row["bucketed"]
        assert shuffled["epoch_seconds"] > 0 and bucketed["epoch_seconds"] > 0
        assert bucketed["mean_largest_size"] < shuffled["mean_largest_size"]

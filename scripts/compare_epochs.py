"""Two parser runs' per-epoch records side by side (dev F1, training loss, training time):
``python scripts/compare_epochs.py RUN_A RUN_B``; for runs that differ in one setting, to
compare them epoch by epoch, including runs stopped before the end. For a run trained with
``--ema`` the dev F1 columns are its averaged weights' and a ``raw`` column adds the labelled
dev F1 of the weights training reached (``dev_labelled_f1_raw``)."""

import sys

from treenn.runs import read_metrics


def main(a: str, b: str) -> None:
    rows = [[m for m in read_metrics(r) if "epoch" in m and "dev_labelled_f1" in m]
            for r in (a, b)]
    raw = [any("dev_labelled_f1_raw" in m for m in run) for run in rows]
    print(f"per-epoch records: A = {a}, B = {b}")
    print("epoch  dev L A  dev L B  dev U A  dev U B  loss A  loss B  train s A  train s B"
          + "".join(f"  raw L {x}" for x, r in zip("AB", raw, strict=True) if r))
    for x, y in zip(*rows, strict=False):
        print(f"{x['epoch']:5d}  {100 * x['dev_labelled_f1']:7.2f}  "
              f"{100 * y['dev_labelled_f1']:7.2f}  {100 * x['dev_unlabelled_f1']:7.2f}  "
              f"{100 * y['dev_unlabelled_f1']:7.2f}  {x['train_loss']:6.2f}  "
              f"{y['train_loss']:6.2f}  {x['train_time_s']:9.0f}  {y['train_time_s']:9.0f}"
              + "".join(f"  {100 * m['dev_labelled_f1_raw']:7.2f}"
                        for m, r in zip((x, y), raw, strict=True) if r))


if __name__ == "__main__":
    main(*sys.argv[1:3])

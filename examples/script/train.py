"""A plain training script that knows nothing of torchon's configs: fits y = 3x + 2 by gradient descent.

It runs on its own (`python train.py --lr 0.05`) and, when torchon runs it, reports its loss each epoch.
"""

import argparse
import random

try:  # reporting is optional: the script still runs where torchon is not installed
    from torchon import report
except ImportError:  # pragma: no cover

    def report(step=None, **metrics):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    data = [(x, 3 * x + 2 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(256))]
    w = b = 0.0
    for epoch in range(1, args.epochs + 1):
        gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
        gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
        w, b = w - args.lr * gw, b - args.lr * gb
        loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
        print(f"epoch {epoch:3d}  loss {loss:.4f}  w {w:.3f}  b {b:.3f}")
        report(step=epoch, loss=loss, w=w, b=b)


if __name__ == "__main__":
    main()

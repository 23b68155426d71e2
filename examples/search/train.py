"""A stand-in training script: its loss falls with the epochs and is lowest for lr near 0.1 and a wide model."""

import argparse

import torchon

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--width", type=int, default=16)
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    loss = abs(args.lr - 0.1) + 1.0 / (epoch * args.width)
    torchon.report(step=epoch, loss=loss)

#!/usr/bin/env python3
"""sslbench's PyTorch version of the benchmarked training step, for `make bench-pytorch`.

The same work as `sslbench bench`'s step: two views of BATCH random 32x32 images through a
ResNet-18 with the CIFAR stem (3x3 stem convolution, no max-pool) at a given width, a
projector D-D-D (Linear without bias, BatchNorm and ReLU after the first two), the Barlow
Twins loss (lambda 0.0051) on batch-standardised embeddings, backward, and an SGD step
(momentum 0.9, weight decay 1e-4). Prints one line: `images_per_second=<rate>` (an image is
its two views), after a warm-up step, as the median over --steps timed steps.
Needs only `torch` (pip install torch --index-url https://download.pytorch.org/whl/cpu).
"""
import argparse
import statistics
import time

import torch
from torch import nn


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm; a 1x1 projection on the shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet18_cifar(width):
    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for stage, stride in enumerate([1, 2, 2, 2]):
        cout = width << stage
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), cin


def projector(features, width):
    return nn.Sequential(nn.Linear(features, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, width, bias=False))


def barlow_twins_loss(z_a, z_b, off_diagonal_weight=0.0051):
    n = z_a.shape[0]
    a = (z_a - z_a.mean(0)) / z_a.std(0, unbiased=False).add(1e-5)
    b = (z_b - z_b.mean(0)) / z_b.std(0, unbiased=False).add(1e-5)
    cross_correlation = a.T @ b / n
    diagonal = torch.diagonal(cross_correlation)
    on = (diagonal - 1).pow(2).sum()
    off = cross_correlation.pow(2).sum() - diagonal.pow(2).sum()
    return on + off_diagonal_weight * off


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--projector", type=int, default=2048)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--channels-first", action="store_true", help="NCHW instead of channels-last (slower on CPUs)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone, features = resnet18_cifar(args.width)
    head = projector(features, args.projector)
    model = nn.Sequential(backbone, head)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    view_a = torch.randn(args.batch, 3, 32, 32)
    view_b = torch.randn(args.batch, 3, 32, 32)
    if not args.channels_first:
        model = model.to(memory_format=torch.channels_last)
        view_a = view_a.contiguous(memory_format=torch.channels_last)
        view_b = view_b.contiguous(memory_format=torch.channels_last)

    def step():
        loss = barlow_twins_loss(model(view_a), model(view_b))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    print(f"torch={torch.__version__} width={args.width} batch={args.batch} threads={args.threads} "
          f"layout={'channels-first' if args.channels_first else 'channels-last'} step_seconds={seconds:.4f}")
    print(f"images_per_second={args.batch / seconds:.2f}")


if __name__ == "__main__":
    main()

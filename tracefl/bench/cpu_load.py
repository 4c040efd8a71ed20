"""A stand-in for a training job, for the benchmark's "next to training" rows.

``python -m tracefl.bench.cpu_load --threads T`` trains a ResNet-18 on random 32x32 images with
``T`` torch threads until it is stopped: the CPU load a Flower training job puts on the
cores a provenance job shares with it.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracefl.bench.cpu_load", description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the load (default 2)")
    parser.add_argument("--seconds", type=float, default=600, help="stop after this long at the latest")
    args = parser.parse_args(argv)
    from tracefl.threads import configure_threads

    configure_threads(args.threads)
    import time

    import torch

    from tracefl.models.builders import build_model

    model = build_model("resnet18", 10, pretrained=False, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    print(f"load: pid {os.getpid()}, {torch.get_num_threads()} threads", flush=True)
    end = time.time() + args.seconds
    while time.time() < end:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Launches one benchmark kernel of a bundle a few times, for a profiler
(Nsight Compute) on the GPU machine to pick one launch:

  ncu --clock-control none -k regex:M3_S16384 --launch-skip 2 \
      --launch-count 1 --set full -o $OUT/m3 \
      python3 build/gpu-bundle/gpu/ncu_launch.py --pattern M3 --size 16384 --dim 128

usage: python3 ncu_launch.py --pattern M3 --size 16384 --dim 128 [--launches 4]
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "python"))
os.environ.setdefault("ATTNRT_LIBRARY", os.path.join(HERE, "libattnrt.so"))

import torch  # noqa: E402

from attn import gpu  # noqa: E402
import peers  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pattern", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--launches", type=int, default=4)
    args = parser.parse_args()
    s, d = args.size, args.dim
    module = gpu.Module(os.path.join(HERE, f"bench_S{s}_D{d}.cubin"),
                        os.path.join(HERE, f"bench_S{s}_D{d}.manifest"))
    q, k, v, extra = peers.inputs(args.pattern, s, d)
    out = torch.empty_like(q)
    for _ in range(args.launches):
        module.run(f"{args.pattern}_S{s}_D{d}", q=q, k=k, v=v, o=out, **extra)
    torch.cuda.synchronize()


main()

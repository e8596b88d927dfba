"""Launches one decode kernel of the decode bundle a few times, for a
profiler (Nsight Compute) on the GPU machine to pick one launch: the
kernel's own duration, without the host side of the benchmark's calls.

  ncu --clock-control none -k regex:gqa_contiguous --launch-skip 2 \
      --launch-count 1 --metrics gpu__time_duration.sum \
      python3 build/gpu-bundle/decode/ncu_decode.py --kernel gqa --batch 1 --size 131072

usage: python3 ncu_decode.py --kernel mha|gqa --batch B --size S [--launches 4]
(ATTNRT_SPLIT_KV forces the split count, as in decode.py.)
"""

import argparse

import common

HEADS, DIM = 16, 128  # decode.py's


def main():
    import torch
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", choices=["mha", "gqa"], required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--launches", type=int, default=4)
    args = parser.parse_args()
    module = common.load_module("decode")
    kv_heads = HEADS if args.kernel == "mha" else 2
    g = torch.Generator(device="cuda").manual_seed(args.size)
    rand = lambda *shape: torch.randn(shape, device="cuda", generator=g).to(torch.bfloat16)  # noqa: E731
    q = rand(args.batch, HEADS, 1, DIM)
    k, v = rand(args.batch, kv_heads, args.size, DIM), rand(args.batch, kv_heads, args.size, DIM)
    out = torch.empty_like(q)
    for _ in range(args.launches):
        module.run(f"{args.kernel}_contiguous", q=q, k=k, v=v, o=out)
    torch.cuda.synchronize()


main()

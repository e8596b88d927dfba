"""Compares builds of the benchmark kernels on the GPU machine: each
variant is a folder made by `bundle.py --no-catalog` (for example with a
different attn-translate option); every variant runs the same inputs, its
output is compared with the first variant's (and with SDPA where SDPA
computes the pattern), and its median time is reported.

usage: python3 variants.py --out DIR [--runs 20] [--patterns M1,M2]
           [--sizes 4096] [--dims 128] FOLDER...
(FOLDER relative to this file's parent, e.g. `v_q64k64`.)
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("ATTNRT_LIBRARY", os.path.join(HERE, "libattnrt.so"))
sys.path.insert(0, os.path.join(HERE, "python"))

import torch  # noqa: E402

from attn import gpu  # noqa: E402
import peers  # noqa: E402
from common import median_ms  # noqa: E402
from specs import batch_for  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--patterns", default="M1,M2")
    parser.add_argument("--sizes", default="4096,16384")
    parser.add_argument("--dims", default="128")
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args()
    root = os.path.dirname(HERE)
    rows = []
    for s in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            modules = [gpu.Module(os.path.join(root, f, f"bench_S{s}_D{d}.cubin"),
                                  os.path.join(root, f, f"bench_S{s}_D{d}.manifest"))
                       for f in args.folders]
            for pattern in args.patterns.split(","):
                q, k, v, extra = peers.inputs(pattern, s, d)
                flops = 4.0 * d * peers.allowed_pairs(pattern, s, extra)
                row = {"pattern": pattern, "S": s, "D": d, "B": batch_for(s)}
                ok, causal = peers.sdpa_causal(pattern)
                reference = (torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, is_causal=causal) if ok else None)
                first = None
                for folder, module in zip(args.folders, modules):
                    out = torch.empty_like(q)
                    name = f"{pattern}_S{s}_D{d}"
                    run = lambda: module.run(name, q=q, k=k, v=v, o=out, **extra)  # noqa: E731
                    ms = median_ms(run, args.runs)
                    run()
                    torch.cuda.synchronize()
                    first = out if first is None else first
                    row[folder] = {
                        "ms": ms, "tflops": flops / (ms * 1e-3) / 1e12,
                        "diff_vs_first": float((out.float() - first.float()).abs().max()),
                        "diff_vs_sdpa": (float((out.float() - reference.float()).abs().max())
                                         if reference is not None else None)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "variants.json"), "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "rows": rows}, f, indent=1)


main()

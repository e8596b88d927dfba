"""Compiles the benchmark specs into shared libraries for another machine
(the GPU machine's CPU, which has no LLVM/MLIR): one library per pattern,
size, head dim and dtype, for each CPU level, plus manifest.json.

usage: /usr/bin/python3 bench/cpu/bundle.py [--sizes 4096] [--dims 128]
           [--dtypes f32,bf16] [--cpus x86-64-v4,x86-64-v3]
           [--out build/gpu-bundle/cpu]
The folder then travels to the other machine (device tool: carry it), where
bench/cpu/torch_compare.py runs the libraries next to PyTorch.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from specs import PATTERNS, spec  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="4096")
    parser.add_argument("--dims", default="128")
    parser.add_argument("--dtypes", default="f32,bf16")
    parser.add_argument("--patterns", default=",".join(PATTERNS))
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--cpus", default="sapphirerapids,x86-64-v4,x86-64-v3",
                        help="LLVM CPUs to build for; torch_compare.py picks "
                             "the first the machine runs (AMX, AVX-512, AVX2)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "gpu-bundle", "cpu"))
    parser.add_argument("--tiles", default="auto",
                        help="query x key tile sizes, one library each; auto: "
                             "attn-translate's default for the CPU")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    translate = os.path.join(ROOT, "build", "bin", "attn-translate")
    entries = []
    manifest = os.path.join(args.out, "manifest.json")
    if os.path.exists(manifest):
        entries = json.load(open(manifest))
    for s in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            for dtype in args.dtypes.split(","):
                for pattern in args.patterns.split(","):
                    text, mask = spec(pattern, s, args.heads, d, dtype)
                    name = f"{pattern}-S{s}-D{d}-{dtype}"
                    path = os.path.join(args.out, name + ".mlir")
                    with open(path, "w") as f:
                        f.write(text)
                    for tiles in args.tiles.split(","):
                        sizes = []
                        if tiles != "auto":
                            qt, kt = tiles.split("x")
                            sizes = [f"--q-tile={qt}", f"--k-tile={kt}"]
                        libs = {}
                        for cpu in args.cpus.split(","):
                            lib = f"lib{name}-{tiles}-{cpu}.so"
                            subprocess.run([translate, "--emit=shared-lib",
                                            f"--cpu={cpu}", *sizes, path, "-o",
                                            os.path.join(args.out, lib)],
                                           check=True)
                            libs[cpu] = lib
                        entries = [e for e in entries
                                   if (e["pattern"], e["S"], e["D"], e["dtype"],
                                       e["tiles"]) != (pattern, s, d, dtype, tiles)]
                        entries.append({"pattern": pattern, "S": s, "D": d,
                                        "dtype": dtype, "heads": args.heads,
                                        "tiles": tiles, "mask": mask,
                                        "libs": libs})
                        print(name, tiles, flush=True)
    with open(manifest, "w") as f:
        json.dump(entries, f, indent=1)


main()

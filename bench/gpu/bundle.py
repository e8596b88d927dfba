"""Builds what the GPU machine (no LLVM/MLIR) needs into one folder: the
catalog kernels (python/attn/cases.py, compiled for the GPU), the benchmark
kernels (specs.py), libattnrt.so, the Python package and run.py.

usage: /usr/bin/python3 bench/gpu/bundle.py [--chip sm_90a] [--sizes 1024,4096,16384]
           [--dims 64,128] [--patterns M1,M2,...] [--out build/gpu-bundle/gpu]
           [--no-catalog] [--translate-arg=OPTION ...] [--catalog-arg=OPTION ...]
Then, with the device tool: carry build/gpu-bundle and run
    python3 build/gpu-bundle/gpu/run.py --out $OUT
"""

import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
from specs import PATTERNS, VARIANTS, spec  # noqa: E402
from attn import cases  # noqa: E402

TRANSLATE = os.path.join(ROOT, "build", "bin", "attn-translate")


def compile_module(text, stem, chip, out, extra=()):
    """Writes stem.mlir, stem.cubin and stem.manifest under `out`
    (`extra`: more attn-translate options)."""
    path = os.path.join(out, stem + ".mlir")
    with open(path, "w") as f:
        f.write(text)
    for emit, ext in (("cubin", "cubin"), ("gpu-manifest", "manifest")):
        subprocess.run([TRANSLATE, f"--emit={emit}", f"--chip={chip}", *extra, path,
                        "-o", os.path.join(out, f"{stem}.{ext}")], check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chip", default="sm_90a")
    parser.add_argument("--sizes", default="1024,4096,16384")
    parser.add_argument("--dims", default="64,128")
    parser.add_argument("--patterns", default=",".join(PATTERNS))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "gpu-bundle", "gpu"))
    parser.add_argument("--no-catalog", action="store_true",
                        help="only the benchmark kernels (run.py --no-catalog)")
    parser.add_argument("--translate-arg", action="append", default=[],
                        help="an attn-translate option for the benchmark kernels "
                             "(variants, e.g. --translate-arg=--q-tile=128)")
    parser.add_argument("--catalog-arg", action="append", default=[],
                        help="an attn-translate option for the catalog kernels "
                             "(checks of a tile the heuristic does not choose, "
                             "e.g. --catalog-arg=--k-tile=128)")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)

    # The static catalog as the CPU tests run it (small f32 cases: the row
    # form), and in variants the tensor-core body takes (several 64-key
    # tiles).
    for name, params in {} if args.no_catalog else VARIANTS.items():
        params = dict(params)
        dynamic = params.pop("dynamic", False)
        catalog = list(cases.cases(**params))
        compile_module("".join(c.function(n, dynamic) for n, c in enumerate(catalog)),
                       name, args.chip, args.out, args.catalog_arg)
    for s in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            text = "".join(spec(p, s, d)[0] for p in args.patterns.split(","))
            compile_module(text, f"bench_S{s}_D{d}", args.chip, args.out,
                           args.translate_arg)
            print(f"compiled S={s} D={d}", flush=True)

    shutil.copy(os.path.join(ROOT, "build", "lib", "libattnrt.so"), args.out)
    shutil.copytree(os.path.join(ROOT, "python", "attn"),
                    os.path.join(args.out, "python", "attn"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("run.py", "specs.py", "peers.py", "common.py", "variants.py",
                 "ncu_launch.py"):
        shutil.copy(os.path.join(HERE, name), args.out)


main()

"""CPU benchmark of attn kernels: effective GFLOP/s of attn-run next to a
NumPy/BLAS implementation that materializes the scores, and the machine's
FMA peak.

Effective GFLOP/s = 4 * B * H * D * allowed pairs per (b, h) / time, i.e.
4 * D * (allowed pairs over all b, h) / time, for every implementation.

usage: /usr/bin/python3 bench/cpu/run.py [--sizes 1024,4096] [--dims 64,128]
           [--dtypes f32,bf16] [--patterns M1,M2,M3,M4,M6,M9] [--threads 2]
           [--runs 5] [--out results.json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from attn import attrs, reference  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from specs import spec  # noqa: E402


def numpy_attention(q, k, v, allowed):
    """Materializes the scores with BLAS (float32): the baseline."""
    s = np.matmul(q, np.swapaxes(k, -1, -2)) / np.float32(np.sqrt(q.shape[-1]))
    s = np.where(allowed, s, np.float32(-np.inf))
    m = np.max(s, axis=-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    return np.matmul(p / np.maximum(p.sum(-1, keepdims=True), 1e-30), v)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1024")
    parser.add_argument("--dims", default="64,128")
    parser.add_argument("--dtypes", default="f32,bf16")
    parser.add_argument("--patterns", default="M1,M2,M3,M4,M6,M9")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="")
    parser.add_argument("--numpy-max-size", type=int, default=4096,
                        help="skip the NumPy baseline above this S (it "
                             "materializes H x S x S floats)")
    parser.add_argument("--numpy-runs", type=int, default=0,
                        help="runs of the NumPy baseline (default: --runs)")
    args = parser.parse_args()
    build = os.path.join(ROOT, "build")
    results = {"date": time.strftime("%Y-%m-%d"), "threads": args.threads,
               "cpu": open("/proc/cpuinfo").read().split("model name")[1]
               .split(":")[1].split("\n")[0].strip(), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        peak = os.path.join(tmp, "fma_peak")
        # 512-bit vectors: -march=native alone prefers 256-bit ones on
        # AVX-512 machines and would measure half the peak.
        subprocess.run(["clang-22", "-O3", "-march=native",
                        "-mprefer-vector-width=512",
                        os.path.join(ROOT, "bench", "cpu", "fma_peak.c"),
                        "-o", peak, "-lpthread"], check=True)
        results["peak"] = json.loads(subprocess.run(
            [peak, str(args.threads)], capture_output=True, text=True,
            check=True).stdout)
        print("FMA peak:", results["peak"], flush=True)
        for s in map(int, args.sizes.split(",")):
            for d in map(int, args.dims.split(",")):
                for dtype in args.dtypes.split(","):
                    for pattern in args.patterns.split(","):
                        text, mask = spec(pattern, s, args.heads, d, dtype)
                        path = os.path.join(tmp, "spec.mlir")
                        with open(path, "w") as f:
                            f.write(text)
                        run = subprocess.run(
                            [os.path.join(build, "bin", "attn-run"), path,
                             "--random", "0", "--threads", str(args.threads),
                             "--bench", str(args.runs), "--json"],
                            capture_output=True, text=True)
                        if run.returncode != 0:
                            sys.exit(run.stderr)
                        ours = json.loads(run.stdout)
                        pairs = ours["allowed_pairs"]
                        row = {"pattern": pattern, "S": s, "D": d, "dtype": dtype,
                               "allowed_pairs": pairs,
                               "attn_ms": ours["median_ms"],
                               "attn_gflops": ours["gflops"],
                               "numpy_ms": None, "numpy_gflops": None}
                        if s > args.numpy_max_size:
                            results["rows"].append(row)
                            print(json.dumps(row), flush=True)
                            continue
                        rng = np.random.default_rng(0)
                        shape = (1, args.heads, s, d)
                        q, k, v = (rng.standard_normal(shape, np.float32)
                                   for _ in range(3))
                        doc = np.sort(rng.integers(0, 4, (1, s))).astype(np.int32)
                        allowed = reference.dense_mask(
                            attrs.parse(mask) if mask else None, 1, args.heads,
                            s, s, [doc, doc] if "document" in (mask or "") else [])
                        times = []
                        for _ in range(args.numpy_runs or args.runs):
                            start = time.perf_counter()
                            numpy_attention(q, k, v, allowed)
                            times.append(time.perf_counter() - start)
                        numpy_ms = 1e3 * sorted(times)[len(times) // 2]
                        row["numpy_ms"] = numpy_ms
                        row["numpy_gflops"] = 4 * d * pairs / numpy_ms / 1e6
                        results["rows"].append(row)
                        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


main()

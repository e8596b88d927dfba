"""Compile time of every catalog spec written with the Python builders:
cold (empty cache) and cached (a new attn.compile of the same spec).

    /usr/bin/python3 bench/python/compile_time.py [--dtype f32] [--head-dim 64]

Prints one line per spec and a summary (median and max); the numbers go to
docs/benchmarks.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(root, "python"), os.path.join(root, "python", "tests")]
os.environ["ATTN_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn-compile-time-")

import attn  # noqa: E402
import test_catalog  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="f32")
    parser.add_argument("--head-dim", type=int, default=64)
    args = parser.parse_args()
    attn.compiler._load()  # loading libMLIR.so once is not a compile
    cold, cached = [], []
    specs = [(name, factory()) for name, factory, _, _ in test_catalog.CASES]
    specs += [(f"N6 {fm}", attn.LinearSpec(fm, True)) for fm in ("identity", "elu_plus_one")]
    for name, spec in specs:
        dtype = "f32" if isinstance(spec, attn.LinearSpec) else args.dtype
        start = time.perf_counter()
        attn.compile(spec, dtype=dtype, head_dim=args.head_dim)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        kernel = attn.compile(spec, dtype=dtype, head_dim=args.head_dim)
        cached.append(time.perf_counter() - start)
        assert kernel.last_compile[1], name
        print(f"{name:50s} cold {cold[-1]:6.3f} s   cached {1e3 * cached[-1]:6.1f} ms")
    print(f"{len(specs)} specs, {args.dtype} D={args.head_dim}: cold median "
          f"{statistics.median(cold):.3f} s, max {max(cold):.3f} s; cached median "
          f"{1e3 * statistics.median(cached):.1f} ms, max {1e3 * max(cached):.1f} ms")


if __name__ == "__main__":
    main()

"""Prints the GPU benchmark results (run.py's results.json) as the
markdown table of docs/benchmarks.md: effective TFLOP/s (4 B H D allowed
pairs / time) of ours and each peer, our ratio to FlexAttention and
cuDNN, and the time of FlexAttention's create_block_mask (not in its
TFLOP/s: built once per mask; our kernels summarize data masks per call).

With several RESULTS.json (runs of the same bundle), each cell is the best
of the runs (each kernel's smallest median time, ours and the peers
alike): the H100 machine sometimes slows for the length of a row, and a
lone slow cell says nothing about the kernel.

usage: /usr/bin/python3 bench/gpu/report.py RESULTS.json [MORE.json ...]
"""

import json
import sys


def load_best(paths):
    """The first results with each row's times the smallest of all runs."""
    runs = [json.load(open(p)) for p in paths]
    results = runs[0]
    for other in runs[1:]:
        rows = {(r["pattern"], r["S"], r["D"]): r for r in other["bench"]}
        for r in results["bench"]:
            o = rows.get((r["pattern"], r["S"], r["D"]), {})
            for key in list(r):
                if not key.endswith("_ms") or key == "flex_build_ms":
                    continue
                if o.get(key) is not None and (r[key] is None or o[key] < r[key]):
                    label = key[:-3]
                    r[key] = o[key]
                    r[f"{label}_tflops"] = o[f"{label}_tflops"]
    return results


def main():
    results = load_best(sys.argv[1:])
    print(f"Device: {results['device']}, torch {results['torch']}, {results['date']}"
          f"{f' (best of {len(sys.argv) - 1} runs)' if len(sys.argv) > 2 else ''}.\n")
    catalog = [r for r in results["catalog"] if r.get("ok") is not None]
    passed = sum(r["ok"] for r in catalog)
    print(f"Catalog checks: {passed} of {len(catalog)} pass (seed {results['seed']}).\n")
    print("| pattern | S | D | ours | SDPA flash | SDPA cuDNN | FlexAttention | ours / Flex | "
          "ours / cuDNN | Flex BlockMask build (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["bench"]:
        def cell(key):
            value = r.get(f"{key}_tflops")
            return f"{value:.0f}" if value is not None else "—"
        flex = r.get("flex_tflops")
        cudnn = r.get("cudnn_tflops")
        ours = r["ours_tflops"]
        to_flex = f"{ours / flex:.2f}" if flex else "—"
        to_cudnn = f"{ours / cudnn:.2f}" if cudnn else "—"
        build = f"{r['flex_build_ms']:.2f}" if "flex_build_ms" in r else "—"
        print(f"| {r['pattern']} | {r['S']} | {r['D']} | {cell('ours')} | {cell('flash')} | "
              f"{cell('cudnn')} | {cell('flex')} | {to_flex} | {to_cudnn} | {build} |")


if __name__ == "__main__":
    main()

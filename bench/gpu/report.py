"""Prints the GPU benchmark results (run.py's results.json) as the
markdown table of docs/benchmarks.md: effective TFLOP/s (4 B H D allowed
pairs / time) of ours and each peer, our ratio to FlexAttention and
cuDNN, and the time of FlexAttention's create_block_mask (not in its
TFLOP/s: built once per mask; our kernels summarize data masks per call).

usage: /usr/bin/python3 bench/gpu/report.py RESULTS.json
"""

import json
import sys


def main():
    results = json.load(open(sys.argv[1]))
    print(f"Device: {results['device']}, torch {results['torch']}, {results['date']}.\n")
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

main()

"""Prints the GPU benchmark results (run.py's results.json) as the
markdown table of docs/benchmarks.md: effective TFLOP/s (4 B H D allowed
pairs / time) of ours and each peer, and our ratio to FlexAttention and
cuDNN.

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
    print("| pattern | S | D | ours | SDPA flash | SDPA cuDNN | FlexAttention | ours / Flex | ours / cuDNN |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["bench"]:
        def cell(key):
            value = r.get(f"{key}_tflops")
            return f"{value:.0f}" if value is not None else "—"
        flex = r.get("flex_tflops")
        cudnn = r.get("cudnn_tflops")
        ours = r["ours_tflops"]
        to_flex = f"{ours / flex:.2f}" if flex else "—"
        to_cudnn = f"{ours / cudnn:.2f}" if cudnn else "—"
        print(f"| {r['pattern']} | {r['S']} | {r['D']} | {cell('ours')} | {cell('flash')} | "
              f"{cell('cudnn')} | {cell('flex')} | {to_flex} | {to_cudnn} |")

main()

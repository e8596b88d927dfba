"""Markdown tables for docs/benchmarks.md from the JSON files of run.py
(this machine) and torch_compare.py (the GPU machine's CPU).

usage: /usr/bin/python3 bench/cpu/report.py local RESULTS.json
       /usr/bin/python3 bench/cpu/report.py compare RESULTS.json [...]
"""

import json
import sys


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def local(path):
    data = json.load(open(path))
    peak = data["peak"][f"gflops_{data['threads']}_threads"]
    dense = {(r["S"], r["D"], r["dtype"]): r["attn_gflops"]
             for r in data["rows"] if r["pattern"] == "M1"}
    print(f"FMA peak ({data['threads']} threads, f32, 512-bit): {peak:.0f} GFLOP/s\n")
    print("| pattern | S | D | dtype | attn ms | attn GFLOP/s | % of f32 peak "
          "| vs dense | NumPy ms | NumPy GFLOP/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in data["rows"]:
        base = dense.get((r["S"], r["D"], r["dtype"]))
        numpy = r.get("numpy_ms")
        speedup = "-" if numpy is None else f"{numpy / r['attn_ms']:.0f}x"
        print(f"| {r['pattern']} | {r['S']} | {r['D']} | {r['dtype']} "
              f"| {fmt(r['attn_ms'], 1)} | {fmt(r['attn_gflops'])} "
              f"| {100 * r['attn_gflops'] / peak:.0f}% "
              f"| {r['attn_gflops'] / base:.2f} "
              f"| {fmt(numpy, 0)} | {fmt(r.get('numpy_gflops'), 1)} "
              f"| {speedup} |")


def compare(paths):
    print("| pattern | S | D | dtype | attn 2t | SDPA 2t | Flex 2t "
          "| attn 16t | SDPA 16t | Flex 16t | max diff vs SDPA |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        data = json.load(open(path))
        for r in data["rows"]:
            if r.get("tiles", "auto") != "auto":
                continue
            cells = []
            for n in (2, 16):
                ours = r.get(f"attn_gflops_{n}t")
                best = max(r.get(f"sdpa_gflops_{n}t") or 0,
                           r.get(f"flex_gflops_{n}t") or 0)
                mark = "**" if ours and ours >= best else ""
                cells += [f"{mark}{fmt(ours)}{mark}", fmt(r.get(f"sdpa_gflops_{n}t")),
                          fmt(r.get(f"flex_gflops_{n}t"))]
            print(f"| {r['pattern']} | {r['S']} | {r['D']} | {r['dtype']} | "
                  + " | ".join(cells) + f" | {r['max_rel_diff_vs_sdpa']:.0e} |")


if sys.argv[1] == "local":
    local(sys.argv[2])
else:
    compare(sys.argv[2:])

"""Every function of examples/ through attn-run: time of the whole run and
of each step (selection programs) on this machine, checked first.

usage: /usr/bin/python3 bench/cpu/programs.py OUT.json [--threads 1,2]
           [--runs 10]
       /usr/bin/python3 bench/cpu/programs.py --table OUT.json

Writes one JSON record per (function, threads): attn-run's --json answer
(median_ms, gflops of the attention steps, step_ms per step). --table
prints the markdown table of docs/benchmarks.md.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "build", "bin", "attn-run")


def functions(path):
    with open(path) as f:
        return re.findall(r"^func\.func @([A-Za-z0-9_]+)", f.read(), re.M)


def measure(path, func, threads, runs):
    cmd = [RUN, path, "--func", func, "--random", "0", "--threads", str(threads),
           "--check", "--bench", str(runs), "--json"]
    flag = None
    if func == "h4":  # both variants of the runtime choice
        flag = os.path.join(ROOT, "build", "h4-flag.npy")
    out = []
    for sparse in ([True, False] if flag else [None]):
        extra = []
        if sparse is not None:
            subprocess.run(["/usr/bin/python3", "-c",
                            f"import numpy as np; np.save('{flag}', np.array({sparse}))"],
                           check=True)
            extra = ["--input", f"sparse={flag}"]
        done = subprocess.run(cmd + extra, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd + extra)} failed:\n{done.stdout}{done.stderr}")
        record = json.loads(done.stdout)
        record["example"] = os.path.basename(path)
        record["variant"] = "" if sparse is None else ("sparse" if sparse else "full")
        out.append(record)
    return out


def table(path):
    records = json.load(open(path))["records"]
    print("| example | function | threads | steps | total ms | per step (ms) "
          "| attention GFLOP/s | max rel error |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for r in records:
        steps = ", ".join(f"{s['op'].replace('attn.', '')} {s['median_ms']:.2f}"
                          for s in r.get("step_ms", []))
        name = r["func"] + (f" ({r['variant']})" if r["variant"] else "")
        print(f"| {r['example']} | {name} | {r['threads']} | {r.get('steps', 1)} "
              f"| {r['median_ms']:.2f} | {steps or '—'} | {r['gflops']:.1f} "
              f"| {r['max_rel_error']:.1e} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.table:
        table(args.out)
        return
    records = []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.mlir"))):
        for func in functions(path):
            for threads in map(int, args.threads.split(",")):
                records.extend(measure(path, func, threads, args.runs))
                print(records[-1]["func"], threads, records[-1]["median_ms"],
                      file=sys.stderr)
    cpu = ""
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "")
    with open(args.out, "w") as f:
        json.dump({"cpu": cpu, "command": " ".join(sys.argv), "records": records}, f,
                  indent=1)


if __name__ == "__main__":
    main()

"""What the GPU-machine scripts share: where the project (or the bundle)
is, compiling a bundle of kernels here, and timing with CUDA events there.

A script runs twice: on the development machine (in the repository, with
attn-translate) to build `build/gpu-bundle/NAME`, and on the GPU machine
from that folder, which holds a copy of this file, libattnrt.so and the
`attn` package.
"""

import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IN_BUNDLE = os.path.exists(os.path.join(HERE, "libattnrt.so"))
ROOT = HERE if IN_BUNDLE else os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
if IN_BUNDLE:
    os.environ.setdefault("ATTNRT_LIBRARY", os.path.join(HERE, "libattnrt.so"))


def prepare_bundle(name, text, chip, script):
    """Compiles the spec functions `text` for `chip` into
    build/gpu-bundle/NAME/NAME.{mlir,cubin,manifest} with libattnrt.so, the
    attn package, this file and `script`."""
    out = os.path.join(ROOT, "build", "gpu-bundle", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    path = os.path.join(out, name + ".mlir")
    with open(path, "w") as f:
        f.write(text)
    translate = os.path.join(ROOT, "build", "bin", "attn-translate")
    for emit, ext in (("cubin", "cubin"), ("gpu-manifest", "manifest")):
        subprocess.run([translate, f"--emit={emit}", f"--chip={chip}", path, "-o",
                        os.path.join(out, f"{name}.{ext}")], check=True)
    shutil.copy(os.path.join(ROOT, "build", "lib", "libattnrt.so"), out)
    shutil.copytree(os.path.join(ROOT, "python", "attn"), os.path.join(out, "python", "attn"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for source in (os.path.abspath(__file__), os.path.abspath(script)):
        shutil.copy(source, out)


def main(prepare, run, options=None):
    """The command line of a script: `prepare` (here) or `run` (on the GPU
    machine) with --chip, --out, --runs and what `options(parser)` adds."""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["prepare", "run"])
    parser.add_argument("--chip", default="sm_90a")
    parser.add_argument("--out")
    parser.add_argument("--runs", type=int, default=20)
    if options:
        options(parser)
    args = parser.parse_args()
    sys.exit(prepare(args) if args.mode == "prepare" else run(args))


def load_module(name):
    """The bundle's compiled module (on the GPU machine)."""
    from attn import gpu
    return gpu.Module(os.path.join(HERE, name + ".cubin"), os.path.join(HERE, name + ".manifest"))


def median_ms(fn, runs, reps=1, warmup_ms=50.0, queued=True):
    """Median over `runs` samples of the time per call of `reps` calls in a
    row (CUDA events), after at least 3 warm-up calls and `warmup_ms` of
    them (after an idle moment the GPU's clocks need that long: the first
    0.1 ms kernels of a fresh problem measured up to 18 % slower).

    `queued`: the samples are issued back to back and synchronized once at
    the end, so that the GPU's queue stays full and a sample times the
    GPU's work, not the host's launch path (as in a model, and as
    triton.testing.do_bench does). Synchronizing after every sample left
    the GPU idle while the next call was prepared, and that host time (tens
    of microseconds through Python) was counted in the kernel's: 7 % of a
    1 ms kernel. Host-side work (a BlockMask build) is timed with
    `queued=False`. Back-to-back `reps` also hide the host side of one
    sample's calls: use them for kernels of about 0.1 ms."""
    import time
    import torch
    start = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - start < warmup_ms * 1e-3:
        fn()
        calls += 1
        if calls % 10 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    events = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        if not queued:
            end.synchronize()
        events.append((start, end))
    torch.cuda.synchronize()
    return statistics.median(start.elapsed_time(end) / reps for start, end in events)


def write_json(out, name, results):
    """results as OUT/NAME (when --out was given)."""
    import json
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, name), "w") as f:
            json.dump(results, f, indent=1)

"""Runs the bundled attn CPU kernels (bench/cpu/bundle.py) next to PyTorch's
CPU scaled_dot_product_attention and CPU FlexAttention, same shapes, same
thread counts; checks that the outputs agree. Runs on a machine with
PyTorch and no LLVM/MLIR (the GPU machine's CPU).

usage: python3 bench/cpu/torch_compare.py BUNDLE_DIR OUT.json
           [--threads 2,16] [--runs 3] [--no-flex]

Effective GFLOP/s = 4 * D * (allowed pairs over all b, h) / time for every
implementation. Results are written after every row, so a run cut short
keeps what it measured.
"""

import argparse
import ctypes
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F


def memref(tensor):
    """An MLIR strided memref descriptor of a contiguous tensor."""
    rank = tensor.dim()

    class Descriptor(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]

    return Descriptor(tensor.data_ptr(), tensor.data_ptr(), 0,
                      (ctypes.c_int64 * rank)(*tensor.shape),
                      (ctypes.c_int64 * rank)(*tensor.stride()))


def mask_mod(pattern, s, doc):
    """The pattern's mask as a FlexAttention mask_mod (also evaluated densely
    for SDPA); the same semantics as python/attn/reference.py."""
    g = int(round(s ** 0.5))

    def neighborhood(q, k):
        qx, qy, kx, ky = q // g, q % g, k // g, k % g
        sx = (qx - 6).clamp(0, g - 13)
        sy = (qy - 6).clamp(0, g - 13)
        return (sx <= kx) & (kx < sx + 13) & (sy <= ky) & (ky < sy + 13)

    mods = {
        "M1": None,
        "M2": lambda b, h, q, k: k <= q,
        "M3": lambda b, h, q, k: (q - 512 <= k) & (k <= q),
        "M4": lambda b, h, q, k: ((q - 512 <= k) & (k <= q)) | (k < 4),
        "M6": lambda b, h, q, k: (k <= q) & (doc[0, q] == doc[0, k]),
        "M9": lambda b, h, q, k: neighborhood(q, k),
    }
    return mods[pattern]


def median_ms(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle")
    parser.add_argument("out")
    parser.add_argument("--threads", default="2,16")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-flex", action="store_true")
    args = parser.parse_args()
    flags = open("/proc/cpuinfo").read()
    cpu = ("sapphirerapids" if " amx_bf16 " in flags else
           "x86-64-v4" if " avx512f " in flags else "x86-64-v3")
    model = flags.split("model name")[1].split(":")[1].split("\n")[0].strip()
    results = {"date": time.strftime("%Y-%m-%d"), "cpu": model,
               "cores": os.cpu_count(), "library_cpu": cpu,
               "torch": torch.__version__, "python": platform.python_version(),
               "rows": []}
    print(json.dumps({k: v for k, v in results.items() if k != "rows"}), flush=True)
    manifest = json.load(open(os.path.join(args.bundle, "manifest.json")))
    threads = [int(t) for t in args.threads.split(",")]
    pool = ThreadPoolExecutor(max(threads))
    if not args.no_flex:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    # PyTorch's timings per problem: tile variants of our kernels reuse them.
    torch_rows = {}

    def save():
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)

    for entry in manifest:
        if cpu not in entry["libs"]:
            continue
        pattern, s, d, h = entry["pattern"], entry["S"], entry["D"], entry["heads"]
        dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[entry["dtype"]]
        gen = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(1, h, s, d, generator=gen).to(dtype) for _ in range(3))
        doc = torch.sort(torch.randint(0, 4, (1, s), generator=gen,
                                       dtype=torch.int32)).values.contiguous()
        mod = mask_mod(pattern, s, doc)
        index = torch.arange(s)
        allowed = None if mod is None else mod(0, 0, index[:, None], index[None, :])
        pairs = h * (s * s if allowed is None else int(allowed.sum()))
        flops = 4.0 * d * pairs

        lib = ctypes.CDLL(os.path.join(args.bundle, entry["libs"][cpu]))
        kernel = lib._mlir_ciface_bench
        out = torch.empty(1, h, s, d, dtype=torch.float32)
        operands = [q, k, v] + ([doc] if pattern == "M6" else []) + [out]
        descriptors = [memref(x) for x in operands]
        pointers = [ctypes.byref(x) for x in descriptors]

        def ours(n):
            list(pool.map(lambda t: kernel(*pointers, ctypes.c_int64(t),
                                           ctypes.c_int64(n)), range(n)))

        def sdpa():
            with torch.no_grad():
                if pattern == "M2":
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
                return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)

        problem = (pattern, s, d, entry["dtype"])
        known = torch_rows.get(problem)
        flex = None
        block_mask = None
        if not args.no_flex and known is None:
            # A fresh compilation per problem: the mask_mods differ, and
            # dynamo's recompile limit would otherwise fall back to eager.
            torch._dynamo.reset()
            flex = torch.compile(flex_attention, dynamic=False)
            if mod is not None:
                block_mask = create_block_mask(mod, 1, 1, s, s, device="cpu")

        def flexed():
            with torch.no_grad():
                return flex(q, k, v, block_mask=block_mask)

        # Agreement: our f32 output against SDPA's (both from the same inputs).
        torch.set_num_threads(max(threads))
        ours(max(threads))
        reference = sdpa().float()
        scale = float(reference.abs().max())
        row = {"pattern": pattern, "S": s, "D": d, "dtype": entry["dtype"],
               "tiles": entry.get("tiles", "auto"), "allowed_pairs": pairs,
               "max_rel_diff_vs_sdpa": float((out - reference).abs().max()) / scale}
        if flex is not None:
            row["max_rel_diff_flex_vs_sdpa"] = float(
                (flexed().float() - reference).abs().max()) / scale
        for n in threads:
            torch.set_num_threads(n)
            timings = {"attn": median_ms(lambda: ours(n), args.runs)}
            if known is None:
                timings["sdpa"] = median_ms(sdpa, args.runs)
                if flex is not None:
                    timings["flex"] = median_ms(flexed, args.runs)
            for name, ms in timings.items():
                row[f"{name}_ms_{n}t"] = ms
                row[f"{name}_gflops_{n}t"] = flops / ms / 1e6
        if known is None:
            torch_rows[problem] = row
        else:
            for key, value in known.items():
                if key.startswith(("sdpa_", "flex_", "max_rel_diff_flex")):
                    row[key] = value
        results["rows"].append(row)
        print(json.dumps(row), flush=True)
        save()
    save()


main()

"""Runs on the GPU machine from the bundle of bundle.py: correctness of the
catalog kernels on fresh random data against the float64 NumPy reference,
then the benchmark of our kernels next to PyTorch SDPA (flash, cuDNN) and
FlexAttention. Writes results.json under --out.

usage: python3 run.py --out DIR [--seed N] [--no-bench] [--runs 20]
           [--patterns M1,M2] [--sizes 4096] [--dims 128] [--no-peers] [--reps 1]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "python"))
sys.path.insert(0, HERE)
os.environ.setdefault("ATTNRT_LIBRARY", os.path.join(HERE, "libattnrt.so"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from attn import cases, gpu  # noqa: E402
import peers  # noqa: E402
from common import median_ms  # noqa: E402
from specs import PATTERNS, TOLERANCE, VARIANTS, batch_for  # noqa: E402

TORCH_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def to_device(x, dtype=None):
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t.to("cuda", dtype=dtype) if dtype is not None else t.to("cuda")
    return x


def case_values(case):
    """Our kernel's arguments of a catalog case by role."""
    if isinstance(case, cases.LinearCase):
        values = {"q": to_device(case.q), "k": to_device(case.k), "v": to_device(case.v)}
        if case.decay is not None:
            values["decay"] = to_device(case.decay)
        return values
    dtype = TORCH_DTYPES[case.dtype]
    values = {"q": to_device(case.q, dtype), "k": to_device(case.k, dtype),
              "v": to_device(case.v, dtype)}
    counters = {}
    for group, value in case.operands():
        n = counters.get(group, 0)
        counters[group] = n + 1
        values[f"{group}{n}"] = to_device(value)
    if case.cu is not None:
        values["cu_seqlens_q"] = to_device(case.cu[0])
        values["cu_seqlens_kv"] = to_device(case.cu[1])
    for n, value in enumerate(case.captures):
        values[f"capture{n}"] = to_device(value)
    return values


def load_catalog(variant, seed):
    """The static cases of catalog `variant` on fresh data from `seed` and
    its compiled module (the bundle's spec file must be the cases')."""
    cases.reseed(seed)
    params = dict(VARIANTS[variant])
    dynamic = params.pop("dynamic", False)
    static = list(cases.cases(**params))
    text = "".join(c.function(n, dynamic) for n, c in enumerate(static))
    with open(os.path.join(HERE, f"{variant}.mlir")) as f:
        if f.read() != text:
            sys.exit(f"{variant}.mlir differs from python/attn/cases.py: rebuild the bundle")
    return static, gpu.Module(os.path.join(HERE, f"{variant}.cubin"),
                              os.path.join(HERE, f"{variant}.manifest"))


def check_catalog(variant, seed, results):
    """Runs catalog `variant` (specs.VARIANTS) on fresh data from `seed`;
    returns the number of failures."""
    static, module = load_catalog(variant, seed)
    failures = 0
    print(f"== {variant} (tolerance {TOLERANCE[variant]:g})", flush=True)
    for n, case in enumerate(static):
        values = case_values(case)
        info = module.launch_info(f"case{n}")
        if info.get("program"):
            # An explicit mask's summary, then the attention (the last step).
            info = module.launch_info(f"case{n}__step{info['steps'] - 1}")
        body = "mma " if info["per_block"] == 1 else "rows"
        outputs = module.run(f"case{n}", **values)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        torch.cuda.synchronize()
        out = outputs[0].float().cpu().numpy()
        lse = outputs[1].float().cpu().numpy() if case.lse else None
        ok, error, empty = cases.compare(case, out, lse, tolerance=TOLERANCE[variant])
        # Determinism: a second launch on the same inputs gives the same
        # bits (no atomics, a fixed reduction order per work item).
        again = module.run(f"case{n}", **values)
        again = again if isinstance(again, tuple) else (again,)
        torch.cuda.synchronize()
        deterministic = all(torch.equal(a, b) for a, b in zip(outputs, again))
        ok = ok and deterministic
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} [{body}] {case.name}: max rel error {error:.2e}"
              + (f", {empty} fully masked rows" if empty else "")
              + ("" if deterministic else ", NOT DETERMINISTIC"), flush=True)
        results["catalog"].append({"variant": variant, "case": case.name, "body": body.strip(),
                                   "ok": bool(ok), "max_rel_error": error,
                                   "fully_masked_rows": empty,
                                   "deterministic": bool(deterministic)})
    print(f"{variant}: {len(static) - failures} passed, {failures} failed", flush=True)
    return failures


def check_empty_keys(results):
    """A kernel of dynamic lengths launched without keys (Sk = 0): every
    row fully masked, O = 0 and LSE = -inf, never NaN. The D = 128 variant's
    first case takes TMA loads, whose tensor maps skip the empty K and V."""
    module = gpu.Module(os.path.join(HERE, "catalog_bf16_d128_dynamic.cubin"),
                        os.path.join(HERE, "catalog_bf16_d128_dynamic.manifest"))
    signature = module.arguments("case0")
    q_shape = [s if s >= 0 else 100 for s in signature[0][4]]
    k_shape = [s if s >= 0 else 0 for s in signature[1][4]]
    q = torch.randn(q_shape, device="cuda").to(torch.bfloat16)
    k = torch.empty(k_shape, device="cuda", dtype=torch.bfloat16)
    out = torch.full(q_shape, 7.0, device="cuda")
    lse = torch.zeros(q_shape[:-1], device="cuda")
    module.run("case0", q=q, k=k, v=k, o=out, lse=lse)
    torch.cuda.synchronize()
    ok = bool((out == 0).all()) and bool(torch.isneginf(lse).all())
    print(f"{'ok  ' if ok else 'FAIL'} no keys (Sk = 0, TMA loads "
          f"{module.launch_info('case0').get('tma', 0) > 0}): O = 0, LSE = -inf", flush=True)
    results["catalog"].append({"variant": "catalog_bf16_d128_dynamic", "case": "no keys",
                               "body": "mma", "ok": ok})
    return 0 if ok else 1


def check_unaligned_mask(seed, results):
    """The explicit-mask case of the variant whose mask rows are 16-byte
    chunks (its summary by attn.mask_tiles): the mask once at a 256-byte
    aligned address and once one byte past one, where the summary kernel
    takes its per-flag path; both outputs must be the reference's and the
    same bits."""
    variant = "catalog_bf16_d128_k208"
    static, module = load_catalog(variant, seed)
    n, case = next((n, c) for n, c in enumerate(static) if c.name == "M12 dense mask")
    values = case_values(case)
    mask = values["mask0"]
    spare = torch.empty(mask.numel() + 1, dtype=mask.dtype, device=mask.device)
    shifted = spare[1:].view(mask.shape)
    shifted.copy_(mask)
    outputs = []
    for m in (mask, shifted):
        out = module.run(f"case{n}", **dict(values, mask0=m))
        out = out if isinstance(out, tuple) else (out,)
        torch.cuda.synchronize()
        outputs.append(out)
    lse = outputs[1][1].float().cpu().numpy() if case.lse else None
    ok, error, _ = cases.compare(case, outputs[1][0].float().cpu().numpy(), lse,
                                 tolerance=TOLERANCE[variant])
    same = all(torch.equal(a, b) for a, b in zip(*outputs))
    program = bool(module.launch_info(f"case{n}").get("program"))
    ok = ok and same and program
    print(f"{'ok  ' if ok else 'FAIL'} explicit mask one byte off alignment "
          f"(summarized: {program}): max rel error {error:.2e}, "
          f"{'same' if same else 'DIFFERENT'} bits as aligned", flush=True)
    results["catalog"].append({"variant": variant, "case": "M12 dense mask, unaligned",
                               "body": "mma", "ok": bool(ok), "max_rel_error": error})
    return 0 if ok else 1


def bench(args, results):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    for s in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            module = gpu.Module(os.path.join(HERE, f"bench_S{s}_D{d}.cubin"),
                                os.path.join(HERE, f"bench_S{s}_D{d}.manifest"))
            for pattern in args.patterns.split(","):
                q, k, v, extra = peers.inputs(pattern, s, d)
                pairs = peers.allowed_pairs(pattern, s, extra)
                flops = 4.0 * d * pairs
                row = {"pattern": pattern, "S": s, "D": d, "B": batch_for(s),
                       "H": 16, "allowed_pairs": pairs}
                out = torch.empty_like(q)
                name = f"{pattern}_S{s}_D{d}"
                ours = lambda: module.run(name, q=q, k=k, v=v, o=out, **extra)  # noqa: E731
                row["ours_ms"] = median_ms(ours, args.runs, args.reps, args.warmup_ms)
                if not args.no_peers:
                    ok, causal = peers.sdpa_causal(pattern)
                    if ok:
                        for label, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                                               ("cudnn", SDPBackend.CUDNN_ATTENTION)):
                            try:
                                with sdpa_kernel(backend):
                                    fn = lambda: torch.nn.functional.scaled_dot_product_attention(  # noqa: E731
                                        q, k, v, is_causal=causal)
                                    row[f"{label}_ms"] = median_ms(fn, args.runs, args.reps, args.warmup_ms)
                            except RuntimeError as e:
                                row[f"{label}_error"] = str(e)[:200]
                    torch._dynamo.reset()
                    mod = peers.mask_mod(pattern, s, extra)
                    build = lambda: create_block_mask(mod, batch_for(s), None, s, s,  # noqa: E731
                                                      device="cuda")
                    block_mask = build() if mod else None
                    # Not in flex_ms (the BlockMask is built once per mask):
                    # our kernels summarize data masks in every call.
                    if mod:
                        row["flex_build_ms"] = median_ms(build, 5, 1, 0.0, queued=False)
                    smod = peers.score_mod(pattern, extra)
                    fn = lambda: flex(q, k, v, score_mod=smod, block_mask=block_mask)  # noqa: E731
                    reference = fn()
                    row["flex_ms"] = median_ms(fn, args.runs, args.reps, args.warmup_ms)
                    ours()
                    torch.cuda.synchronize()
                    row["max_abs_diff_vs_flex"] = float((out.float() - reference.float()).abs().max())
                for key in [k_ for k_ in row if k_.endswith("_ms") and k_ != "flex_build_ms"]:
                    row[key.replace("_ms", "_tflops")] = flops / (row[key] * 1e-3) / 1e12
                print(json.dumps(row), flush=True)
                results["bench"].append(row)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--no-catalog", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reps", type=int, default=1,
                        help="calls per timed sample (back to back: hides the host side)")
    parser.add_argument("--warmup-ms", type=float, default=50.0,
                        help="calls before timing, at least this long (clocks rise "
                             "after FlexAttention's compile left the GPU idle)")
    parser.add_argument("--patterns", default=",".join(PATTERNS))
    parser.add_argument("--sizes", default="1024,4096,16384")
    parser.add_argument("--dims", default="64,128")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
               "seed": args.seed, "date": time.strftime("%Y-%m-%d"),
               "catalog": [], "bench": []}
    failures = 0
    try:
        if not args.no_catalog:
            for variant in VARIANTS:
                failures += check_catalog(variant, args.seed, results)
            failures += check_empty_keys(results)
            failures += check_unaligned_mask(args.seed, results)
        if not args.no_bench:
            bench(args, results)
    finally:
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(1 if failures else 0)


main()

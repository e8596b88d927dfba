"""The Python front end on the GPU machine: every catalog spec of
python/tests/test_catalog.py (and paged decoding, X2) compiled with attn.compile(target=CHIP) and
called on PyTorch CUDA tensors, against the float64 reference.

The GPU machine has no LLVM/MLIR, so kernels are compiled here into a
kernel cache that travels with the package:

    /usr/bin/python3 bench/gpu/python_check.py prepare [--chip sm_90a]
        -> build/gpu-bundle/pycheck (attn package, tests, libattnrt.so,
           cache/, compiler-id)
    device: carry build/gpu-bundle/pycheck and run
        python3 build/gpu-bundle/pycheck/python_check.py run --out $OUT

On the device every attn.compile is a cache hit (the compiler id is the
one recorded here); a miss would be an error (no compiler there).
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IN_BUNDLE = os.path.exists(os.path.join(HERE, "compiler-id"))
ROOT = HERE if IN_BUNDLE else os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "python"), os.path.join(ROOT, "python", "tests")]
if IN_BUNDLE:
    os.environ["ATTN_CACHE_DIR"] = os.path.join(HERE, "cache")
    os.environ["ATTNRT_LIBRARY"] = os.path.join(HERE, "libattnrt.so")
    with open(os.path.join(HERE, "compiler-id")) as f:
        os.environ["ATTN_COMPILER_ID"] = f.read().strip()

import numpy as np  # noqa: E402

import attn  # noqa: E402
import helpers  # noqa: E402
import test_catalog  # noqa: E402

# (variant name, dtype, head_dim, value_dim, tolerance)
VARIANTS = [("f32 row form", "f32", 16, 8, 1e-4),
            ("bf16 D=64 tensor cores", "bf16", 64, 64, 2e-2),
            ("f16 D=128 tensor cores", "f16", 128, 128, 4e-3)]


def problems():
    """(name, spec, operands, shape) of every case, fixed data."""
    helpers.rng = np.random.default_rng(7)
    for name, factory, operands, shape in test_catalog.CASES:
        if name.startswith("X4"):
            continue  # its own head dims
        yield name, factory(), operands, shape
    yield "N6 linear attention", attn.LinearSpec("elu_plus_one", True), {}, {}
    # X2: decoding from a paged pool (pages of 16 and 48 keys: tiles span
    # pages), ragged lengths with an empty sequence, GQA.
    table = helpers.rng.integers(0, 40, (3, 6)).astype(np.int32)
    lens = np.array([96, 37, 0], np.int32)
    paged = {"block_table": table, "kv_lens": lens}
    yield ("X2 paged decode", attn.Spec(kv_layout="paged", lse=True), paged,
           {"paged": (40, 16), "sq": 1, "b": 3})
    bottom_right = attn.causal(align="bottom_right")
    yield ("X2 paged speculative (window, softcap, BSHD)",
           attn.Spec(bottom_right & attn.sliding_window(left=40, align="bottom_right"),
                     attn.softcap(5.0), lse=True, layout="bshd", kv_layout="paged"),
           dict(paged, kv_lens=np.array([288, 201, 0], np.int32)),
           {"paged": (40, 48), "sq": 5, "b": 3, "layout": "bshd"})


def with_value_dim(name, operands, dv):
    """The operands of a case at value dim `dv` (the CPU tests use 8): the
    element gate of G1 is [B, Sq, Hq, Dv]."""
    if name.startswith("G1"):
        gate = operands["gate"]
        operands = dict(operands, gate=helpers.rng.uniform(
            -3, 3, gate.shape[:-1] + (dv,)).astype(np.float32))
    return operands


def prepare(args):
    out = os.path.join(ROOT, "build", "gpu-bundle", "pycheck")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    os.environ["ATTN_CACHE_DIR"] = os.path.join(out, "cache")
    with open(os.path.join(out, "compiler-id"), "w") as f:
        f.write(attn.compiler.compiler_id() + "\n")
    start, count = time.perf_counter(), 0
    for name, spec, _, _ in problems():
        for _, dtype, d, dv, _ in VARIANTS:
            if isinstance(spec, attn.LinearSpec) and dtype != "f32":
                continue
            attn.compile(spec, target=args.chip, dtype=dtype, head_dim=d, value_dim=dv)
            count += 1
    print(f"compiled {count} kernels for {args.chip} in {time.perf_counter() - start:.1f} s")
    shutil.copy(os.path.join(ROOT, "build", "lib", "libattnrt.so"), out)
    for package in ("attn", "tests"):
        shutil.copytree(os.path.join(ROOT, "python", package), os.path.join(out, "python", package),
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    shutil.copy(os.path.abspath(__file__), out)
    with open(os.path.join(out, "chip"), "w") as f:
        f.write(args.chip + "\n")


def run(args):
    import torch
    with open(os.path.join(HERE, "chip")) as f:
        chip = f.read().strip()
    device = torch.device("cuda")
    results, failures = [], 0
    for name, spec, operands, shape in problems():
        for variant, dtype, d, dv, tolerance in VARIANTS:
            if isinstance(spec, attn.LinearSpec) and dtype != "f32":
                continue
            record = {"case": name, "variant": variant}
            try:
                start = time.perf_counter()
                kernel = attn.compile(spec, target=chip, dtype=dtype, head_dim=d, value_dim=dv)
                record["load_ms"] = 1e3 * (time.perf_counter() - start)
                record["cache_hit"] = kernel.last_compile[1]
                dims = {**dict(sq=100, sk=130), **shape, "d": d, "dv": dv}
                pool = dims.pop("paged", None)
                q, k, v = helpers.qkv(**dims)
                if pool:  # page pools [P, page, Hkv, D]
                    k, v = (helpers.rng.standard_normal(pool + (2, x)).astype(np.float32)
                            for x in (d, dv))
                torch_dtype = {"f32": torch.float32, "f16": torch.float16,
                               "bf16": torch.bfloat16}[dtype]
                tq, tk, tv = (torch.from_numpy(x).to(device, torch_dtype) for x in (q, k, v))
                operands = with_value_dim(name, operands, dv)
                # Runtime operands as the test data has them (NumPy, some
                # of them strided views): the kernel moves them to the GPU.
                values = dict(operands)
                result = kernel(tq, tk, tv, **values)
                torch.cuda.synchronize()
                result = result if isinstance(result, tuple) else (result,)
                rounded = [x.double().cpu().numpy() for x in (tq, tk, tv)]
                expected = spec.reference(*rounded, **operands)
                expected = expected if isinstance(expected, tuple) else (expected,)
                out = result[0].double().cpu().numpy()
                scale = max(np.abs(expected[0]).max(), 1e-6)
                error = float(np.abs(out - expected[0]).max() / scale)
                ok = error <= tolerance and not np.isnan(out).any()
                if len(result) > 1:
                    lse = result[1].double().cpu().numpy()
                    masked = np.isneginf(expected[1])
                    ok &= bool(np.array_equal(np.isneginf(lse), masked))
                    ok &= bool(np.allclose(lse[~masked], expected[1][~masked], rtol=tolerance,
                                           atol=tolerance))
                record.update(error=error, ok=bool(ok))
            except Exception as e:  # recorded, the run goes on
                record.update(ok=False, exception=f"{type(e).__name__}: {e}")
            failures += not record["ok"]
            results.append(record)
            print(json.dumps(record), flush=True)
    print(f"{len(results) - failures}/{len(results)} passed")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "python_check.json"), "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "chip": chip,
                       "results": results}, f, indent=1)
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["prepare", "run"])
    parser.add_argument("--chip", default="sm_90a")
    parser.add_argument("--out")
    args = parser.parse_args()
    sys.exit(prepare(args) if args.mode == "prepare" else run(args))


main()

"""Random differential testing of the CPU path.

Generates random valid specs — mask compositions, score modifiers,
normalizations, output gates, shapes (lengths not multiples of the tiles,
Sq != Sk, GQA ratios, head dims), element types and layouts — compiles
them with attn-cpu-pipeline and compares every output with the float64
reference. Prints the failures and a summary line.

usage: check_random_specs.py ATTN_OPT MLIR_RUNNER RUNNER_LIB_DIR PYTHON_DIR
                             [--seed N] [--specs N]
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_attention as harness  # noqa: E402
from attn import random_masks  # noqa: E402

args = sys.argv[5:]
seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
count = int(args[args.index("--specs") + 1]) if "--specs" in args else 200
rng = np.random.default_rng(seed)
py_rng = __import__("random").Random(seed)


def random_case(n):
    b = int(rng.integers(1, 3))
    hkv = int(rng.choice([1, 2]))
    hq = hkv * int(rng.choice([1, 2, 3]))
    grid = None
    if rng.random() < 0.25:
        grid = [int(x) for x in py_rng.choice([[24], [4, 6], [2, 3, 4], [5, 5]])]
        sq = sk = int(np.prod(grid))
    else:
        sq, sk = int(rng.integers(1, 50)), int(rng.integers(1, 50))
    d, dv = int(rng.choice([4, 8, 12, 16])), int(rng.choice([4, 8, 12]))
    mask = random_masks.mask(py_rng, 2, sq, sk, hq, grid)
    score, score_ops = [], []
    if rng.random() < 0.3:
        score.append("#attn.softcap<cap = ?>")
        score_ops.append(float(rng.uniform(1.0, 10.0)))
    if rng.random() < 0.3:
        score.append("#attn.alibi")
        score_ops.append(rng.uniform(0, 0.5, hq).astype(np.float32))
    if rng.random() < 0.2:
        score.insert(0, "#attn.bias")
        score_ops.insert(0, rng.uniform(-2, 2, (1, hq, 1, sk)).astype(np.float32))
    norm, norm_ops = None, []
    r = rng.random()
    if r < 0.15:
        norm, norm_ops = "#attn.sink_softmax<logit = ?>", [rng.standard_normal(hq).astype(np.float32)]
    elif r < 0.25:
        norm = "#attn.clipped_softmax<zeta = 1.1, gamma = -0.05>"
    elif r < 0.35:
        norm = "#attn.affine_softmax"
        norm_ops = [rng.uniform(0.5, 1.5, (b, hq, sq)).astype(np.float32), 0.25]
    gate, gate_ops = None, []
    if rng.random() < 0.15:
        gate = "#attn.output_gate<activation = sigmoid, granularity = head>"
        gate_ops = [rng.standard_normal((b, sq, hq)).astype(np.float32)]
    layout = ("bshd", "bshd") if rng.random() < 0.3 else ("bhsd", "bhsd")
    dtype = str(rng.choice(["f32", "f32", "f16", "bf16"]))
    return harness.Case(
        f"random spec {n}: {mask} score={score} norm={norm} gate={gate} "
        f"B={b} Hq={hq} Hkv={hkv} Sq={sq} Sk={sk} D={d} Dv={dv} {dtype} {layout[0]}",
        b=b, hq=hq, hkv=hkv, sq=sq, sk=sk, d=d, dv=dv, dtype=dtype,
        layout=layout, mask=mask,
        score="[" + ", ".join(score) + "]" if score else None,
        score_ops=score_ops, norm=norm, norm_ops=norm_ops, gate=gate,
        gate_ops=gate_ops, scale=None if rng.random() < 0.7 else 0.2)


cases = [random_case(n) for n in range(count)]
failures = 0
# Two tilings: small and odd, and the defaults.
half = len(cases) // 2
failures += harness.run(cases[:half], "q-tile=4 k-tile=7", verbose=False)
failures += harness.run(cases[half:], "q-tile=64 k-tile=64", verbose=False)
print(f"{count} random specs: {count - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)

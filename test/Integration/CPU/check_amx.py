"""Checks the AMX tile body where it differs from the f32 one: its output on
bf16 inputs matches a float64 emulation of the online softmax in which only
P is rounded to bf16 (what the AMX products consume), an order of magnitude
closer than to the exact reference — so
the 1e-3 difference from the exact reference is the rounding of P and
nothing else.

usage: check_amx.py ATTN_RUN SPEC.mlir WORKDIR (dense softmax, scale
1/sqrt(D), inputs q, k, v)."""

import os
import subprocess
import sys

import numpy as np


def bf16(x):
    """Rounds float32 to the nearest bf16 (ties to even), as float32."""
    bits = np.asarray(x, np.float32).copy().view(np.uint32)
    bits += 0x7FFF + ((bits >> 16) & 1)
    bits &= 0xFFFF0000
    return bits.view(np.float32)


attn_run, spec, work = sys.argv[1:4]
rng = np.random.default_rng(7)
shapes = {"q": (1, 2, 70, 64), "k": (1, 2, 90, 64), "v": (1, 2, 90, 32)}
args = []
for name, shape in shapes.items():
    path = os.path.join(work, name + ".npy")
    np.save(path, rng.standard_normal(shape).astype(np.float32))
    args += ["--input", f"{name}={path}"]
out = os.path.join(work, "o.npy")
KEY_TILE = 32
subprocess.run([attn_run, spec, *args, "--output", f"o={out}", "--threads", "2",
                "--q-tile", "16", "--k-tile", str(KEY_TILE)],
               check=True, stdout=subprocess.DEVNULL)
q, k, v = (bf16(np.load(os.path.join(work, n + ".npy"))).astype(np.float64)
           for n in "qkv")
s = q @ np.swapaxes(k, -1, -2) / np.sqrt(64.0)
p = np.exp(s - s.max(-1, keepdims=True))
l = p.sum(-1, keepdims=True)
exact = (p / l) @ v
# The online softmax over key tiles of KEY_TILE keys: P of each tile is rounded
# relative to the running max of that tile, l sums the unrounded values;
# the running max moves only when a tile exceeds it by more than 8.
m = np.full(s.shape[:-1] + (1,), -np.inf)
acc = np.zeros(exact.shape)
total = np.zeros_like(m)
for j0 in range(0, s.shape[-1], KEY_TILE):
    tile = s[..., j0:j0 + KEY_TILE]
    m_new = np.maximum(m, tile.max(-1, keepdims=True))
    m_new = np.where(m_new > m + 8, m_new, m)
    alpha = np.exp(m - m_new)
    p_tile = np.exp(tile - m_new)
    acc = acc * alpha + bf16(p_tile).astype(np.float64) @ v[..., j0:j0 + KEY_TILE, :]
    total = total * alpha + p_tile.sum(-1, keepdims=True)
    m = m_new
rounded = acc / total
got = np.load(out)
scale = np.abs(exact).max()
e_exact = np.abs(got - exact).max() / scale
e_rounded = np.abs(got - rounded).max() / scale
# A P value near a bf16 rounding boundary may round the other way (exp is
# computed in f32 here, in float64 there): isolated differences of about
# 1e-4, an order below the rounding of P itself.
ok = e_rounded < 2e-4 and e_exact < 1e-2
print(f"{'ok' if ok else 'FAIL'}: vs exact {e_exact:.1e}, vs P in bf16 {e_rounded:.1e}")
sys.exit(0 if ok else 1)

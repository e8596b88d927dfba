"""Random inputs and comparison with the float64 reference."""

import numpy as np

import attn

rng = np.random.default_rng(20261123)
SHAPE = dict(b=2, hq=4, hkv=2, sq=100, sk=130, d=16, dv=8)


def qkv(b=2, hq=4, hkv=2, sq=100, sk=130, d=16, dv=8, layout="bhsd", dtype=np.float32):
    def shape(h, s, dim):
        return (b, s, h, dim) if layout == "bshd" else (b, h, s, dim)
    q = rng.standard_normal(shape(hq, sq, d)).astype(dtype)
    k = rng.standard_normal(shape(hkv, sk, d)).astype(dtype)
    v = rng.standard_normal(shape(hkv, sk, dv)).astype(dtype)
    return q, k, v


def uniform(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def check(spec, q, k, v, tolerance=2e-5, kernel=None, **operands):
    """Runs `spec` on the CPU and compares with its reference: O within
    `tolerance` of the largest reference value, LSE -inf exactly where the
    reference is, no NaN. Returns the kernel's result."""
    kernel = kernel or attn.compile(spec)
    result = kernel(q, k, v, **operands)
    expected = spec.reference(q, k, v, **operands)
    if not spec.lse:
        result, expected = (result,), (expected,)
    out, ref = np.asarray(result[0], np.float64), expected[0]
    assert not np.isnan(out).any()
    scale = max(np.abs(ref).max(), 1e-6)
    assert np.abs(out - ref).max() <= tolerance * scale, np.abs(out - ref).max() / scale
    if spec.lse:
        lse, ref_lse = np.asarray(result[1], np.float64), expected[1]
        masked = np.isneginf(ref_lse)
        assert np.array_equal(np.isneginf(lse), masked)
        finite = ~masked
        assert np.allclose(lse[finite], ref_lse[finite], rtol=tolerance, atol=tolerance)
    return result

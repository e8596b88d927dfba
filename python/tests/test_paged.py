"""X2 decoding over a paged KV cache: K and V are page pools
[P, page, Hkv, D] read through a block table [B, N]; sequence b's keys are
its first kv_lens[b] tokens. Compared with the float64 reference, which
gathers each sequence's pages itself."""

import numpy as np
import pytest

import attn
from attn import bf16
from helpers import check, rng

B, HQ, HKV, P, PAGE, N = 3, 8, 2, 40, 16, 6


def _cache(sq, d=32, dv=16, layout="bhsd"):
    q = rng.standard_normal((B, sq, HQ, d) if layout == "bshd" else (B, HQ, sq, d))
    k = rng.standard_normal((P, PAGE, HKV, d))
    v = rng.standard_normal((P, PAGE, HKV, dv))
    # Pages shared between sequences and repeated within one are allowed
    # (prefix sharing); lengths from empty to the table's capacity.
    table = rng.integers(0, P, (B, N)).astype(np.int32)
    lens = np.array([N * PAGE, 37, 0], np.int32)
    return [x.astype(np.float32) for x in (q, k, v)] + [table, lens]


def test_decode_one_query_gqa():
    spec = attn.Spec(kv_layout="paged", lse=True)
    assert "layout(bhsd, paged)" in spec.to_mlir(head_dim=32, value_dim=16)
    q, k, v, table, lens = _cache(sq=1)
    o, lse = check(spec, q, k, v, block_table=table, kv_lens=lens)
    assert np.all(o[2] == 0) and np.all(np.isneginf(lse[2]))  # kv_lens 0


def test_speculative_decoding_window_softcap_bshd():
    mask = attn.causal(align="bottom_right") & attn.sliding_window(left=24, align="bottom_right")
    spec = attn.Spec(mask, attn.softcap(5.0), lse=True, layout="bshd", kv_layout="paged")
    q, k, v, table, lens = _cache(sq=5, layout="bshd")
    check(spec, q, k, v, block_table=table, kv_lens=lens)


def test_bf16_cache():
    spec = attn.Spec(attn.causal(align="bottom_right"), kv_layout="paged")
    q, k, v, table, lens = _cache(sq=4, d=64, dv=64)
    q, k, v = (bf16.to_bits(x) for x in (q, k, v))
    kernel = attn.compile(spec, dtype="bf16")
    out = kernel(q, k, v, block_table=table, kv_lens=lens)
    ref = spec.reference(q, k, v, block_table=table, kv_lens=lens)
    assert np.abs(np.asarray(out, np.float64) - ref).max() <= 1e-2 * np.abs(ref).max()


def test_bad_tables_and_lengths():
    spec = attn.Spec(kv_layout="paged")
    q, k, v, table, lens = _cache(sq=1)
    kernel = attn.compile(spec)
    bad = table.copy()
    bad[1, 2] = -1
    with pytest.raises(ValueError, match=r"block_table: pages must be in \[0, 40\)"):
        kernel(q, k, v, block_table=bad, kv_lens=lens)
    with pytest.raises(ValueError, match=r"kv_lens: lengths must be in \[0, 96\]"):
        kernel(q, k, v, block_table=table, kv_lens=lens + 90)
    with pytest.raises(ValueError, match="block_table: dimension 0"):
        kernel(q, k, v, block_table=table[:2], kv_lens=lens)
    with pytest.raises(ValueError, match="layout must be bhsd, bshd or thd, got 'paged'"):
        attn.Spec(layout="paged")

"""Every static catalog ID written with the Python builders, compiled for
the CPU, run on random data and compared with the float64 reference.

Lengths (Sq = 100, Sk = 130) are not multiples of the 64-row tiles and
differ; B = 2 and GQA (4 query heads, 2 key heads) unless a case says
otherwise.
"""

import numpy as np
import pytest

import attn
from helpers import check, qkv, rng, uniform

B, HQ, HKV, SQ, SK = 2, 4, 2, 100, 130


def _docs(s):
    return np.sort(rng.integers(0, 4, (B, s)), axis=1).astype(np.int32)


def _bsr(groups=1, k_block=32):
    """Query blocks of 32 rows: up to 3 distinct key blocks listed each
    (unlisted slots hold -1, which the kernels never read)."""
    qb, kb = -(-SQ // 32), -(-SK // k_block)
    counts = rng.integers(0, 4, (B, groups, qb)).astype(np.int32)
    indices = rng.permuted(np.broadcast_to(np.arange(kb), (B, groups, qb, kb)), axis=-1)[..., :3]
    indices = np.where(np.arange(3) < counts[..., None], indices, -1)
    return counts, indices.astype(np.int32)


def _tokens(rows, groups, n=24):
    """Up to n distinct keys per row, random counts (0 included)."""
    counts = rng.integers(0, n + 1, (B, groups, rows)).astype(np.int32)
    indices = rng.permuted(np.broadcast_to(np.arange(SK), (B, groups, rows, SK)), axis=-1)[..., :n]
    return counts, indices.astype(np.int32)


SLOPES = uniform(HQ, lo=0.0, hi=0.3)

# (id, spec factory, operands, qkv overrides)
CASES = [
    ("M1 full, Sq != Sk", lambda: attn.Spec(lse=True), {}, {}),
    ("M2 causal", lambda: attn.Spec(attn.causal(), lse=True), {}, {}),
    ("M2 causal bottom-right", lambda: attn.Spec(attn.causal(align="bottom_right"), lse=True), {}, {}),
    ("M3 runtime window", lambda: attn.Spec(attn.sliding_window(left="left", right="right"), lse=True),
     dict(left=9, right=3), {}),
    ("M4 sinks + causal window",
     lambda: attn.Spec(attn.causal() & attn.sliding_window(left=20) | attn.sink(4), lse=True), {}, {}),
    ("M5 prefix-LM per batch",
     lambda: attn.Spec(attn.prefix_lm(attn.tensor("prefix", "B", "i32")), lse=True),
     dict(prefix=np.array([5, 60], np.int32)), {}),
    ("M6 document, causal",
     lambda: attn.Spec(attn.causal() & attn.document("doc"), lse=True),
     dict(doc=_docs(SK)), dict(sq=SK)),
    ("M7 dilated window", lambda: attn.Spec(attn.dilated_window(left=30, dilation=3), lse=True), {}, {}),
    ("M8 power", lambda: attn.Spec(attn.power(block=16), lse=True), {}, dict(sq=128, sk=128)),
    ("M9 2-D neighborhood",
     lambda: attn.Spec(attn.neighborhood(grid=(8, 12), kernel=(3, 5), dilation=(1, 2)), lse=True),
     {}, dict(sq=96, sk=96)),
    ("M9 3-D neighborhood, causal time",
     lambda: attn.Spec(attn.neighborhood(grid=(3, 4, 8), kernel=(2, 3, 3),
                                         causal=(True, False, False)), lse=True), {}, dict(sq=96, sk=96)),
    ("M10 varying window",
     lambda: attn.Spec(attn.varying_window(grid=(8, 12), window=(2, 2), ratio=2), lse=True),
     {}, dict(sq=96, sk=96)),
    ("M11 key and query padding, fully masked rows",
     lambda: attn.Spec(attn.key_padding("kv_len") & attn.query_padding("q_len"), lse=True),
     dict(kv_len=np.array([120, 7], np.int32), q_len=np.array([90, 3], np.int32)), {}),
    ("M12 dense mask, broadcast heads",
     lambda: attn.Spec(attn.dense("mask", "B 1 Sq Sk"), lse=True),
     dict(mask=rng.random((B, 1, SQ, SK)) < 0.3), {}),
    ("M12 block-sparse layout (BSR), per head group",
     lambda: attn.Spec(attn.blocks("counts", "indices", q_block=32, k_block=32), lse=True),
     dict(zip(("counts", "indices"), _bsr(groups=2))), {}),
    ("M12 block-sparse layout or causal",
     lambda: attn.Spec(attn.causal() | attn.blocks("counts", "indices", q_block=32, k_block=16),
                       lse=True),
     dict(zip(("counts", "indices"), _bsr(k_block=16))), {}),
    ("D1 selected tokens, causal (the attention DSA runs)",
     lambda: attn.Spec(attn.causal(align="bottom_right") & attn.tokens("counts", "indices", groups=1),
                       lse=True), dict(zip(("counts", "indices"), _tokens(SQ, 1))), {}),
    ("D7 one selection for all queries, per head",
     lambda: attn.Spec(attn.tokens("counts", "indices", groups="Hq", rows=1), lse=True),
     dict(zip(("counts", "indices"), _tokens(1, HQ))), {}),
    ("H2 selection under or, per key-head group",
     lambda: attn.Spec(attn.sliding_window(4) | attn.tokens("counts", "indices"), lse=True),
     dict(zip(("counts", "indices"), _tokens(SQ, HKV))), {}),
    ("M13 composition with not and heads",
     lambda: attn.Spec(attn.causal() & ~attn.sliding_window(left=4) & attn.heads(1, 3), lse=True),
     {}, {}),
    ("M13 traced predicate",
     lambda: attn.Spec(attn.predicate(lambda b, h, q, k: ((k % 3) != 0) & (k <= q + h)), lse=True),
     {}, {}),
    ("H1 per-head patterns",
     lambda: attn.Spec(attn.heads(0, 2) & attn.causal() | ~attn.heads(0, 2) & attn.sliding_window(8, 8),
                       lse=True), {}, {}),
    ("S1 temperature per row", lambda: attn.Spec(score=attn.temperature("tau"), scale=0.3, lse=True),
     dict(tau=uniform(B, HQ, SQ, lo=0.5, hi=2.0)), {}),
    ("S1 temperature scalar", lambda: attn.Spec(score=attn.temperature(attn.scalar("tau")), lse=True),
     dict(tau=1.7), {}),
    ("S2 key bias", lambda: attn.Spec(score=attn.bias("bias", "1 1 1 Sk"), lse=True),
     dict(bias=uniform(1, 1, 1, SK, lo=-2, hi=2)), {}),
    ("S3 alibi + causal", lambda: attn.Spec(attn.causal(), attn.alibi(SLOPES), lse=True), {}, {}),
    ("S4 relative positions", lambda: attn.Spec(score=attn.rel_pos("table", max_distance=5), lse=True),
     dict(table=uniform(HQ, 11)), {}),
    ("S4 bucketed", lambda: attn.Spec(score=attn.rel_pos("table", max_distance=40, buckets=16), lse=True),
     dict(table=uniform(HQ, 16, lo=-2, hi=2)), {}),
    ("S5 runtime softcap", lambda: attn.Spec(score=attn.softcap("cap"), lse=True), dict(cap=1.5), {}),
    ("S6 decay", lambda: attn.Spec(score=attn.decay("gamma"), lse=True),
     dict(gamma=uniform(HQ, lo=0.5, hi=1.0)), {}),
    ("S6 manhattan decay on a grid",
     lambda: attn.Spec(score=attn.decay("gamma", "manhattan", grid=(8, 12)), lse=True),
     dict(gamma=uniform(HQ, lo=0.5, hi=1.0)), dict(sq=96, sk=96)),
    ("S7 traced score function",
     lambda: attn.Spec(attn.causal(), lambda s, b, h, q, k: s + SLOPE_T[h] * (k - q), lse=True),
     dict(slopes_t=SLOPES), {}),
    ("S3 + S5 in order", lambda: attn.Spec(score=[attn.alibi("slopes"), attn.softcap(2.0)], lse=True),
     dict(slopes=SLOPES), {}),
    ("N2 sink softmax per head", lambda: attn.Spec(norm=attn.sink_softmax(attn.tensor("sink", "Hq")), lse=True),
     dict(sink=uniform(HQ)), {}),
    ("N2 off-by-one", lambda: attn.Spec(attn.causal(), norm=attn.sink_softmax(0.0), lse=True), {}, {}),
    ("N3 clipped softmax", lambda: attn.Spec(attn.causal(), norm=attn.clipped_softmax("zeta", -0.05)),
     dict(zeta=1.1), {}),
    ("N4 affine-scaled", lambda: attn.Spec(attn.causal(), norm=attn.affine_softmax("alpha", "beta", "B Hq Sq")),
     dict(alpha=uniform(B, HQ, SQ, lo=0.5, hi=1.5), beta=uniform(B, HQ, SQ, lo=-0.5, hi=0.5)), {}),
    ("N5 sigmoid", lambda: attn.Spec(norm=attn.sigmoid(-2.0)), {}, {}),
    ("G1 element gate", lambda: attn.Spec(gate=attn.output_gate("gate"), lse=True),
     dict(gate=uniform(B, SQ, HQ, 8, lo=-3, hi=3)), {}),
    ("G2 head routing with a head gate",
     lambda: attn.Spec(attn.keep_queries("route", groups="Hq"),
                       gate=attn.output_gate("weights", "linear", "head"), lse=True),
     dict(route=rng.random((B, HQ, SQ)) < 0.5, weights=uniform(B, SQ, HQ, lo=0, hi=1)), {}),
    ("G3 key eviction", lambda: attn.Spec(attn.causal() & attn.keep_keys("keep"), lse=True),
     dict(keep=rng.random((B, HKV, SK)) < 0.7), {}),
    ("X1 MQA in BSHD", lambda: attn.Spec(attn.causal(), layout="bshd", lse=True), {},
     dict(hkv=1, layout="bshd")),
    ("X4 Dv != D", lambda: attn.Spec(attn.causal(), lse=True), {}, dict(d=96, dv=24)),
]

SLOPE_T = attn.tensor("slopes_t", "Hq")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_catalog(case):
    _, factory, operands, shape = case
    spec = factory()
    q, k, v = qkv(**{"sq": SQ, "sk": SK, **shape})
    check(spec, q, k, v, **operands)


def test_x3_varlen_packed():
    """X3: three packed sequences (one empty), causal, THD layout."""
    cu = np.array([0, 30, 30, 71], np.int32)
    spec = attn.Spec(attn.causal(), layout="thd", lse=True)
    q = rng.standard_normal((71, HQ, 16)).astype(np.float32)
    k = rng.standard_normal((71, HKV, 16)).astype(np.float32)
    v = rng.standard_normal((71, HKV, 8)).astype(np.float32)
    check(spec, q, k, v, cu_seqlens_q=cu, cu_seqlens_kv=cu)


@pytest.mark.parametrize("feature_map,causal,decay", [
    ("elu_plus_one", True, True), ("relu", True, False), ("identity", False, True)])
def test_n6_linear_attention(feature_map, causal, decay):
    spec = attn.LinearSpec(feature_map, causal, decay="decay" if decay else None)
    q, k, v = qkv(sq=45, sk=45)
    operands = dict(decay=uniform(B, HQ, 45, lo=-0.5, hi=0.0)) if decay else {}
    check(spec, 0.5 * q, 0.5 * k, v, tolerance=1e-4, **operands)


@pytest.mark.parametrize("dtype,tolerance", [("f16", 2e-3), ("bf16", 1e-2)])
def test_x5_half_precision(dtype, tolerance):
    """X5: f16 and bf16 inputs (given as float32, rounded by the kernel's
    conversion; the reference sees the rounded values)."""
    spec = attn.Spec(attn.sliding_window(left=40), lse=True)
    kernel = attn.compile(spec, dtype=dtype, head_dim=64)
    q, k, v = qkv(d=64, dv=64)
    if dtype == "f16":
        q, k, v = (x.astype(np.float16) for x in (q, k, v))
        result = check(spec, q, k, v, tolerance, kernel)
        assert result[0].dtype == np.float16
    else:
        rounded = [attn.bf16.to_bits(x) for x in (q, k, v)]
        result = check(spec, *rounded, tolerance, kernel)
        assert result[0].dtype == np.float32


def test_batch_heads_and_lengths_are_dynamic():
    """One kernel serves other batch sizes, head counts and lengths."""
    spec = attn.Spec(attn.causal(), lse=True)
    kernel = attn.compile(spec, dtype="f32", head_dim=16, value_dim=8)
    for shape in (dict(b=1, hq=2, hkv=1, sq=7, sk=7), dict(b=3, hq=6, hkv=3, sq=200, sk=65)):
        check(spec, *qkv(**shape), kernel=kernel)
    assert len(kernel._variants) == 1


def test_results_do_not_depend_on_threads():
    spec = attn.Spec(attn.causal() & attn.document("doc"), lse=True)
    kernel = attn.compile(spec)
    q, k, v = qkv(sq=SK)
    docs = _docs(SK)
    one = kernel(q, k, v, threads=1, doc=docs)
    for threads in (2, 3, 8):
        other = kernel(q, k, v, threads=threads, doc=docs)
        assert all(np.array_equal(a, b) for a, b in zip(one, other))


def test_strided_and_misaligned_inputs_are_copied():
    """Transposed views and arrays at odd addresses give the same results
    as fresh arrays (the kernel gets aligned row-major copies)."""
    spec = attn.Spec(attn.causal(), lse=True)
    q, k, v = qkv()
    kernel = attn.compile(spec)
    expected = kernel(q, k, v)
    raw = np.zeros(q.nbytes + 1, np.uint8)
    odd = np.frombuffer(raw.data, np.float32, q.size, offset=1).reshape(q.shape)
    odd[...] = q
    assert not odd.flags.aligned
    transposed = np.ascontiguousarray(np.swapaxes(k, 2, 3)).swapaxes(2, 3)
    assert not transposed.flags.c_contiguous
    got = kernel(odd, transposed, v)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))


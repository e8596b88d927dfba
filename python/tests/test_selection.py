"""Selection ops in Python specs (D1-D5, D7, G2, G4): the selection runs inside the
compiled function and feeds the attention; compared with the float64
reference of both. Integer indexer data make the scores, and so the
selected sets (ties to the smaller index), exact in f32 and float64."""

import numpy as np
import pytest

import attn
from helpers import check, qkv, rng

B, S = 2, 45


def _ints(*shape, lo=-3, hi=4):
    return rng.integers(lo, hi, shape).astype(np.float32)


@pytest.mark.parametrize("k,mask", [(8, attn.causal()),
                                    (5, attn.causal() & attn.sliding_window(left=20))])
def test_d1_indexer_topk_then_attention(k, mask):
    sel = attn.indexer_topk("qi", "ki", "w", k=k, mask=mask)
    spec = attn.Spec(mask & attn.tokens(sel), lse=True)
    assert "attn.indexer_topk" in spec.to_mlir(head_dim=16, value_dim=8)
    q, kk, v = qkv(sq=S, sk=S)
    check(spec, q, kk, v, qi=_ints(B, S, 3, 8), ki=_ints(B, S, 8), w=_ints(B, S, 3, lo=0, hi=3))


def test_g2_mixture_of_heads():
    heads = attn.head_topk("router", k=2)
    spec = attn.Spec(attn.causal() & attn.keep_queries(heads.keep, groups="Hq"),
                     gate=attn.output_gate(heads.weights, "linear", "head"), lse=True)
    q, k, v = qkv(sq=S, sk=S)
    check(spec, q, k, v, router=_ints(B, S, 4, lo=-4, hi=5))


def test_new_selection_inputs_do_not_recompile():
    sel = attn.indexer_topk("qi", "ki", "w", k=4, mask=attn.causal())
    spec = attn.Spec(attn.causal() & attn.tokens(sel))
    kernel = attn.compile(spec)
    q, k, v = qkv(sq=S, sk=S)
    for _ in range(2):
        check(spec, q, k, v, kernel=kernel, qi=_ints(B, S, 2, 8), ki=_ints(B, S, 8),
              w=_ints(B, S, 2, lo=0, hi=3))
    assert len(kernel._variants) == 1


def test_selection_errors():
    with pytest.raises(ValueError, match="k must be a positive int"):
        attn.indexer_topk(k=0)
    with pytest.raises(ValueError, match="cannot be a traced predicate"):
        attn.indexer_topk(mask=attn.predicate(lambda b, h, q, k: k <= q))
    spec = attn.Spec(attn.tokens(attn.indexer_topk(k=4)))
    with pytest.raises(NotImplementedError, match="on the CPU from Python"):
        attn.compile(spec, target="sm_90a", dtype="f32", head_dim=16)
    q, k, v = qkv(sq=S, sk=S)
    with pytest.raises(ValueError, match=r"ki: dimension 1 \(Sk\) is 9 but k has Sk = 45"):
        attn.compile(spec)(q, k, v, qi=_ints(B, S, 2, 8), ki=_ints(B, 9, 8), w=_ints(B, S, 2))


def test_d2_hierarchical_indexer():
    """D2: pooled key blocks (max) scored first, 3 blocks kept per query,
    then the token indexer only inside them; with every block kept it
    selects exactly D1's set."""
    q, k, v = qkv(sq=S, sk=S)
    values = dict(qi=_ints(B, S, 3, 8), ki=_ints(B, S, 8), w=_ints(B, S, 3, lo=0, hi=3))

    def d2(blocks_kept):
        pooled = attn.pool("ki", dim=1, block=8, kind="max")
        blocks = attn.indexer_topk("qi", pooled, "w", k=blocks_kept, mask=attn.causal(),
                                   key_block=8)
        return attn.indexer_topk("qi", "ki", "w", k=6, mask=attn.causal(), within=blocks,
                                 block_size=8)

    spec = attn.Spec(attn.causal() & attn.tokens(d2(3)), lse=True)
    check(spec, q, k, v, **values)
    every = attn.Spec(attn.causal() & attn.tokens(d2(6)), lse=True)
    d1 = attn.Spec(attn.causal() & attn.tokens(attn.indexer_topk(k=6, mask=attn.causal())),
                   lse=True)
    both = [attn.compile(s)(q, k, v, **values) for s in (every, d1)]
    assert all(np.array_equal(a, b) for a, b in zip(*both))


@pytest.mark.parametrize("pool,include_local", [("mean", True), ("max", False)])
def test_d3_block_routing(pool, include_local):
    """D3: the attention's own Q and K, pooled per block, route each query
    block to its best key blocks; attention runs over them."""
    routing = attn.block_topk(q_block=16, k_block=8, k=2, pool=pool, mask=attn.causal(),
                              include_local=include_local)
    spec = attn.Spec(attn.causal() & attn.blocks(routing), lse=True)
    assert "attn.block_topk %q, %k blocks(16, 8)" in spec.to_mlir(head_dim=16, value_dim=8)
    q = _ints(B, 4, S, 16)
    k = _ints(B, 2, S, 16)
    v = rng.standard_normal((B, 2, S, 8)).astype(np.float32)
    check(spec, q, k, v)


@pytest.mark.parametrize("k,branch", [(3, 2), (2, 3)])
def test_d4_hierarchical_pruning(k, branch):
    """D4: a tree search over the candidate key blocks keeps k of them."""
    sel = attn.hip_topk(q_block=8, k_block=4, k=k, branch=branch, mask=attn.causal())
    spec = attn.Spec(attn.causal() & attn.blocks(sel), lse=True)
    assert f"attn.hip_topk %q, %k blocks(8, 4) k = {k} branch = {branch}" in \
        spec.to_mlir(head_dim=16, value_dim=8)
    q = _ints(B, 4, S, 16)
    kk = _ints(B, 2, S, 16)
    v = rng.standard_normal((B, 2, S, 8)).astype(np.float32)
    check(spec, q, kk, v)


@pytest.mark.parametrize("gamma,min_blocks", [(0.8, 1), (0.5, 3)])
def test_d5_threshold_blocks(gamma, min_blocks):
    """D5: as many key blocks as hold gamma of the estimated mass."""
    sel = attn.threshold_blocks(q_block=16, k_block=8, gamma=gamma, min_blocks=min_blocks,
                                mask=attn.causal())
    spec = attn.Spec(attn.causal() & attn.blocks(sel), lse=True)
    assert f"gamma = {gamma} mask(#attn.causal) {{min_blocks = {min_blocks} : i64}}" in \
        spec.to_mlir(head_dim=16, value_dim=8)
    q, kk, v = qkv(sq=S, sk=S)
    check(spec, q, kk, v)


def test_d6_pyramid_levels():
    """D6: pooled-block mass estimates choose a pooling level per block
    pair; attention reads each kept block in groups of 2^level keys."""
    levels = attn.pyramid_levels(q_block=8, k_block=8, thresholds=[0.3, 0.1, 0.03],
                                 mask=attn.causal())
    spec = attn.Spec(attn.causal() & attn.pyramid(levels), lse=True)
    text = spec.to_mlir(head_dim=16, value_dim=8)
    assert "attn.pyramid_levels %q, %k blocks(8, 8) thresholds = [0.3, 0.1, 0.03]" in text
    assert "#attn.pyramid<q_block = 8, k_block = 8, max_level = 2>" in text
    q, kk, v = qkv(sq=S, sk=S)
    check(spec, q, kk, v)


def test_d6_pyramid_with_given_levels():
    """Levels given at run time (the threaded kernel): -1 drops a block,
    levels above max_level read as max_level; one row of levels may be
    shared by every query block."""
    spec = attn.Spec(attn.causal() & attn.pyramid("levels", q_block=16, k_block=16, max_level=2),
                     attn.softcap(3.0), lse=True)
    q, kk, v = qkv(sq=S, sk=S)
    check(spec, q, kk, v, levels=rng.integers(-1, 5, (B, 2, 3, 3)).astype(np.int8))
    check(spec, q, kk, v, levels=rng.integers(-1, 3, (B, 1, 1, 3)).astype(np.int8))
    with pytest.raises(ValueError, match=r"levels: expected 3 query blocks \(ceil\(Sq / 16\)\) or 1, got 2"):
        attn.compile(spec)(q, kk, v, levels=np.zeros((B, 2, 2, 3), np.int8))
    with pytest.raises(ValueError, match="levels: values do not fit in int8"):
        attn.compile(spec)(q, kk, v, levels=np.full((B, 2, 3, 3), 300))


@pytest.mark.parametrize("retrieval_heads", [2, 4])
def test_h2_h3_attention_topk_reused(retrieval_heads):
    """H3: a layer's own top-6 keys (its topk results) drive the next
    layer; H2: two retrieval heads select, four heads reuse them (head
    group h / 2). The index sets are exact on integer data."""
    layer1 = attn.Spec(attn.causal(), attn.softcap(3.0), lse=True, topk=6)
    assert "topk tensor<?x?x?xi32>, tensor<?x?x?x6xi32>" in layer1.to_mlir(head_dim=16, value_dim=8)
    q1, k1 = _ints(B, retrieval_heads, S, 16), _ints(B, 2, S, 16)
    v1 = rng.standard_normal((B, 2, S, 8)).astype(np.float32)
    o1, lse1, counts, indices = attn.compile(layer1)(q1, k1, v1)
    ref = layer1.reference(q1, k1, v1)
    assert np.abs(o1 - ref[0]).max() < 2e-5 * np.abs(ref[0]).max()
    assert np.array_equal(counts, ref[2]) and np.array_equal(indices, ref[3])
    assert counts.shape == (B, retrieval_heads, S) and indices.shape == (B, retrieval_heads, S, 6)
    layer2 = attn.Spec(attn.tokens("counts", "indices", groups="G"), lse=True)
    q2, k2, v2 = qkv(sq=S, sk=S)
    check(layer2, q2, k2, v2, counts=counts, indices=indices)


def test_block_selection_errors():
    with pytest.raises(ValueError, match="hip_topk: branch must be an int >= 2"):
        attn.hip_topk(branch=1)
    with pytest.raises(ValueError, match="hip_topk: k must be a positive int"):
        attn.hip_topk(k=1.5)
    with pytest.raises(ValueError, match=r"threshold_blocks: gamma must be in \(0, 1\]"):
        attn.threshold_blocks(gamma=1.5)
    with pytest.raises(ValueError, match="threshold_blocks: min_blocks must be a positive int"):
        attn.threshold_blocks(min_blocks=0)
    with pytest.raises(ValueError, match="pyramid_levels: thresholds must be strictly decreasing"):
        attn.pyramid_levels(thresholds=[0.01, 0.05])
    with pytest.raises(ValueError, match="pyramid_levels: 3 levels need k_block >= 4, got 2"):
        attn.pyramid_levels(k_block=2, thresholds=[0.3, 0.1, 0.01])
    with pytest.raises(TypeError, match="pyramid: q_block, k_block and max_level are required"):
        attn.pyramid("levels", q_block=16)
    with pytest.raises(ValueError, match="topk must be a positive int"):
        attn.Spec(topk=0)
    with pytest.raises(ValueError, match="topk results need the bhsd or bshd layouts"):
        attn.Spec(kv_layout="paged", topk=4)
    with pytest.raises(ValueError, match="block_topk: q_block must be a positive int"):
        attn.block_topk(q_block=0)


def test_g4_value_derived_mask():
    """G4: keys ranked by V . weight per key head, shared by all queries."""
    sel = attn.value_topk("weight", k=10, mask=attn.key_prefix(30))
    spec = attn.Spec(attn.causal() & attn.tokens(sel), lse=True)
    assert "attn.value_topk %v, %sel0_1 k = 10" in spec.to_mlir(head_dim=16, value_dim=8)
    q, k, _ = qkv(sq=S, sk=S)
    v = _ints(B, 2, S, 8)
    check(spec, q, k, v, weight=_ints(2, 8))


@pytest.mark.parametrize("threshold", [None, 0.3])
def test_d7_query_aware_selection(threshold):
    """D7: guiding queries rank the keys by attention mass; all queries of
    the attention share the kept keys (a data-dependent count with a
    threshold)."""
    sel = attn.query_topk("guide", max_tokens=20, threshold=threshold)
    spec = attn.Spec(attn.tokens(sel), lse=True)
    q, k, v = qkv(sq=S, sk=S)
    guide = rng.standard_normal((B, 4, 6, 16)).astype(np.float32)
    check(spec, q, k, v, guide=guide)

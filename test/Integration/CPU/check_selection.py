"""Selection ops compiled for the CPU against the float64 reference:
D1 (the indexer top-k and attention over the selected tokens), D2 (a
pooled block indexer, then the token indexer within the kept blocks) and
G2 (router top-k heads per token, gating a masked attention), D3 (block
routing), D4 (hierarchical pruning) and D5 (cumulative threshold) feeding
#attn.blocks, G4 (keys ranked from V) and D7 (keys
ranked by guiding queries, with a data-dependent budget), on
ragged lengths, B = 2, GQA, f32 and bf16 indexer inputs.

The index sets are compared exactly: the indexer data are small integers,
so the f32 kernel and the float64 reference compute the same scores and
the same ties (broken towards the smaller index). A case with random float
data checks instead that the kept keys are a valid top-k: no rejected
candidate scores more than a kept one (up to 1e-4 relative).

usage: check_selection.py ATTN_OPT MLIR_RUNNER RUNNER_LIB_DIR PYTHON_DIR
"""

import re
import subprocess
import sys

import numpy as np

attn_opt, runner, lib_dir, python_dir = sys.argv[1:5]
sys.path.insert(0, python_dir)
from attn import attrs, cases, reference  # noqa: E402

rng = np.random.default_rng(11)
B, HQ, HKV, S, D, T, DI = 2, 4, 2, 45, 16, 3, 8


def t(shape, dtype):
    return cases.ttype(shape, dtype)


def const(name, x, dtype):
    return f"  %{name} = arith.constant {cases.literal(x, dtype)}\n"


def integers(*shape, lo=-3, hi=4):
    return rng.integers(lo, hi, shape).astype(np.float32)


def print_call(value, type_, element):
    flat = type_[7:-1]
    text = f"  %m{value} = bufferization.to_buffer %{value} : {type_} to memref<{flat}>\n"
    if element == "i8":
        # Printed as i32 (the runner prints i8 elements as characters).
        shape = [int(x) for x in flat.split("x")[:-1]]
        wide = "x".join(map(str, shape)) + "xi32"
        at = ", ".join(f"%{value}_i{d}" for d in range(len(shape)))
        text += f"  %w{value} = memref.alloc() : memref<{wide}>\n"
        for d, n in enumerate(shape):
            text += (f"  %{value}_n{d} = arith.constant {n} : index\n"
                     f"  %{value}_z{d} = arith.constant 0 : index\n"
                     f"  %{value}_o{d} = arith.constant 1 : index\n"
                     f"  scf.for %{value}_i{d} = %{value}_z{d} to %{value}_n{d} step %{value}_o{d} {{\n")
        text += (f"  %{value}_x = memref.load %m{value}[{at}] : memref<{flat}>\n"
                 f"  %{value}_y = arith.extsi %{value}_x : i8 to i32\n"
                 f"  memref.store %{value}_y, %w{value}[{at}] : memref<{wide}>\n")
        text += "  }\n" * len(shape)
        value, flat, element = f"w{value}", wide, "i32"
        text += f"  %m{value} = memref.cast %{value} : memref<{flat}> to memref<{flat}>\n"
    fn = "printMemrefI32" if element == "i32" else "printMemrefF32"
    return text + (f"  %u{value} = memref.cast %m{value} : memref<{flat}> to memref<*x{element}>\n"
                   f"  func.call @{fn}(%u{value}) : (memref<*x{element}>) -> ()\n")


class Check:
    """A function returning selection results (and maybe O), its inputs and
    a comparison."""

    def __init__(self, name, body, inputs, outputs, compare):
        self.name, self.body, self.inputs = name, body, inputs
        self.outputs, self.compare = outputs, compare


def d1_case(name, dtype, k, mask, mask_text, floats=False):
    qi = rng.standard_normal((B, S, T, DI)).astype(np.float32) if floats else integers(B, S, T, DI)
    ki = rng.standard_normal((B, S, DI)).astype(np.float32) if floats else integers(B, S, DI)
    w = rng.uniform(0, 1, (B, S, T)).astype(np.float32) if floats else integers(B, S, T, lo=0, hi=3)
    q = rng.standard_normal((B, HQ, S, D)).astype(np.float32)
    kk = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    v = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    tq, tk = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32")
    tc, ti = t((B, 1, S), "i32"), t((B, 1, S, k), "i32")
    types = [t(qi.shape, dtype), t(ki.shape, dtype), t(w.shape, "f32")]
    body = (f"  %c, %i = attn.indexer_topk %qi, %ki, %w k = {k} mask({mask_text}) : "
            f"{', '.join(types)} -> {tc}, {ti}\n"
            f"  %o, %l = attn.attention %q, %k, %v mask(#attn.and<{mask_text}, #attn.tokens>, "
            f"%c, %i : {tc}, {ti}) : {tq}, {tk}, {tk} -> {tq}, lse {t((B, HQ, S), 'f32')}\n")
    inputs = [("qi", qi, dtype), ("ki", ki, dtype), ("w", w, "f32"),
              ("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32")]
    outputs = [("c", tc, "i32"), ("i", ti, "i32"), ("o", tq, "f32"), ("l", t((B, HQ, S), "f32"), "f32")]

    def compare(got):
        rq, rk, rw = (cases.round_to(x, dtype) for x in (qi, ki, w))
        counts, indices, scores = reference.indexer_topk(rq, rk, rw, k, mask)
        c, i = got[0].reshape(counts.shape), got[1].reshape(indices.shape)
        if floats:
            ok = np.array_equal(c, counts)
            for b in range(B):
                for row in range(S):
                    kept = i[b, 0, row, :c[b, 0, row]]
                    cand = np.flatnonzero(np.isfinite(scores[b, row]))
                    rest = np.setdiff1d(cand, kept)
                    ok &= len(set(kept.tolist())) == len(kept) and bool(np.all(np.isin(kept, cand)))
                    ok &= np.all(i[b, 0, row, c[b, 0, row]:] == -1) and np.all(np.diff(kept) > 0)
                    if len(rest) and len(kept):
                        floor = scores[b, row, kept].min()
                        ok &= scores[b, row, rest].max() <= floor + 1e-4 * (1 + abs(floor))
            return bool(ok), "valid top-k"
        ok = np.array_equal(c, counts) and np.array_equal(i, indices)
        o_ref, l_ref = reference.attention(q, kk, v, attrs.parse(f"#attn.and<{mask_text}, #attn.tokens>"),
                                           [counts, indices])
        o = got[2].reshape(o_ref.shape)
        error = float(np.abs(o - o_ref).max() / np.abs(o_ref).max())
        return bool(ok and error < 1e-4), f"indices {'equal' if ok else 'DIFFER'}, O error {error:.1e}"

    return Check(name, body, inputs, outputs, compare)


def d2_case(name, dtype, block, blocks_kept, k):
    qi, ki = integers(B, S, T, DI), integers(B, S, DI)
    w = integers(B, S, T, lo=0, hi=3)
    nb = -(-S // block)
    tp = t((B, nb, DI), dtype)
    tbc, tbi = t((B, 1, S), "i32"), t((B, 1, S, blocks_kept), "i32")
    tc, ti = t((B, 1, S), "i32"), t((B, 1, S, k), "i32")
    types = [t(qi.shape, dtype), t(ki.shape, dtype), t(w.shape, "f32")]
    body = (f"  %p = attn.pool %ki dim = 1 block = {block} kind = max : {types[1]} -> {tp}\n"
            f"  %bc, %bi = attn.indexer_topk %qi, %p, %w k = {blocks_kept} mask(#attn.causal) "
            f"{{key_block = {block} : i64}} : {types[0]}, {tp}, {types[2]} -> {tbc}, {tbi}\n"
            f"  %c, %i = attn.indexer_topk %qi, %ki, %w k = {k} within(%bc, %bi : {tbc}, {tbi}) "
            f"mask(#attn.causal) {{block_size = {block} : i64}} : {', '.join(types)} -> {tc}, {ti}\n")
    inputs = [("qi", qi, dtype), ("ki", ki, dtype), ("w", w, "f32")]
    outputs = [("bc", tbc, "i32"), ("bi", tbi, "i32"), ("c", tc, "i32"), ("i", ti, "i32")]

    def compare(got):
        rq, rk, rw = (cases.round_to(x, dtype) for x in (qi, ki, w))
        pooled = reference.pool(rk, 1, block, "max")
        causal = attrs.parse("#attn.causal")
        bc, bi, _ = reference.indexer_topk(rq, pooled, rw, blocks_kept, causal, key_block=block)
        c, i, _ = reference.indexer_topk(rq, rk, rw, k, causal, block_counts=bc,
                                         block_indices=bi, block_size=block)
        expected = [bc, bi, c, i]
        ok = all(np.array_equal(g.reshape(e.shape), e) for g, e in zip(got, expected))
        return ok, "block and token indices " + ("equal" if ok else "DIFFER")

    return Check(name, body, inputs, outputs, compare)


def d2_covers_d1(block):
    """With every block kept, D2 selects exactly D1's set."""
    nb = -(-S // block)
    check = d2_case("D2 keeping every block selects D1's set", "f32", block, nb, 7)
    inner = check.compare

    def compare(got):
        ok, what = inner(got)
        qi, ki, w = (x for _, x, _ in check.inputs)
        c, i, _ = reference.indexer_topk(qi, ki, w, 7, attrs.parse("#attn.causal"))
        same = np.array_equal(got[2].reshape(c.shape), c) and np.array_equal(got[3].reshape(i.shape), i)
        return ok and same, what + (", = D1" if same else ", differs from D1")

    check.compare = compare
    return check


def g2_case(name, k):
    """Mixture of heads: router top-k per token, unselected heads masked
    out (keep<query>), kept heads weighted by the router softmax."""
    logits = integers(B, S, HQ, lo=-4, hi=5)
    q = rng.standard_normal((B, HQ, S, D)).astype(np.float32)
    kk = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    v = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    tq, tk = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32")
    tkeep, tw = t((B, HQ, S), "i1"), t((B, S, HQ), "f32")
    body = (f"  %keep, %wt = attn.head_topk %logits k = {k} : {t(logits.shape, 'f32')} -> {tkeep}, {tw}\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.keep<query>>, %keep : {tkeep}) "
            f"gate(#attn.output_gate<activation = linear, granularity = head>, %wt : {tw}) "
            f": {tq}, {tk}, {tk} -> {tq}\n")
    inputs = [("logits", logits, "f32"), ("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32")]
    outputs = [("wt", tw, "f32"), ("o", tq, "f32")]

    def compare(got):
        keep, weights = reference.head_topk(logits, k)
        w_error = float(np.abs(got[0].reshape(weights.shape) - weights).max())
        o_ref, _ = reference.attention(
            q, kk, v, attrs.parse("#attn.and<#attn.causal, #attn.keep<query>>"), [keep],
            gate=attrs.parse("#attn.output_gate<activation = linear, granularity = head>"),
            gate_operands=[weights])
        o = got[1].reshape(o_ref.shape)
        error = float(np.abs(o - o_ref).max() / np.abs(o_ref).max())
        return w_error < 1e-6 and error < 1e-4, f"weights error {w_error:.1e}, O error {error:.1e}"

    return Check(name, body, inputs, outputs, compare)


def block_case(name, q_block, k_block, width, selection, select, floats=False,
               mask="#attn.causal"):
    """A block selection (`selection`: the op's text after its operands,
    `select(q, k, mask)`: its reference, `mask` the selection's) feeding
    attention over the chosen blocks (#attn.blocks)."""
    data = (lambda *shape: rng.standard_normal(shape).astype(np.float32)) if floats else integers
    q = data(B, HQ, S, D)
    kk = data(B, HKV, S, D)
    v = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    qb = -(-S // q_block)
    tq, tk = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32")
    tc, ti = t((B, HQ, qb), "i32"), t((B, HQ, qb, width), "i32")
    op = selection.split()[0]
    body = (f"  %c, %i = {op} %q, %k blocks({q_block}, {k_block}) "
            f"{selection.split(' ', 1)[1]} : {tq}, {tk} -> {tc}, {ti}\n"
            f"  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, "
            f"#attn.blocks<q_block = {q_block}, k_block = {k_block}>>, %c, %i : {tc}, {ti}) "
            f": {tq}, {tk}, {tk} -> {tq}, lse {t((B, HQ, S), 'f32')}\n")
    inputs = [("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32")]
    outputs = [("c", tc, "i32"), ("i", ti, "i32"), ("o", tq, "f32"), ("l", t((B, HQ, S), "f32"), "f32")]

    def compare(got):
        counts, indices = select(q, kk, attrs.parse(mask))
        ok = np.array_equal(got[0].reshape(counts.shape), counts) and \
            np.array_equal(got[1].reshape(indices.shape), indices)
        o_ref, _ = reference.attention(
            q, kk, v, attrs.parse(f"#attn.and<#attn.causal, #attn.blocks<q_block = {q_block}, "
                                  f"k_block = {k_block}>>"), [counts, indices])
        error = float(np.abs(got[2].reshape(o_ref.shape) - o_ref).max() / np.abs(o_ref).max())
        return bool(ok and error < 1e-4), (f"blocks {'equal' if ok else 'DIFFER'} (mean count "
                                           f"{counts.mean():.2f}), O error {error:.1e}")

    return Check(name, body, inputs, outputs, compare)


def d3_case(name, q_block, k_block, topk, pool, include_local, mask="#attn.causal"):
    """Block routing: pooled query blocks choose key blocks."""
    local = " {include_local}" if include_local else ""
    return block_case(
        name, q_block, k_block, topk,
        f"attn.block_topk k = {topk} pool = {pool} mask({mask}){local}",
        lambda q, k, mask: reference.block_topk(q, k, q_block, k_block, topk, pool, mask, (),
                                                include_local), mask=mask)


def d4_case(name, q_block, k_block, topk, branch):
    """Hierarchical pruning: a tree search over the candidate key blocks."""
    return block_case(
        name, q_block, k_block, topk,
        f"attn.hip_topk k = {topk} branch = {branch} mask(#attn.causal)",
        lambda q, k, mask: reference.hip_topk(q, k, q_block, k_block, topk, branch, mask))


def d5_case(name, q_block, k_block, gamma, min_blocks):
    """Cumulative-threshold selection: a data-dependent number of blocks."""
    return block_case(
        name, q_block, k_block, -(-S // k_block),
        f"attn.threshold_blocks gamma = {gamma} mask(#attn.causal) {{min_blocks = {min_blocks}}}",
        lambda q, k, mask: reference.threshold_blocks(q, k, q_block, k_block, gamma, min_blocks,
                                                      mask),
        floats=True)


def d6_case(name, q_block, k_block, thresholds, score=""):
    """Pyramid pooled KV: a level per block pair from the pooled blocks'
    estimated mass; attention reads each kept key block in groups of 2^level
    keys at their mean score (optionally with a score modifier)."""
    q = rng.standard_normal((B, HQ, S, D)).astype(np.float32)
    kk = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    v = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    qb, kb = -(-S // q_block), -(-S // k_block)
    tq, tk, tl = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32"), t((B, HQ, qb, kb), "i8")
    pyramid = (f"#attn.pyramid<q_block = {q_block}, k_block = {k_block}, "
               f"max_level = {len(thresholds) - 1}>")
    levels_text = ", ".join(map(str, thresholds))
    body = (f"  %p = attn.pyramid_levels %q, %k blocks({q_block}, {k_block}) "
            f"thresholds = [{levels_text}] mask(#attn.causal) : {tq}, {tk} -> {tl}\n"
            f"  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, {pyramid}>, "
            f"%p : {tl}){score} : {tq}, {tk}, {tk} -> {tq}, lse {t((B, HQ, S), 'f32')}\n")
    inputs = [("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32")]
    outputs = [("p", tl, "i8"), ("o", tq, "f32"), ("l", t((B, HQ, S), "f32"), "f32")]

    def compare(got):
        levels = reference.pyramid_levels(q, kk, q_block, k_block, thresholds,
                                          attrs.parse("#attn.causal"))
        ok = np.array_equal(got[0].reshape(levels.shape), levels)
        mods = [attrs.parse(score.split("[", 1)[1].rsplit("]", 1)[0])] if score else ()
        o_ref, lse_ref = reference.attention(
            q, kk, v, attrs.parse(f"#attn.and<#attn.causal, {pyramid}>"), [levels], score=mods)
        error = float(np.abs(got[1].reshape(o_ref.shape) - o_ref).max() / np.abs(o_ref).max())
        lse_error = float(np.abs(got[2].reshape(lse_ref.shape) - lse_ref).max())
        used = np.bincount(levels.ravel() + 1, minlength=len(thresholds) + 1).tolist()
        return bool(ok and error < 1e-4 and lse_error < 1e-4), (
            f"levels {'equal' if ok else 'DIFFER'} (-1, 0, 1, ...: {used}), O error "
            f"{error:.1e}, LSE error {lse_error:.1e}")

    return Check(name, body, inputs, outputs, compare)


def h_case(name, n, retrieval_heads, score=""):
    """H2/H3: an attention's own top-n keys (topk results) drive another
    attention through #attn.tokens. With `retrieval_heads` < HQ the
    selecting attention has only those heads and every head group of the
    second one reuses its head's keys (H2); else all heads select for the
    next layer (H3)."""
    hr = retrieval_heads
    q1 = integers(B, hr, S, D)
    k1 = integers(B, HKV, S, D)
    v1 = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    q2 = rng.standard_normal((B, HQ, S, D)).astype(np.float32)
    k2 = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    v2 = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    tq1, tq2, tk = t((B, hr, S, D), "f32"), t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32")
    tc, ti = t((B, hr, S), "i32"), t((B, hr, S, n), "i32")
    body = (f"  %o1, %c, %i = attn.attention %q1, %k1, %v1 mask(#attn.causal){score} "
            f": {tq1}, {tk}, {tk} -> {tq1}, topk {tc}, {ti}\n"
            f"  %o2 = attn.attention %q2, %k2, %v2 mask(#attn.tokens, %c, %i : {tc}, {ti}) "
            f": {tq2}, {tk}, {tk} -> {tq2}\n")
    inputs = [("q1", q1, "f32"), ("k1", k1, "f32"), ("v1", v1, "f32"),
              ("q2", q2, "f32"), ("k2", k2, "f32"), ("v2", v2, "f32")]
    outputs = [("c", tc, "i32"), ("i", ti, "i32"), ("o1", tq1, "f32"), ("o2", tq2, "f32")]
    mods = [attrs.parse(score.split("[", 1)[1].rsplit("]", 1)[0])] if score else ()

    def compare(got):
        counts, indices = reference.attention_topk(q1, k1, n, attrs.parse("#attn.causal"),
                                                   score=mods)
        ok = np.array_equal(got[0].reshape(counts.shape), counts) and \
            np.array_equal(got[1].reshape(indices.shape), indices)
        o1, _ = reference.attention(q1, k1, v1, attrs.parse("#attn.causal"), score=mods)
        o2, _ = reference.attention(q2, k2, v2, attrs.parse("#attn.tokens"), [counts, indices])
        error = max(float(np.abs(got[2 + m].reshape(ref.shape) - ref).max() / np.abs(ref).max())
                    for m, ref in enumerate((o1, o2)))
        return bool(ok and error < 1e-4), (f"top-{n} {'equal' if ok else 'DIFFER'}, "
                                           f"O errors {error:.1e}")

    return Check(name, body, inputs, outputs, compare)


def h4_case(name, sparse):
    """H4: a runtime choice between a sparse variant (D3 block routing) and
    the full causal attention, as ordinary control flow."""
    q = integers(B, HQ, S, D)
    kk = integers(B, HKV, S, D)
    v = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    tq, tk = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32")
    qb = -(-S // 8)
    tc, ti = t((B, HQ, qb), "i32"), t((B, HQ, qb, 2), "i32")
    blocks = "#attn.blocks<q_block = 8, k_block = 8>"
    body = (f"  %sparse = arith.constant {'true' if sparse else 'false'}\n"
            f"  %o = scf.if %sparse -> {tq} {{\n"
            f"    %c, %i = attn.block_topk %q, %k blocks(8, 8) k = 2 pool = mean "
            f"mask(#attn.causal) {{include_local}} : {tq}, {tk} -> {tc}, {ti}\n"
            f"    %s = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, {blocks}>, %c, %i "
            f": {tc}, {ti}) : {tq}, {tk}, {tk} -> {tq}\n"
            f"    scf.yield %s : {tq}\n"
            f"  }} else {{\n"
            f"    %f = attn.attention %q, %k, %v mask(#attn.causal) : {tq}, {tk}, {tk} -> {tq}\n"
            f"    scf.yield %f : {tq}\n  }}\n")
    inputs = [("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32")]
    outputs = [("o", tq, "f32")]

    def compare(got):
        causal = attrs.parse("#attn.causal")
        if sparse:
            lists = reference.block_topk(q, kk, 8, 8, 2, "mean", causal, (), True)
            ref, _ = reference.attention(
                q, kk, v, attrs.parse(f"#attn.and<#attn.causal, {blocks}>"), list(lists))
        else:
            ref, _ = reference.attention(q, kk, v, causal)
        error = float(np.abs(got[0].reshape(ref.shape) - ref).max() / np.abs(ref).max())
        return error < 1e-4, f"{'sparse' if sparse else 'full'} branch, O error {error:.1e}"

    return Check(name, body, inputs, outputs, compare)


def g4_case(name, k, mask_text):
    """Value-derived dynamic mask: keys ranked by V . weight per key head,
    the top k shared by all queries (size-1 row dimension)."""
    q = rng.standard_normal((B, HQ, S, D)).astype(np.float32)
    kk = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    v = integers(B, HKV, S, D)
    weight = integers(HKV, D)
    tq, tk = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32")
    tc, ti, ts = t((B, HKV, 1), "i32"), t((B, HKV, 1, k), "i32"), t((B, HKV, S), "f32")
    body = (f"  %c, %i, %s = attn.value_topk %v, %wt k = {k} mask({mask_text}) : "
            f"{tk}, {t(weight.shape, 'f32')} -> {tc}, {ti}, {ts}\n"
            f"  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, "
            f"%c, %i : {tc}, {ti}) : {tq}, {tk}, {tk} -> {tq}, lse {t((B, HQ, S), 'f32')}\n")
    inputs = [("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32"), ("wt", weight, "f32")]
    outputs = [("c", tc, "i32"), ("i", ti, "i32"), ("s", ts, "f32"), ("o", tq, "f32")]

    def compare(got):
        counts, indices, scores = reference.value_topk(v, weight, k, attrs.parse(mask_text))
        ok = np.array_equal(got[0].reshape(counts.shape), counts) and \
            np.array_equal(got[1].reshape(indices.shape), indices) and \
            np.array_equal(got[2].reshape(scores.shape), scores)
        o_ref, _ = reference.attention(q, kk, v, attrs.parse("#attn.and<#attn.causal, #attn.tokens>"),
                                       [counts, indices])
        error = float(np.abs(got[3].reshape(o_ref.shape) - o_ref).max() / np.abs(o_ref).max())
        return bool(ok and error < 1e-4), f"selection {'equal' if ok else 'DIFFERS'}, O error {error:.1e}"

    return Check(name, body, inputs, outputs, compare)


def d7_case(name, max_tokens, threshold):
    """Query-aware token selection: 6 guiding queries rank the keys by the
    attention mass they give them; all queries of the attention share the
    kept keys."""
    guide = rng.standard_normal((B, HQ, 6, D)).astype(np.float32)
    q = rng.standard_normal((B, HQ, S, D)).astype(np.float32)
    kk = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    v = rng.standard_normal((B, HKV, S, D)).astype(np.float32)
    tq, tk, tg = t((B, HQ, S, D), "f32"), t((B, HKV, S, D), "f32"), t(guide.shape, "f32")
    tc, ti = t((B, 1, 1), "i32"), t((B, 1, 1, max_tokens), "i32")
    attr = f" {{threshold = {threshold}}}" if threshold else ""
    body = (f"  %c, %i = attn.query_topk %g, %k max_tokens = {max_tokens}{attr} : {tg}, {tk} -> {tc}, {ti}\n"
            f"  %o, %l = attn.attention %q, %k, %v mask(#attn.tokens, %c, %i : {tc}, {ti}) "
            f": {tq}, {tk}, {tk} -> {tq}, lse {t((B, HQ, S), 'f32')}\n")
    inputs = [("g", guide, "f32"), ("q", q, "f32"), ("k", kk, "f32"), ("v", v, "f32")]
    outputs = [("c", tc, "i32"), ("i", ti, "i32"), ("o", tq, "f32")]

    def compare(got):
        counts, indices = reference.query_topk(guide, kk, max_tokens, threshold)
        ok = np.array_equal(got[0].reshape(counts.shape), counts) and \
            np.array_equal(got[1].reshape(indices.shape), indices)
        o_ref, _ = reference.attention(q, kk, v, attrs.parse("#attn.tokens"), [counts, indices])
        error = float(np.abs(got[2].reshape(o_ref.shape) - o_ref).max() / np.abs(o_ref).max())
        return bool(ok and error < 1e-4), (f"kept {counts.ravel().tolist()}, selection "
                                           f"{'equal' if ok else 'DIFFERS'}, O error {error:.1e}")

    return Check(name, body, inputs, outputs, compare)


checks = [
    d1_case("D1 indexer top-8, causal, attention over the selection", "f32", 8,
            attrs.parse("#attn.causal"), "#attn.causal"),
    d1_case("D1 bf16 indexer, top-5 of a causal window", "bf16", 5,
            attrs.parse("#attn.and<#attn.causal, #attn.window<left = 20>>"),
            "#attn.and<#attn.causal, #attn.window<left = 20>>"),
    d1_case("D1 float data: a valid top-12", "f32", 12, attrs.parse("#attn.causal"),
            "#attn.causal", floats=True),
    d2_case("D2 pooled blocks of 8, 3 kept, top-6 tokens within", "f32", 8, 3, 6),
    d2_case("D2 bf16, blocks of 16, 2 kept, top-4", "bf16", 16, 2, 4),
    d2_covers_d1(8),
    g2_case("G2 mixture of heads: top-2 of 4 heads per token, router weights", 2),
    d3_case("D3 block routing: mean-pooled 8-blocks, top-2 plus the local block", 8, 8, 2,
            "mean", True),
    d3_case("D3 max-pooled query blocks of 16 over key blocks of 4, top-3", 16, 4, 3,
            "max", False),
    d3_case("D3 under a sliding window (candidates start late; partial blocks on both "
            "edges), top-2 plus the local block", 8, 4, 2, "mean", True,
            mask="#attn.and<#attn.causal, #attn.window<left = 9, right = 0>>"),
    d4_case("D4 hierarchical pruning: binary search to 3 of the 4-key blocks", 8, 4, 3, 2),
    d4_case("D4 ternary search to 2 of the 8-key blocks, 16-query blocks", 16, 8, 2, 3),
    d5_case("D5 threshold: blocks holding 80% of the estimated mass", 8, 4, 0.8, 1),
    d5_case("D5 threshold 50%, at least 3 blocks", 16, 8, 0.5, 3),
    d6_case("D6 pyramid: levels 0-2 from thresholds 0.3, 0.1, 0.03", 8, 8, [0.3, 0.1, 0.03]),
    d6_case("D6 pyramid with a softcap, 16-key blocks, levels 0-3", 16, 16,
            [0.5, 0.2, 0.08, 0.02], score=" score([#attn.softcap<cap = 2.0>])"),
    h_case("H2 two retrieval heads select 6 keys, four heads reuse them", 6, 2),
    h_case("H3 layer 1's top-5 keys (softcapped scores) drive layer 2", 5, HQ,
           score=" score([#attn.softcap<cap = 3.0>])"),
    h4_case("H4 routed variant: the sparse branch", True),
    h4_case("H4 routed variant: the full branch", False),
    g4_case("G4 value-derived mask: top-10 keys per key head, causal", 10, "#attn.causal"),
    g4_case("G4 with a key prefix: only the first 30 keys are candidates", 10,
            "#attn.key_prefix<len = 30>"),
    d7_case("D7 query-aware selection: the 12 keys of largest mass", 12, None),
    d7_case("D7 with a budget: as many as hold 30% of the mass (at most 20)", 20, 0.3),
]

module = ""
for n, check in enumerate(checks):
    args = ", ".join(f"%{name}: {t(x.shape, dtype)}" for name, x, dtype in check.inputs)
    results = ", ".join(ty for _, ty, _ in check.outputs)
    names = ", ".join(f"%{name}" for name, _, _ in check.outputs)
    module += (f"func.func @check{n}({args}) -> ({results}) {{\n{check.body}"
               f"  return {names} : {results}\n}}\n")
module += ("func.func private @printMemrefF32(memref<*xf32>) attributes {llvm.emit_c_interface}\n"
           "func.func private @printMemrefI32(memref<*xi32>) attributes {llvm.emit_c_interface}\n"

           "func.func @main() {\n")
for n, check in enumerate(checks):
    for name, x, dtype in check.inputs:
        module += const(f"{name}{n}", x, dtype)
    inputs = ", ".join(f"%{name}{n}" for name, _, _ in check.inputs)
    in_types = ", ".join(t(x.shape, dtype) for _, x, dtype in check.inputs)
    outs = ", ".join(f"%r{n}_{m}" for m in range(len(check.outputs)))
    out_types = ", ".join(ty for _, ty, _ in check.outputs)
    module += f"  {outs} = func.call @check{n}({inputs}) : ({in_types}) -> ({out_types})\n"
    for m, (_, ty, element) in enumerate(check.outputs):
        module += print_call(f"r{n}_{m}", ty, element)
module += "  return\n}\n"

compiled = subprocess.run([attn_opt, "-", "--attn-cpu-pipeline=q-tile=8 k-tile=16"],
                          input=module, capture_output=True, text=True)
if compiled.returncode != 0:
    sys.exit(f"compilation failed:\n{compiled.stderr[-3000:]}")
libs = f"{lib_dir}/libmlir_runner_utils.so,{lib_dir}/libmlir_c_runner_utils.so"
ran = subprocess.run([runner, "-e", "main", "-entry-point-result=void", f"-shared-libs={libs}"],
                     input=compiled.stdout, capture_output=True, text=True)
if ran.returncode != 0:
    sys.exit(f"execution failed:\n{ran.stderr[-3000:]}")
printed = [np.array([float(x) for x in re.findall(r"-?inf|nan|-?\d+\.?\d*(?:e[-+]?\d+)?",
                                                   block.split("data =", 1)[1])])
           for block in ran.stdout.split("Unranked Memref")[1:]]
failures, at = 0, 0
for check in checks:
    got = [x.astype(np.int64) if element == "i32" else x
           for x, (_, _, element) in zip(printed[at:at + len(check.outputs)], check.outputs)]
    at += len(check.outputs)
    ok, what = check.compare(got)
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {check.name}: {what}")
print(f"{len(checks) - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)

"""Selection on the GPU: programs of several ops (D1: indexer top-k, then
attention over the selected tokens; D2: pooled keys, block top-k, token
top-k within the blocks, then attention), each op a kernel, the index sets
passing between them in attnrt's temporaries.

The GPU machine has no LLVM/MLIR, so the kernels are compiled here:

    /usr/bin/python3 bench/gpu/selection.py prepare
        -> build/gpu-bundle/select (kernels, libattnrt.so, attn package)
    device: carry build/gpu-bundle/select and run
        python3 build/gpu-bundle/select/selection.py run --out $OUT

`run` first checks correctness on small problems: the index sets of every
selection step against a float64 reference on integer-valued indexer data
(exact scores, so the sets must be equal, ties to the smaller index), and
the program's output against a float32 attention over the reference sets
(bf16 tolerance); ragged lengths, Sq != Sk, rows with no candidate (a
causal offset). Then it times D1, D2 and D3 at S = 32K and D1 and D2 at 128K with
B = 1, 16 query heads on one KV head, D = 128, an indexer of 4 heads of
64, k = 2048: each step and the whole program, next to dense causal
attention (cuDNN) at the same S; and the other IDs (D4-D7, G2, G4, H2) as
whole programs at S = 8K (D7 at 4K) next to dense causal cuDNN.
"""

import os
import time

from common import load_module, main, median_ms, prepare_bundle, write_json

HEADS, DIM, IHEADS, IDIM = 16, 128, 4, 64


def d1_spec(name, b, sq, sk, h, d, ih, idim, k, mask="#attn.causal", kv_heads=1):
    q = f"tensor<{b}x{h}x{sq}x{d}xbf16>"
    kv = f"tensor<{b}x{kv_heads}x{sk}x{d}xbf16>"
    qi, ki, w = (f"tensor<{b}x{sq}x{ih}x{idim}xbf16>", f"tensor<{b}x{sk}x{idim}xbf16>",
                 f"tensor<{b}x{sq}x{ih}xf32>")
    counts, lists = f"tensor<{b}x1x{sq}xi32>", f"tensor<{b}x1x{sq}x{k}xi32>"
    return (f"func.func @{name}(%q: {q}, %k: {kv}, %v: {kv}, %qi: {qi}, %ki: {ki}, "
            f"%w: {w}) -> {q} {{\n"
            f"  %c, %i = attn.indexer_topk %qi, %ki, %w k = {k} mask({mask})\n"
            f"      : {qi}, {ki}, {w} -> {counts}, {lists}\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.and<{mask}, #attn.tokens>, "
            f"%c, %i : {counts}, {lists})\n"
            f"      : {q}, {kv}, {kv} -> {q}\n"
            f"  return %o : {q}\n}}\n")


def d2_spec(name, b, s, h, d, ih, idim, block, m, k):
    q, kv = f"tensor<{b}x{h}x{s}x{d}xbf16>", f"tensor<{b}x1x{s}x{d}xbf16>"
    nb = -(-s // block)
    qi, ki, w = (f"tensor<{b}x{s}x{ih}x{idim}xbf16>", f"tensor<{b}x{s}x{idim}xbf16>",
                 f"tensor<{b}x{s}x{ih}xf32>")
    kp = f"tensor<{b}x{nb}x{idim}xbf16>"
    bc, bi = f"tensor<{b}x1x{s}xi32>", f"tensor<{b}x1x{s}x{m}xi32>"
    c, i = f"tensor<{b}x1x{s}xi32>", f"tensor<{b}x1x{s}x{k}xi32>"
    return (f"func.func @{name}(%q: {q}, %k: {kv}, %v: {kv}, %qi: {qi}, %ki: {ki}, "
            f"%w: {w}) -> {q} {{\n"
            f"  %kp = attn.pool %ki dim = 1 block = {block} kind = mean : {ki} -> {kp}\n"
            f"  %bc, %bi = attn.indexer_topk %qi, %kp, %w k = {m} mask(#attn.causal) "
            f"{{key_block = {block} : i64}} : {qi}, {kp}, {w} -> {bc}, {bi}\n"
            f"  %c, %i = attn.indexer_topk %qi, %ki, %w k = {k} within(%bc, %bi : {bc}, {bi}) "
            f"mask(#attn.causal) {{block_size = {block} : i64}} : {qi}, {ki}, {w} -> {c}, {i}\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, "
            f"%c, %i : {c}, {i}) : {q}, {kv}, {kv} -> {q}\n"
            f"  return %o : {q}\n}}\n")


def op_spec(name, op, inputs, outputs):
    """A spec function of one selection op: `inputs` [(name, type)], the op
    text (operands by name), `outputs` [type]."""
    args = ", ".join(f"%{n}: {t}" for n, t in inputs)
    results = ", ".join(outputs)
    names = ", ".join(f"%r{i}" for i in range(len(outputs)))
    return (f"func.func @{name}({args}) -> ({results}) {{\n"
            f"  {names} = {op}\n  return {names} : {results}\n}}\n")


def d3_spec(name, b, s, h, d, block, k):
    """D3 end to end: block routing (pooled query block . pooled key block,
    the local block kept) feeding attention over the selected blocks."""
    q = f"tensor<{b}x{h}x{s}x{d}xbf16>"
    nb = s // block
    c, i = f"tensor<{b}x{h}x{nb}xi32>", f"tensor<{b}x{h}x{nb}x{k}xi32>"
    return (f"func.func @{name}(%q: {q}, %k: {q}, %v: {q}) -> {q} {{\n"
            f"  %c, %i = attn.block_topk %q, %k blocks({block}, {block}) k = {k} pool = mean "
            f"mask(#attn.causal) {{include_local}} : {q}, {q} -> {c}, {i}\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, "
            f"#attn.blocks<q_block = {block}, k_block = {block}>>, %c, %i : {c}, {i}) "
            f": {q}, {q}, {q} -> {q}\n"
            f"  return %o : {q}\n}}\n")


def ids_spec(name, which, s, h=HEADS, d=DIM, block=64):
    """The other IDs as programs at sequence length `s` (B = 1, `h` heads on
    as many KV heads, D = `d`, bf16): selection then attention, the sizes of
    examples/ scaled up. `which` is one of IDS."""
    q = f"tensor<1x{h}x{s}x{d}xbf16>"
    nb = s // block
    blocks = f"#attn.blocks<q_block = {block}, k_block = {block}>"
    head = f"func.func @{name}(%q: {q}, %k: {q}, %v: {q}"
    end = f"  return %o : {q}\n}}\n"
    def attend(mask, operands):
        return (f"  %o = attn.attention %q, %k, %v mask({mask}, {operands}) "
                f": {q}, {q}, {q} -> {q}\n")
    if which in ("d4", "d5"):
        width = 16 if which == "d4" else nb
        c, i = f"tensor<1x{h}x{nb}xi32>", f"tensor<1x{h}x{nb}x{width}xi32>"
        op = (f"attn.hip_topk %q, %k blocks({block}, {block}) k = 16 branch = 2 "
              f"mask(#attn.causal)" if which == "d4" else
              f"attn.threshold_blocks %q, %k blocks({block}, {block}) gamma = 0.9 "
              f"mask(#attn.causal) {{min_blocks = 4 : i64}}")
        return (f"{head}) -> {q} {{\n  %c, %i = {op} : {q}, {q} -> {c}, {i}\n"
                + attend(f"#attn.and<#attn.causal, {blocks}>", f"%c, %i : {c}, {i}") + end)
    if which == "d6":
        levels = f"tensor<1x{h}x{nb}x{nb}xi8>"
        return (f"{head}) -> {q} {{\n  %l = attn.pyramid_levels %q, %k blocks({block}, {block}) "
                f"thresholds = [0.01, 0.001, 0.0001] mask(#attn.causal) : {q}, {q} -> {levels}\n"
                + attend(f"#attn.and<#attn.causal, #attn.pyramid<q_block = {block}, "
                         f"k_block = {block}, max_level = 2>>", f"%l : {levels}") + end)
    if which == "d7":
        guide = f"tensor<1x{h}x64x{d}xbf16>"
        c, i = "tensor<1x1x1xi32>", "tensor<1x1x1x1024xi32>"
        return (f"{head}, %guide: {guide}) -> {q} {{\n  %c, %i = attn.query_topk %guide, %k "
                f"max_tokens = 1024 {{threshold = 0.9 : f64}} : {guide}, {q} -> {c}, {i}\n"
                + attend("#attn.tokens", f"%c, %i : {c}, {i}") + end)
    if which == "g2":
        router, keep = f"tensor<1x{s}x{h}xf32>", f"tensor<1x{h}x{s}xi1>"
        return (f"{head}, %router: {router}) -> {q} {{\n  %keep, %w = attn.head_topk %router "
                f"k = 4 : {router} -> {keep}, {router}\n"
                f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, "
                f"#attn.keep<query>>, %keep : {keep}) gate(#attn.output_gate<activation = "
                f"linear, granularity = head>, %w : {router}) : {q}, {q}, {q} -> {q}\n" + end)
    if which == "g4":
        weight = f"tensor<{h}x{d}xf32>"
        c, i = f"tensor<1x{h}x1xi32>", f"tensor<1x{h}x1x1024xi32>"
        return (f"{head}, %wv: {weight}) -> {q} {{\n  %c, %i, %s = attn.value_topk %v, %wv "
                f"k = 1024 : {q}, {weight} -> {c}, {i}, tensor<1x{h}x{s}xf32>\n"
                + attend("#attn.and<#attn.causal, #attn.tokens>", f"%c, %i : {c}, {i}") + end)
    if which == "h2":
        qr = f"tensor<1x2x{s}x{d}xbf16>"
        kr = f"tensor<1x2x{s}x{d}xbf16>"
        c, i = f"tensor<1x2x{s}xi32>", f"tensor<1x2x{s}x256xi32>"
        return (f"func.func @{name}(%qr: {qr}, %kr: {kr}, %vr: {kr}, %q: {q}, %k: {kr}, "
                f"%v: {kr}) -> {q} {{\n"
                f"  %or, %c, %i = attn.attention %qr, %kr, %vr mask(#attn.causal) : {qr}, "
                f"{kr}, {kr} -> {qr}, topk {c}, {i}\n"
                f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, "
                f"%c, %i : {c}, {i}) : {q}, {kr}, {kr} -> {q}\n" + end)
    raise ValueError(which)


# The other IDs at S = 8K (D7, whose guiding queries score every key in one
# row per batch, at 4K): the whole program next to dense causal cuDNN.
IDS = [(f"{which}_S{s}", which, s) for which, s in
       [("d4", 8192), ("d5", 8192), ("d6", 8192), ("d7", 4096), ("g2", 8192),
        ("g4", 8192), ("h2", 8192)]]


# H4: a runtime choice between D3 routing and full causal attention, an
# scf.if on a flag argument of the program.
H4_Q, H4_KV = "tensor<2x8x256x64xbf16>", "tensor<2x2x256x64xbf16>"
H4_SPEC = (
    f"func.func @h4_program(%sparse: i1, %q: {H4_Q}, %k: {H4_KV}, %v: {H4_KV}) -> {H4_Q} {{\n"
    f"  %o = scf.if %sparse -> {H4_Q} {{\n"
    f"    %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean mask(#attn.causal) "
    f"{{include_local}} : {H4_Q}, {H4_KV} -> tensor<2x8x4xi32>, tensor<2x8x4x2xi32>\n"
    f"    %s = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, "
    f"k_block = 64>>, %c, %i : tensor<2x8x4xi32>, tensor<2x8x4x2xi32>) : {H4_Q}, {H4_KV}, "
    f"{H4_KV} -> {H4_Q}\n"
    f"    scf.yield %s : {H4_Q}\n"
    f"  }} else {{\n"
    f"    %f = attn.attention %q, %k, %v mask(#attn.causal) : {H4_Q}, {H4_KV}, {H4_KV} -> {H4_Q}\n"
    f"    scf.yield %f : {H4_Q}\n"
    f"  }}\n"
    f"  return %o : {H4_Q}\n}}\n")


def d3_case(name, q, k, q_block, k_block, topk, pool, mask, local):
    """An OPS entry of attn.block_topk on bf16 Q and K of shapes `q`, `k`
    (integer-valued data: exact pooled scores)."""
    tq = "tensor<" + "x".join(map(str, q)) + "xbf16>"
    tk = "tensor<" + "x".join(map(str, k)) + "xbf16>"
    nb = -(-q[2] // q_block)
    tc = f"tensor<{q[0]}x{q[1]}x{nb}xi32>"
    ti = f"tensor<{q[0]}x{q[1]}x{nb}x{topk}xi32>"
    attrs = " {include_local}" if local else ""
    op = (f"attn.block_topk %q, %k blocks({q_block}, {k_block}) k = {topk} pool = {pool} "
          f"mask({mask}){attrs} : {tq}, {tk} -> {tc}, {ti}")
    return (name, op_spec(name, op, [("q", tq), ("k", tk)], [tc, ti]),
            {"q": (q, "int16"), "k": (k, "int16")},
            lambda ref, a, x: ref.block_topk(x["q"], x["k"], q_block, k_block, topk, pool,
                                             a.parse(mask), include_local=local))


# Single selection ops in the GPU row form (a thread per row), each against
# the float64 reference: (name, spec, inputs {role: (shape, kind)}, the
# reference's results from the inputs as NumPy arrays).
Q8, K2 = "tensor<1x8x256x64xbf16>", "tensor<1x2x256x64xbf16>"
CAUSAL = "#attn.causal"
WINDOW = "#attn.window<left = 100, right = 0>"
SINKS_WINDOW = "#attn.or<#attn.key_prefix<len = 4>, #attn.window<left = 100, right = 0>>"
IQ, IK, IW = "tensor<2x300x2x64xbf16>", "tensor<2x700x64xbf16>", "tensor<2x300x2xf32>"
BOTTOM_RIGHT = "#attn.causal<align = bottom_right>"
RQ, RK = "tensor<2x4x300x64xbf16>", "tensor<2x2x1000x64xbf16>"
LQ, LK, LW = "tensor<1x64x2x32xbf16>", "tensor<1x9000x32xbf16>", "tensor<1x64x2xf32>"
def long_indexer_case(name, kind):
    """An indexer over rows of 9000 keys (bottom-right causal, k = 64) on
    `kind` data: "int" (random integers) or "ones" (all scores equal)."""
    op = (f"attn.indexer_topk %index_q, %index_k, %weights k = 64 mask({BOTTOM_RIGHT}) : "
          f"{LQ}, {LK}, {LW} -> tensor<1x1x64xi32>, tensor<1x1x64x64xi32>")
    return (name, op_spec(name, op, [("index_q", LQ), ("index_k", LK), ("weights", LW)],
                          ["tensor<1x1x64xi32>", "tensor<1x1x64x64xi32>"]),
            {"index_q": ((1, 64, 2, 32), kind + "16"), "index_k": ((1, 9000, 32), kind + "16"),
             "weights": ((1, 64, 2), kind + "32")},
            lambda ref, a, x: ref.indexer_topk(x["index_q"], x["index_k"], x["weights"], 64,
                                               a.parse(BOTTOM_RIGHT))[:2])



def attention_topk_case(name, q, k, n, mask, layout="bhsd", score=None, kind="int16",
                        dtype="bf16"):
    """An OPS entry of an attention's top-k step alone (its top-k results
    only) on 16-bit Q and K of shapes `q`, `k` in `layout`: the score-tile
    kernel (tensor cores) with `score` modifiers (an attribute text)."""
    qt, kt = (f"tensor<{'x'.join(map(str, x))}x{dtype}>" for x in (q, k))
    heads, sq = (q[2], q[1]) if layout == "bshd" else (q[1], q[2])
    c, i = f"tensor<{q[0]}x{heads}x{sq}xi32>", f"tensor<{q[0]}x{heads}x{sq}x{n}xi32>"
    mods = f" score([{score}])" if score else ""
    op = (f"attn.attention %q, %k, %v layout({layout}, {layout}) mask({mask}){mods} : "
          f"{qt}, {kt}, {kt} -> {qt}, topk {c}, {i}")
    text = op_spec(name, op, [("q", qt), ("k", kt), ("v", kt)], [c, i])
    # The attention's O is not returned: its step has only the top-k.
    text = text.replace("%r0, %r1 = attn.attention", "%o, %r0, %r1 = attn.attention")
    return (name, text, {"q": (q, kind), "k": (k, kind),
                         "v": (k, "normal" + ("f16" if dtype == "f16" else "16"))},
            lambda ref, a, x: ref.attention_topk(
                x["q"], x["k"], n, a.parse(mask), score=[a.parse(score)] if score else (),
                layout=(layout, layout)))


OPS = [
    ("g2_heads", op_spec("g2_heads", "attn.head_topk %logits k = 2 : tensor<2x128x8xf32> -> "
                         "tensor<2x8x128xi1>, tensor<2x128x8xf32>",
                         [("logits", "tensor<2x128x8xf32>")],
                         ["tensor<2x8x128xi1>", "tensor<2x128x8xf32>"]),
     {"logits": ((2, 128, 8), "normal32")},
     lambda ref, a, x: ref.head_topk(x["logits"], 2)),
    d3_case("d3_blocks", (1, 8, 256, 64), (1, 2, 256, 64), 64, 64, 2, "mean", CAUSAL, True),
    # The block-wide D3 kernel: ragged lengths (a shorter last block on
    # both sides), Sq != Sk, GQA 4:1, work items of two query blocks.
    d3_case("d3_ragged", (2, 64, 288, 64), (2, 16, 336, 64), 64, 32, 5, "mean", CAUSAL, True),
    # Max pooling, a sliding window (the hull starts late), one work item
    # per (batch, head) with three passes of four query blocks.
    d3_case("d3_window_max", (4, 72, 288, 32), (4, 8, 288, 32), 32, 32, 3, "max", WINDOW, False),
    # The indexer on tensor cores: a hull of two intervals (sinks and a
    # window: the chunks between them are skipped), Sq != Sk, keys not a
    # multiple of the 256-key chunk, queries not of the 16-row tile.
    ("d1_sinks_window", op_spec(
        "d1_sinks_window", f"attn.indexer_topk %index_q, %index_k, %weights k = 32 "
        f"mask({SINKS_WINDOW}) : {IQ}, {IK}, {IW} -> tensor<2x1x300xi32>, "
        "tensor<2x1x300x32xi32>", [("index_q", IQ), ("index_k", IK), ("weights", IW)],
        ["tensor<2x1x300xi32>", "tensor<2x1x300x32xi32>"]),
     {"index_q": ((2, 300, 2, 64), "int16"), "index_k": ((2, 700, 64), "int16"),
      "weights": ((2, 300, 2), "int32")},
     lambda ref, a, x: ref.indexer_topk(x["index_q"], x["index_k"], x["weights"], 32,
                                        a.parse(SINKS_WINDOW))[:2]),
    # Rows longer than the indexer keeps in its select's candidates (9000
    # keys, at most 8192 kept): random scores keep the threshold bin and
    # above; equal scores keep every key and take the row-wide select (ties
    # to the smaller index: the first 64 keys).
    long_indexer_case("d1_long", "int"),
    long_indexer_case("d1_long_ties", "ones"),
    # Key blocks (D2's block stage on pooled keys): the mask on the 16
    # keys of each block, causal with Sq = 200 queries on 44 x 16 keys.
    ("d2_key_blocks", op_spec(
        "d2_key_blocks", "attn.indexer_topk %index_q, %index_k, %weights k = 8 "
        f"mask({CAUSAL}) {{key_block = 16 : i64}} : tensor<1x200x4x32xf16>, "
        "tensor<1x44x32xf16>, tensor<1x200x4xf32> -> tensor<1x1x200xi32>, "
        "tensor<1x1x200x8xi32>",
        [("index_q", "tensor<1x200x4x32xf16>"), ("index_k", "tensor<1x44x32xf16>"),
         ("weights", "tensor<1x200x4xf32>")],
        ["tensor<1x1x200xi32>", "tensor<1x1x200x8xi32>"]),
     {"index_q": ((1, 200, 4, 32), "intf16"), "index_k": ((1, 44, 32), "intf16"),
      "weights": ((1, 200, 4), "int32")},
     lambda ref, a, x: ref.indexer_topk(x["index_q"], x["index_k"], x["weights"], 8,
                                        a.parse(CAUSAL), key_block=16)[:2]),
    ("d4_hip", op_spec("d4_hip", f"attn.hip_topk %q, %k blocks(64, 32) k = 4 branch = 2 "
                       f"mask({CAUSAL}) : {Q8}, {K2} -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>",
                       [("q", Q8), ("k", K2)], ["tensor<1x8x4xi32>", "tensor<1x8x4x4xi32>"]),
     {"q": ((1, 8, 256, 64), "int16"), "k": ((1, 2, 256, 64), "int16")},
     lambda ref, a, x: ref.hip_topk(x["q"], x["k"], 64, 32, 4, 2, a.parse(CAUSAL))),
    ("d5_threshold", op_spec("d5_threshold", f"attn.threshold_blocks %q, %k blocks(64, 64) "
                             f"gamma = 0.9 mask({CAUSAL}) {{min_blocks = 2 : i64}} : {Q8}, {K2} "
                             "-> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>",
                             [("q", Q8), ("k", K2)],
                             ["tensor<1x8x4xi32>", "tensor<1x8x4x4xi32>"]),
     {"q": ((1, 8, 256, 64), "normal16"), "k": ((1, 2, 256, 64), "normal16")},
     lambda ref, a, x: ref.threshold_blocks(x["q"], x["k"], 64, 64, 0.9, 2, a.parse(CAUSAL))),
    ("d6_pyramid", op_spec("d6_pyramid", f"attn.pyramid_levels %q, %k blocks(64, 64) "
                           f"thresholds = [0.05, 0.01, 0.001] mask({CAUSAL}) : {Q8}, {K2} "
                           "-> tensor<1x8x4x4xi8>", [("q", Q8), ("k", K2)],
                           ["tensor<1x8x4x4xi8>"]),
     {"q": ((1, 8, 256, 64), "normal16"), "k": ((1, 2, 256, 64), "normal16")},
     lambda ref, a, x: (ref.pyramid_levels(x["q"], x["k"], 64, 64, [0.05, 0.01, 0.001],
                                           a.parse(CAUSAL)),)),
    # D4's block-per-row kernel: ragged lengths, GQA 2:1, 32 key blocks,
    # three parts per range, 5 kept.
    ("d4_ragged", op_spec("d4_ragged", f"attn.hip_topk %q, %k blocks(32, 32) k = 5 branch = 3 "
                          f"mask({BOTTOM_RIGHT}) : {RQ}, {RK} -> tensor<2x4x10xi32>, "
                          "tensor<2x4x10x5xi32>", [("q", RQ), ("k", RK)],
                          ["tensor<2x4x10xi32>", "tensor<2x4x10x5xi32>"]),
     {"q": ((2, 4, 300, 64), "normal16"), "k": ((2, 2, 1000, 64), "normal16")},
     lambda ref, a, x: ref.hip_topk(x["q"], x["k"], 32, 32, 5, 3, a.parse(BOTTOM_RIGHT))),
    # D5 and D6 on the block-rows kernel: ragged lengths (Sq = 300,
    # Sk = 1000: shorter last blocks), GQA 2:1, 32 key blocks, bottom-right
    # causal (the first query blocks see few), at least 3 blocks for D5.
    ("d5_ragged", op_spec("d5_ragged", f"attn.threshold_blocks %q, %k blocks(32, 32) "
                          f"gamma = 0.9 mask({BOTTOM_RIGHT}) {{min_blocks = 3 : i64}} : "
                          f"{RQ}, {RK} -> tensor<2x4x10xi32>, tensor<2x4x10x32xi32>",
                          [("q", RQ), ("k", RK)],
                          ["tensor<2x4x10xi32>", "tensor<2x4x10x32xi32>"]),
     {"q": ((2, 4, 300, 64), "normal16"), "k": ((2, 2, 1000, 64), "normal16")},
     lambda ref, a, x: ref.threshold_blocks(x["q"], x["k"], 32, 32, 0.9, 3,
                                            a.parse(BOTTOM_RIGHT))),
    ("d6_ragged", op_spec("d6_ragged", f"attn.pyramid_levels %q, %k blocks(32, 32) "
                          f"thresholds = [0.1, 0.02, 0.005] mask({BOTTOM_RIGHT}) : {RQ}, {RK} "
                          "-> tensor<2x4x10x32xi8>", [("q", RQ), ("k", RK)],
                          ["tensor<2x4x10x32xi8>"]),
     {"q": ((2, 4, 300, 64), "normal16"), "k": ((2, 2, 1000, 64), "normal16")},
     lambda ref, a, x: (ref.pyramid_levels(x["q"], x["k"], 32, 32, [0.1, 0.02, 0.005],
                                           a.parse(BOTTOM_RIGHT)),)),
    ("d7_queries", op_spec("d7_queries", "attn.query_topk %q, %k max_tokens = 64 "
                           "{threshold = 0.75 : f64} : tensor<1x8x16x64xf32>, "
                           "tensor<1x8x256x64xf32> -> tensor<1x1x1xi32>, tensor<1x1x1x64xi32>",
                           [("q", "tensor<1x8x16x64xf32>"), ("k", "tensor<1x8x256x64xf32>")],
                           ["tensor<1x1x1xi32>", "tensor<1x1x1x64xi32>"]),
     {"q": ((1, 8, 16, 64), "normal32"), "k": ((1, 8, 256, 64), "normal32")},
     lambda ref, a, x: ref.query_topk(x["q"], x["k"], 64, 0.75)),
    # D7's block-per-batch kernel: bf16 with GQA 2:1, two batches, a
    # threshold; and f16 keys without one (the max_tokens best alone).
    ("d7_gqa", op_spec("d7_gqa", "attn.query_topk %q, %k max_tokens = 50 "
                       "{threshold = 0.6 : f64} : tensor<2x4x10x64xbf16>, "
                       "tensor<2x2x300x64xbf16> -> tensor<2x1x1xi32>, tensor<2x1x1x50xi32>",
                       [("q", "tensor<2x4x10x64xbf16>"), ("k", "tensor<2x2x300x64xbf16>")],
                       ["tensor<2x1x1xi32>", "tensor<2x1x1x50xi32>"]),
     {"q": ((2, 4, 10, 64), "normal16"), "k": ((2, 2, 300, 64), "normal16")},
     lambda ref, a, x: ref.query_topk(x["q"], x["k"], 50, 0.6)),
    ("d7_no_threshold", op_spec("d7_no_threshold", "attn.query_topk %q, %k max_tokens = 100 : "
                                "tensor<1x2x7x32xf16>, tensor<1x1x1000x32xf16> -> "
                                "tensor<1x1x1xi32>, tensor<1x1x1x100xi32>",
                                [("q", "tensor<1x2x7x32xf16>"), ("k", "tensor<1x1x1000x32xf16>")],
                                ["tensor<1x1x1xi32>", "tensor<1x1x1x100xi32>"]),
     {"q": ((1, 2, 7, 32), "normalf16"), "k": ((1, 1, 1000, 32), "normalf16")},
     lambda ref, a, x: ref.query_topk(x["q"], x["k"], 100, None)),
    ("h2_topk", op_spec("h2_topk", "attn.attention %q, %k, %v mask(#attn.causal) : "
                        "tensor<2x4x96x32xf32>, tensor<2x2x96x32xf32>, tensor<2x2x96x32xf32> -> "
                        "tensor<2x4x96x32xf32>, topk tensor<2x4x96xi32>, tensor<2x4x96x8xi32>",
                        [("q", "tensor<2x4x96x32xf32>"), ("k", "tensor<2x2x96x32xf32>"),
                         ("v", "tensor<2x2x96x32xf32>")],
                        ["tensor<2x4x96x32xf32>", "tensor<2x4x96xi32>", "tensor<2x4x96x8xi32>"]),
     {"q": ((2, 4, 96, 32), "int32"), "k": ((2, 2, 96, 32), "int32"),
      "v": ((2, 2, 96, 32), "normal32")},
     lambda ref, a, x: (ref.attention(x["q"], x["k"], x["v"], a.parse(CAUSAL))[0],)
     + ref.attention_topk(x["q"], x["k"], 8, a.parse(CAUSAL))),
    # An attention's top-k on tensor cores (the score-tile kernel): GQA
    # 4:2 in bshd with Sq != Sk, bottom-right causal and a softcap; rows
    # of 4500 keys (first-digit bins, kept keys selected alone) under sinks
    # and a window in f16; rows without any key (offset -3) with GQA 2:1.
    attention_topk_case("h2_tiles", (2, 40, 4, 64), (2, 300, 2, 64), 8, BOTTOM_RIGHT, "bshd",
                        "#attn.softcap<cap = 30.0>"),
    attention_topk_case("h2_tiles_long", (1, 2, 48, 32), (1, 2, 4500, 32), 64,
                        "#attn.or<#attn.key_prefix<len = 4>, "
                        "#attn.window<left = 3000, right = 0, align = bottom_right>>",
                        dtype="f16", kind="intf16"),
    attention_topk_case("h2_tiles_empty_rows", (2, 2, 70, 64), (2, 1, 50, 64), 16,
                        "#attn.causal<offset = -3>"),
    # G4 on its block-per-row kernel: bf16 values, rows of 3000 keys, the
    # mask ruling out the first 10 keys (no query sees them), 300 kept.
    ("g4_rows", op_spec("g4_rows", "attn.value_topk %v, %weight k = 300 "
                        "mask(#attn.not<#attn.key_prefix<len = 10>>) : "
                        "tensor<2x4x3000x128xbf16>, tensor<4x128xf32> -> tensor<2x4x1xi32>, "
                        "tensor<2x4x1x300xi32>, tensor<2x4x3000xf32>",
                        [("v", "tensor<2x4x3000x128xbf16>"), ("weight", "tensor<4x128xf32>")],
                        ["tensor<2x4x1xi32>", "tensor<2x4x1x300xi32>", "tensor<2x4x3000xf32>"]),
     {"v": ((2, 4, 3000, 128), "int16"), "weight": ((4, 128), "int32")},
     lambda ref, a, x: ref.value_topk(x["v"], x["weight"], 300,
                                      a.parse("#attn.not<#attn.key_prefix<len = 10>>"))),
    ("g4_values", op_spec("g4_values", "attn.value_topk %v, %weight k = 32 : "
                          "tensor<1x2x128x64xf32>, tensor<2x64xf32> -> tensor<1x2x1xi32>, "
                          "tensor<1x2x1x32xi32>, tensor<1x2x128xf32>",
                          [("v", "tensor<1x2x128x64xf32>"), ("weight", "tensor<2x64xf32>")],
                          ["tensor<1x2x1xi32>", "tensor<1x2x1x32xi32>", "tensor<1x2x128xf32>"]),
     {"v": ((1, 2, 128, 64), "int32"), "weight": ((2, 64), "int32")},
     lambda ref, a, x: ref.value_topk(x["v"], x["weight"], 32)),
]

# Correctness: (name, spec builder, args); Sq != Sk and a causal offset
# that leaves the first rows without any key.
CHECKS = [
    ("d1_small", d1_spec, dict(b=2, sq=300, sk=300, h=4, d=64, ih=2, idim=32, k=64)),
    ("d1_rect", d1_spec, dict(b=1, sq=100, sk=333, h=8, d=128, ih=4, idim=64, k=48,
                              mask="#attn.causal<offset = -3>", kv_heads=2)),
    ("d1_k_eq_keys", d1_spec, dict(b=1, sq=70, sk=70, h=2, d=64, ih=1, idim=16, k=70)),
    ("d2_small", d2_spec, dict(b=2, s=260, h=4, d=64, ih=2, idim=32, block=16, m=4, k=40)),
]
BENCH = [
    ("d1_S32768", d1_spec, dict(b=1, sq=32768, sk=32768, h=HEADS, d=DIM, ih=IHEADS,
                                idim=IDIM, k=2048)),
    ("d2_S32768", d2_spec, dict(b=1, s=32768, h=HEADS, d=DIM, ih=IHEADS, idim=IDIM,
                                block=64, m=64, k=2048)),
    ("d3_S32768", d3_spec, dict(b=1, s=32768, h=HEADS, d=DIM, block=64, k=16)),
    ("d3k32_S32768", d3_spec, dict(b=1, s=32768, h=HEADS, d=DIM, block=64, k=32)),
    ("d1_S131072", d1_spec, dict(b=1, sq=131072, sk=131072, h=HEADS, d=DIM, ih=IHEADS,
                                 idim=IDIM, k=2048)),
    ("d2_S131072", d2_spec, dict(b=1, s=131072, h=HEADS, d=DIM, ih=IHEADS, idim=IDIM,
                                 block=64, m=64, k=2048)),
    ("d3_S131072", d3_spec, dict(b=1, s=131072, h=HEADS, d=DIM, block=64, k=16)),
    ("d3k32_S131072", d3_spec, dict(b=1, s=131072, h=HEADS, d=DIM, block=64, k=32)),
]


def prepare(args):
    text = "".join(spec for _, spec, _, _ in OPS)
    text += "".join(build(name, **kw) for name, build, kw in CHECKS + BENCH)
    text += "".join(ids_spec(name, which, s) for name, which, s in IDS)
    text += H4_SPEC
    prepare_bundle("select", text, args.chip, __file__)
    return 0


def _inputs(torch, build, kw, seed):
    """Integer-valued indexer data (exact scores), normal attention data."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    dev, bf16 = "cuda", torch.bfloat16
    b, h, d = kw["b"], kw["h"], kw["d"]
    sq = kw.get("sq", kw.get("s"))
    sk = kw.get("sk", kw.get("s"))
    kvh = kw.get("kv_heads", 1)
    ih, idim = kw["ih"], kw["idim"]

    def ints(shape, lo, hi, dtype):
        return torch.randint(lo, hi, shape, generator=g, device=dev).to(dtype)

    return dict(
        q=torch.randn(b, h, sq, d, generator=g, device=dev).to(bf16),
        k=torch.randn(b, kvh, sk, d, generator=g, device=dev).to(bf16),
        v=torch.randn(b, kvh, sk, d, generator=g, device=dev).to(bf16),
        index_q=ints((b, sq, ih, idim), -3, 4, bf16),
        index_k=ints((b, sk, idim), -3, 4, bf16),
        weights=ints((b, sq, ih), 1, 4, torch.float32))


def _scores(torch, qi, ki, w):
    """I[b,i,j] = sum_t w relu(qi . ki) in float64 (exact on integers)."""
    dots = torch.einsum("bitd,bjd->bitj", qi.double(), ki.double()).clamp_min(0)
    return torch.einsum("bit,bitj->bij", w.double(), dots)


def _select(torch, scores, allowed, k):
    """k best allowed per row, ties to the smaller index, ascending, -1 pad."""
    s = torch.where(allowed, scores, torch.full_like(scores, float("-inf")))
    order = torch.sort(s, dim=-1, descending=True, stable=True).indices[..., :k]
    count = allowed.sum(-1).clamp(max=k)
    keep = torch.arange(order.shape[-1], device=s.device) < count[..., None]
    picked = torch.where(keep, order, torch.full_like(order, 1 << 30))
    picked = torch.sort(picked, dim=-1).values
    picked = torch.where(picked == 1 << 30, torch.full_like(picked, -1), picked)
    if picked.shape[-1] < k:
        pad = torch.full(picked.shape[:-1] + (k - picked.shape[-1],), -1,
                         dtype=picked.dtype, device=picked.device)
        picked = torch.cat([picked, pad], -1)
    return count.int()[:, None], picked.int()[:, None]


def _causal(torch, sq, sk, offset=0, dev="cuda"):
    i = torch.arange(sq, device=dev)[:, None]
    j = torch.arange(sk, device=dev)[None, :]
    return j <= i + offset


def _attend(torch, x, counts, indices):
    """float32 attention of every head over its row's listed keys."""
    q, k, v = (x[n].float() for n in ("q", "k", "v"))
    b, h, sq, d = q.shape
    group = h // k.shape[1]
    idx = indices[:, 0].long().clamp_min(0)  # [B, Sq, K]
    valid = torch.arange(idx.shape[-1], device=q.device) < counts[:, 0, :, None]
    out = torch.zeros(b, h, sq, v.shape[-1], device=q.device)
    for bb in range(b):
        for hh in range(h):
            kk = k[bb, hh // group][idx[bb]]  # [Sq, K, D]
            vv = v[bb, hh // group][idx[bb]]
            s = torch.einsum("id,ikd->ik", q[bb, hh], kk) / d ** 0.5
            s = s.masked_fill(~valid[bb], float("-inf"))
            p = torch.softmax(s, -1).nan_to_num(0.0)
            out[bb, hh] = torch.einsum("ik,ikd->id", p, vv)
    return out


def _program_args(build, x):
    """A program's arguments are named by the role they first play: D2's
    indexer keys are first the pooling's input."""
    if build is d2_spec:
        x = dict(x)
        x["input"] = x.pop("index_k")
    return x


def _check(torch, module, name, build, kw):
    x = _inputs(torch, build, kw, seed=len(name))
    sq = kw.get("sq", kw.get("s"))
    sk = kw.get("sk", kw.get("s"))
    offset = -3 if "offset" in kw.get("mask", "") else 0
    allowed = _causal(torch, sq, sk, offset)[None].expand(kw["b"], sq, sk)
    scores = _scores(torch, x["index_q"], x["index_k"], x["weights"])
    result = {"name": name}
    steps = {}
    if build is d1_spec:
        counts, indices = _select(torch, scores, allowed, kw["k"])
        got = module.run(f"{name}__step0", index_q=x["index_q"], index_k=x["index_k"],
                         weights=x["weights"])
        steps["indexer"] = (got, (counts, indices))
    else:
        block, m = kw["block"], kw["m"]
        nb = -(-sk // block)
        pooled = module.run(f"{name}__step0", input=x["index_k"])
        ref_pool = torch.stack([x["index_k"][:, s:s + block].double().mean(1)
                                for s in range(0, sk, block)], 1)
        result["pool_max_err"] = float((pooled.double() - ref_pool.to(torch.bfloat16).double())
                                       .abs().max())
        # Stage 1 on the kernel's pooled keys (bf16, as the program sees them).
        block_scores = _scores(torch, x["index_q"], pooled, x["weights"])
        block_allowed = torch.stack([allowed[..., s * block:(s + 1) * block].any(-1)
                                     for s in range(nb)], -1)
        bc, bi = _select(torch, block_scores, block_allowed, m)
        got1 = module.run(f"{name}__step1", index_q=x["index_q"], index_k=pooled,
                          weights=x["weights"])
        steps["blocks"] = (got1, (bc, bi))
        listed = torch.zeros(kw["b"], sq, nb + 1, dtype=torch.bool, device="cuda")
        rows = bi[:, 0].long()
        listed.scatter_(2, torch.where(rows < 0, nb, rows), True)
        within = allowed & listed[..., torch.arange(sk, device="cuda") // block]
        counts, indices = _select(torch, scores, within, kw["k"])
        got2 = module.run(f"{name}__step2", index_q=x["index_q"], index_k=x["index_k"],
                          weights=x["weights"], block_counts=got1[0], block_indices=got1[1])
        steps["tokens"] = (got2, (counts, indices))
        # The same block lists in descending order (the kernel's keyed
        # slots instead of list positions): the same selection.
        descending = torch.sort(got1[1], dim=-1, descending=True).values
        got3 = module.run(f"{name}__step2", index_q=x["index_q"], index_k=x["index_k"],
                          weights=x["weights"], block_counts=got1[0],
                          block_indices=descending)
        steps["tokens_descending_lists"] = (got3, (counts, indices))
    ok = True
    for step, (got, ref) in steps.items():
        same = torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
        result[f"{step}_sets_equal"] = same
        if not same:
            rows = (got[1] != ref[1]).any(-1).sum().item()
            result[f"{step}_rows_differing"] = rows
        ok &= same
    # The program end to end, twice: bit-identical, and close to float32
    # attention over the reference sets.
    o1 = module.run(name, **_program_args(build, x))
    o2 = module.run(name, **_program_args(build, x))
    torch.cuda.synchronize()
    ref = _attend(torch, x, counts, indices)
    err = ((o1.float() - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
    result.update(program_rel_err=err, deterministic=torch.equal(o1, o2),
                  empty_rows=int((counts == 0).sum()))
    result["ok"] = bool(ok and err < 2e-2 and result["deterministic"]
                        and not torch.isnan(o1).any())
    return result


def _bench(torch, module, name, build, kw, runs):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    s = kw.get("sq", kw.get("s"))
    x = _inputs(torch, build, kw, seed=1) if build is not d3_spec else None
    result = {"name": name, "S": s}
    times = {}
    if build is d3_spec:
        q = torch.randn(1, HEADS, s, DIM, device="cuda").to(torch.bfloat16)
        x = dict(q=q, k=torch.randn_like(q), v=torch.randn_like(q))
        c, i = module.run(f"{name}__step0", q=x["q"], k=x["k"])
        times["block_topk_ms"] = median_ms(lambda: module.run(
            f"{name}__step0", q=x["q"], k=x["k"], counts=c, indices=i), min(runs, 5))
        o = torch.empty_like(x["q"])
        times["attention_ms"] = median_ms(lambda: module.run(
            f"{name}__step1", q=x["q"], k=x["k"], v=x["v"], mask0=c, mask1=i, o=o), runs)
        times["program_ms"] = times["block_topk_ms"] + times["attention_ms"]
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            times["dense_cudnn_ms"] = median_ms(
                lambda: torch.nn.functional.scaled_dot_product_attention(
                    x["q"], x["k"], x["v"], is_causal=True), runs)
        result.update(times)
        result["speedup_vs_dense"] = times["dense_cudnn_ms"] / times["program_ms"]
        return result
    if build is d1_spec:
        c, i = module.run(f"{name}__step0", index_q=x["index_q"], index_k=x["index_k"],
                          weights=x["weights"])
        times["indexer_ms"] = median_ms(lambda: module.run(
            f"{name}__step0", index_q=x["index_q"], index_k=x["index_k"],
            weights=x["weights"], counts=c, indices=i), runs)
        last = f"{name}__step1"
    else:
        kp = module.run(f"{name}__step0", input=x["index_k"])
        bc, bi = module.run(f"{name}__step1", index_q=x["index_q"], index_k=kp,
                            weights=x["weights"])
        c, i = module.run(f"{name}__step2", index_q=x["index_q"], index_k=x["index_k"],
                          weights=x["weights"], block_counts=bc, block_indices=bi)
        times["pool_ms"] = median_ms(lambda: module.run(
            f"{name}__step0", input=x["index_k"], output=kp), runs)
        times["block_indexer_ms"] = median_ms(lambda: module.run(
            f"{name}__step1", index_q=x["index_q"], index_k=kp, weights=x["weights"],
            counts=bc, indices=bi), runs)
        times["token_indexer_ms"] = median_ms(lambda: module.run(
            f"{name}__step2", index_q=x["index_q"], index_k=x["index_k"],
            weights=x["weights"], block_counts=bc, block_indices=bi, counts=c, indices=i),
            runs)
        last = f"{name}__step3"
    o = torch.empty_like(x["q"])
    times["attention_ms"] = median_ms(lambda: module.run(
        last, q=x["q"], k=x["k"], v=x["v"], mask0=c, mask1=i, o=o), runs)
    times["program_ms"] = median_ms(
        lambda: module.run(name, **dict(_program_args(build, x), o=o)), runs)
    kd = x["k"].expand(-1, HEADS, -1, -1)
    vd = x["v"].expand(-1, HEADS, -1, -1)
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        times["dense_cudnn_ms"] = median_ms(lambda: torch.nn.functional.scaled_dot_product_attention(
            x["q"], kd, vd, is_causal=True), runs)
    result.update(times)
    result["speedup_vs_dense"] = times["dense_cudnn_ms"] / times["program_ms"]
    return result


def _check_h4(torch, module):
    """The H4 program with its flag set (D3 routing, then attention over the
    chosen blocks) and clear (causal attention): each against the float64
    reference of its branch, on integer-valued Q and K (exact pooled
    scores, so the chosen blocks are the reference's)."""
    import numpy as np
    from attn import attrs, reference as ref
    g = torch.Generator(device="cuda").manual_seed(4)
    q = torch.randint(-3, 4, (2, 8, 256, 64), generator=g, device="cuda").to(torch.bfloat16)
    k = torch.randint(-3, 4, (2, 2, 256, 64), generator=g, device="cuda").to(torch.bfloat16)
    v = torch.randn(2, 2, 256, 64, generator=g, device="cuda").to(torch.bfloat16)
    qn, kn, vn = (x.float().cpu().numpy() for x in (q, k, v))
    causal = attrs.parse("#attn.causal")
    counts, indices = ref.block_topk(qn, kn, 64, 64, 2, "mean", causal, (), True)
    blocks = attrs.parse("#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>")
    want = {True: ref.attention(qn, kn, vn, blocks, [counts, indices])[0],
            False: ref.attention(qn, kn, vn, causal)[0]}
    result = {"name": "h4_program", "ok": True}
    for flag in (True, False):
        o = module.run("h4_program", flag=flag, q=q, k=k, v=v)
        got = o.float().cpu().numpy()
        err = float(np.abs(got - want[flag]).max() / np.abs(want[flag]).max())
        other = float(np.abs(got - want[not flag]).max() / np.abs(want[not flag]).max())
        result[f"flag_{flag}_rel_err"] = err
        result[f"flag_{flag}_rel_err_vs_other_branch"] = other
        result["ok"] &= err < 2e-2 and other > 0.1
    return result


def _check_op(torch, module, name, inputs, reference):
    """One selection op on the GPU against the float64 reference: integer
    results (counts, lists, keep flags, levels) equal, float ones close."""
    import numpy as np
    from attn import attrs, reference as ref
    g = torch.Generator(device="cuda").manual_seed(len(name))
    x = {}
    for role, (shape, kind) in inputs.items():
        if kind.startswith("ones"):
            t = torch.ones(shape, device="cuda")
        elif kind.startswith("int"):
            t = torch.randint(-3, 4, shape, generator=g, device="cuda").float()
        else:
            t = torch.randn(shape, generator=g, device="cuda")
        x[role] = t.to(torch.float16 if kind.endswith("f16") else
                       torch.bfloat16 if kind.endswith("16") else torch.float32)
    got = module.run(name, **x)
    got = got if isinstance(got, tuple) else (got,)
    want = reference(ref, attrs, {r: t.float().cpu().numpy() for r, t in x.items()})
    result = {"name": name, "ok": True}
    for n, (a, b) in enumerate(zip(got, want)):
        a = a.cpu().numpy()
        b = np.asarray(b)
        if a.dtype.kind == "f":
            err = float(np.abs(a - b).max()) if a.size else 0.0
            result[f"result{n}_max_abs_err"] = err
            result["ok"] &= err < 1e-4 * max(1.0, float(np.abs(b).max()))
        else:
            same = a.shape == b.shape and bool((a.astype(np.int64) == b.astype(np.int64)).all())
            result[f"result{n}_equal"] = same
            if not same and a.shape == b.shape:
                result[f"result{n}_differing"] = int((a.astype(np.int64) != b.astype(np.int64)).sum())
            result["ok"] &= same
    return result


def _step_times(torch, module, name, x, runs):
    """Each step of program `name` timed alone: the manifest's program
    section binds every kernel argument to a program argument (aN, from
    `x` by role, outputs allocated) or a temporary (tN)."""
    from common import HERE
    elements = {"i32": torch.int32, "i8": torch.int8, "i1": torch.bool,
                "f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
    args, temps, steps, inside = [], [], [], False
    with open(os.path.join(HERE, "select.manifest")) as f:
        for line in f:
            words = line.split()
            if words[:2] == ["program", name]:
                inside = True
            elif inside and words and words[0] in ("program", "kernel", "end"):
                break
            elif inside and words[0] == "arg":
                args.append(words)
            elif inside and words[0] == "temp":
                temps.append(torch.empty([int(d) for d in words[3:]],
                                         dtype=elements[words[1]], device="cuda"))
            elif inside and words[0] == "step":
                steps.append(words[1:])
    values = []
    for words in args:
        role, direction = words[1], words[2]
        if direction == "in":
            values.append(x[role])
        else:
            values.append(torch.empty([int(d) for d in words[6:]],
                                      dtype=elements[words[4]], device="cuda"))
    times = []
    for kernel, *bound in steps:
        bound = bound[:next((n for n, w in enumerate(bound) if w in ("when", "unless")),
                            len(bound))]
        roles = [role for role, *_ in module.arguments(kernel)]
        step = {role: (values if w[0] == "a" else temps)[int(w[1:])]
                for role, w in zip(roles, bound)}
        times.append(median_ms(lambda: module.run(kernel, **step), runs))
    return times


def _bench_ids(torch, module, name, runs):
    """Random inputs from the program's signature; the whole program (one
    module.run) next to dense causal cuDNN on its Q, K, V."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    g = torch.Generator(device="cuda").manual_seed(3)
    x = {}
    for role, direction, kind, element, shape in module.arguments(name):
        if direction == "in":
            dtype = torch.bfloat16 if element == "bf16" else torch.float32
            x[role] = torch.randn(shape, generator=g, device="cuda").to(dtype)
    out = module.run(name, **x)
    result = {"name": name, "finite": bool(torch.isfinite(out).all()),
              "program_ms": median_ms(lambda: module.run(name, **x), runs)}
    if result["program_ms"] < 1000:  # D7 at 10 s a call: whole only
        result["steps_ms"] = _step_times(torch, module, name, x, runs)
    q = max((v for r, v in x.items() if r.startswith("q")), key=lambda v: v.numel())
    k = torch.randn_like(q)
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        result["dense_cudnn_ms"] = median_ms(
            lambda: torch.nn.functional.scaled_dot_product_attention(
                q, k, k, is_causal=True), runs)
    result["speedup_vs_dense"] = result["dense_cudnn_ms"] / result["program_ms"]
    return result


def run(args):
    import torch
    module = load_module("select")
    if args.launch:
        # One benchmark's first step a few times, for a profiler:
        #   ncu -k regex:d1_S32768__step0 --launch-skip 1 --launch-count 1 \
        #       --set full -o $OUT/d1 python3 selection.py run --launch d1_S32768
        name, build, kw = next(b for b in BENCH if b[0] == args.launch)
        if build is d3_spec:
            q = torch.randn(1, HEADS, kw["s"], DIM, device="cuda").to(torch.bfloat16)
            step = dict(q=q, k=torch.randn_like(q))
        else:
            x = _inputs(torch, build, kw, seed=0)
            step = dict(index_q=x["index_q"], index_k=x["index_k"], weights=x["weights"])
            if build is d2_spec:  # its first step pools
                step = dict(input=x["index_k"])
        for _ in range(3):
            module.run(f"{name}__step0", **step)
        torch.cuda.synchronize()
        return 0
    checks = []
    for name, _, inputs, reference in OPS:
        try:
            checks.append(_check_op(torch, module, name, inputs, reference))
        except Exception as e:  # report and go on
            checks.append({"name": name, "ok": False, "error": repr(e)})
        print(checks[-1], flush=True)
    for name, build, kw in CHECKS:
        try:
            checks.append(_check(torch, module, name, build, kw))
        except Exception as e:  # report and go on
            checks.append({"name": name, "ok": False, "error": repr(e)})
        print(checks[-1], flush=True)
    try:
        checks.append(_check_h4(torch, module))
    except Exception as e:  # report and go on
        checks.append({"name": "h4_program", "ok": False, "error": repr(e)})
    print(checks[-1], flush=True)
    write_json(args.out, "select_checks.json", checks)
    bench = []
    if not args.no_bench:
        for name, build, kw in BENCH:
            if kw.get("sq", kw.get("s")) > args.max_s or (args.only and name not in args.only):
                continue
            start = time.time()
            try:
                runs = args.runs if kw.get("sq", kw.get("s")) <= 32768 else 3
                bench.append(_bench(torch, module, name, build, kw, runs))
            except Exception as e:
                bench.append({"name": name, "error": repr(e)})
            bench[-1]["wall_s"] = round(time.time() - start, 1)
            print(bench[-1], flush=True)
            write_json(args.out, "select_bench.json", bench)
        for name, _, s in IDS:
            if s > args.max_s or (args.only and name not in args.only):
                continue
            start = time.time()
            try:
                bench.append(_bench_ids(torch, module, name, min(args.runs, 5)))
            except Exception as e:
                bench.append({"name": name, "error": repr(e)})
            bench[-1]["wall_s"] = round(time.time() - start, 1)
            print(bench[-1], flush=True)
            write_json(args.out, "select_bench.json", bench)
    return 0 if all(c.get("ok") for c in checks) else 1


if __name__ == "__main__":
    def options(parser):
        parser.add_argument("--no-bench", action="store_true")
        parser.add_argument("--max-s", type=int, default=1 << 20,
                            help="skip benchmarks of longer sequences")
        parser.add_argument("--only", nargs="*", help="benchmarks to run (names)")
        parser.add_argument("--launch", help="only launch this benchmark's first "
                            "step three times (for a profiler)")
    main(prepare, run, options)

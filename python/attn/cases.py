"""Catalog test cases shared by the CPU and GPU numerical tests.

A `Case` is one attention problem: a spec function (MLIR text), random
inputs of its types and the float64 reference result
(`reference.attention`). `cases()` yields the static catalog entries with
the edge cases the tests need: lengths that are not multiples of the
tiles, Sq != Sk, B > 1, GQA/MQA, BHSD/BSHD/THD, fully masked rows, runtime
parameters, f32/f16/bf16. Shapes and specs do not depend on the seed, only
the data does: a compiled catalog can be rerun on fresh data.
"""

import numpy as np

from attn import attrs, bf16, reference

rng = np.random.default_rng(20261123)


def reseed(seed):
    """Restarts the random data of the next cases from `seed`."""
    global rng
    rng = np.random.default_rng(seed)


def round_to(x, dtype):
    """Rounds float values to what the element type can hold."""
    x = np.asarray(x, np.float32)
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        return bf16.from_bits(bf16.to_bits(x))
    return x


def literal(x, dtype):
    """A hex dense<...> literal of `x` with element type `dtype` (exact for
    every type, any shape)."""
    x = np.asarray(x)
    if dtype == "i1":
        # i1 elements are packed 8 per byte, least significant bit first.
        raw = np.packbits(x.astype(bool).reshape(-1), bitorder="little")
    elif dtype == "i32":
        raw = x.astype("<i4")
    elif dtype == "i8":
        raw = x.astype("i1")
    elif dtype == "f16":
        raw = x.astype("<f2")
    elif dtype == "bf16":
        raw = (x.astype("<f4").view("<u4") >> 16).astype("<u2")
    else:
        raw = x.astype("<f4")
    shape = "x".join(str(d) for d in x.shape)
    return f'dense<"0x{raw.tobytes().hex().upper()}"> : tensor<{shape}x{dtype}>'


def ttype(shape, dtype):
    return "tensor<" + "x".join(str(d) for d in shape) + f"x{dtype}>"


class Case:
    """One attention problem: spec text, inputs, and its reference."""

    def __init__(self, name, b=2, hq=4, hkv=2, sq=37, sk=53, d=16, dv=8,
                 dtype="f32", layout=("bhsd", "bhsd"), mask=None, mask_ops=(),
                 score=None, score_ops=(), norm=None, norm_ops=(), gate=None,
                 gate_ops=(), scale=None, lse=True, region="", captures=(),
                 cu_seqlens=None, patches=None):
        self.name = name
        self.patches = patches
        self.layout = layout
        self.cu = cu_seqlens
        def shape(layout_name, heads, seq, dim):
            if layout_name == "thd":
                return (seq, heads, dim)
            return (b, seq, heads, dim) if layout_name == "bshd" else (b, heads, seq, dim)
        if cu_seqlens is not None:
            sq, sk = int(cu_seqlens[0][-1]), int(cu_seqlens[1][-1])
        self.q = round_to(rng.standard_normal(shape(layout[0], hq, sq, d)), dtype)
        self.k = round_to(rng.standard_normal(shape(layout[1], hkv, sk, d)), dtype)
        self.v = round_to(rng.standard_normal(shape(layout[1], hkv, sk, dv)), dtype)
        self.out_shape = shape(layout[0], hq, sq, dv)
        self.lse_shape = (hq, sq) if cu_seqlens is not None else (b, hq, sq)
        self.dtype, self.lse = dtype, lse
        self.groups = [("mask", mask, list(mask_ops)), ("score", score, list(score_ops)),
                       ("norm", norm, list(norm_ops)), ("gate", gate, list(gate_ops))]
        self.scale, self.region, self.captures = scale, region, list(captures)

    def operands(self):
        """(group, value, mlir type) of every runtime operand, in order."""
        result = []
        for group, _, ops in self.groups:
            for value in ops:
                result.append((group, value))
        return result

    def function(self, index, dynamic=False):
        """The spec function @case<index>; with `dynamic`, the sequence
        lengths of Q, K, V, O and LSE are `?` in its types."""
        def seq(shape, layout_name):
            if not dynamic:
                return shape
            pos = {"thd": 0, "bshd": 1, "bhsd": 2}[layout_name]
            return tuple("?" if d == pos else x for d, x in enumerate(shape))
        tq = ttype(seq(self.q.shape, self.layout[0]), self.dtype)
        tk = ttype(seq(self.k.shape, self.layout[1]), self.dtype)
        tv = ttype(seq(self.v.shape, self.layout[1]), self.dtype)
        args = [f"%q: {tq}", f"%k: {tk}", f"%v: {tv}"]
        groups, n = [], 0
        for group, attr, ops in self.groups:
            if attr is None:
                continue
            names = []
            for value in ops:
                args.append(f"%a{n}: {value_type(value)}")
                names.append((f"%a{n}", value_type(value)))
                n += 1
            text = f"{group}({attr}"
            if names:
                text += ", " + ", ".join(x for x, _ in names) + " : " + \
                        ", ".join(t for _, t in names)
            groups.append(text + ")")
        if self.cu is not None:
            args.append(f"%cq: {value_type(self.cu[0])}")
            args.append(f"%ck: {value_type(self.cu[1])}")
            groups.append(f"cu_seqlens_q(%cq : {value_type(self.cu[0])}) "
                          f"cu_seqlens_kv(%ck : {value_type(self.cu[1])})")
        for c, value in enumerate(self.captures):
            args.append(f"%c{c}: {value_type(value)}")
        if self.captures:
            groups.append("captures(" + ", ".join(f"%c{c}" for c in range(len(self.captures)))
                          + " : " + ", ".join(value_type(x) for x in self.captures) + ")")
        out = ttype(seq(self.out_shape, self.layout[0]), "f32")
        lse_shape = self.lse_shape
        if dynamic:
            lse_shape = lse_shape[:-1] + ("?",)
        lse = ttype(lse_shape, "f32")
        results = f"{out}, lse {lse}" if self.lse else out
        ret_types = f"{out}, {lse}" if self.lse else out
        attributes = [f"scale = {self.scale} : f64"] if self.scale else []
        # The visiting order needs static lengths; the dynamic variant
        # leaves it to attn-order-patches (which then keeps row order).
        if self.patches and not dynamic:
            attributes.append(f"patches = array<i64: {self.patches[0]}, {self.patches[1]}>")
        attrs_text = f" {{{', '.join(attributes)}}}" if attributes else ""
        layout = "" if self.layout == ("bhsd", "bhsd") else f" layout({self.layout[0]}, {self.layout[1]})"
        lhs = "%o, %l" if self.lse else "%o"
        return (f"func.func @case{index}({', '.join(args)}) -> ({ret_types}) {{\n"
                f"  {lhs} = attn.attention %q, %k, %v{layout} {' '.join(groups)} {self.region}{attrs_text}\n"
                f"      : {tq}, {tk}, {tv} -> {results}\n"
                f"  return {lhs} : {ret_types}\n}}\n")

    def call(self, index):
        lines, names = [], []
        for name, value, dtype in [("q", self.q, self.dtype), ("k", self.k, self.dtype),
                                   ("v", self.v, self.dtype)]:
            lines.append(f"  %{name}{index} = arith.constant {literal(value, dtype)}")
            names.append(f"%{name}{index}")
        all_ops = [v for _, v in self.operands()] + \
            (list(self.cu) if self.cu is not None else []) + self.captures
        for n, value in enumerate(all_ops):
            t = value_type(value)
            if isinstance(value, np.ndarray):
                lines.append(f"  %x{index}_{n} = arith.constant {literal(value, t.split('x')[-1][:-1])}")
            elif t == "index":
                lines.append(f"  %x{index}_{n} = arith.constant {int(value)} : index")
            else:
                lines.append(f"  %x{index}_{n} = arith.constant {float(value)!r} : f32")
            names.append(f"%x{index}_{n}")
        types = [ttype(self.q.shape, self.dtype), ttype(self.k.shape, self.dtype),
                 ttype(self.v.shape, self.dtype)] + [value_type(v) for v in all_ops]
        out = ttype(self.out_shape, "f32")
        lse = ttype(self.lse_shape, "f32")
        rets = f"({out}, {lse})" if self.lse else out
        lhs = f"%o{index}, %l{index}" if self.lse else f"%o{index}"
        lines.append(f"  {lhs} = func.call @case{index}({', '.join(names)}) : ({', '.join(types)}) -> {rets}")
        printed = [(f"%o{index}", out)] + ([(f"%l{index}", lse)] if self.lse else [])
        for value, t in printed:
            lines.append(f"  %m{value[1:]} = bufferization.to_buffer {value} : {t} to memref<{t[7:-1]}>")
            lines.append(f"  %u{value[1:]} = memref.cast %m{value[1:]} : memref<{t[7:-1]}> to memref<*xf32>")
            lines.append(f"  func.call @printMemrefF32(%u{value[1:]}) : (memref<*xf32>) -> ()")
        return "\n".join(lines) + "\n"

    def expected(self):
        (_, mask, mops), (_, score, sops), (_, norm, nops), (_, gate, gops) = self.groups
        parse = lambda t: attrs.parse(t) if t else None
        score_attrs = []
        if score:
            inner = score.strip()[1:-1]
            depth, start = 0, 0
            for pos, ch in enumerate(inner + ","):
                depth += ch == "<"
                depth -= ch == ">"
                if ch == "," and depth == 0:
                    score_attrs.append(attrs.parse(inner[start:pos].strip()))
                    start = pos + 1
        return reference.attention(
            self.q, self.k, self.v, parse(mask), mops, score_attrs, sops,
            parse(norm), nops, parse(gate), gops, self.scale, self.layout,
            self.cu)


class LinearCase:
    """A linear attention (N6) problem, BHSD."""

    def __init__(self, name, feature_map, causal, decay, b=2, hq=4, hkv=2,
                 s=29, d=8, dv=6):
        self.name, self.feature_map, self.causal = name, feature_map, causal
        self.q = rng.standard_normal((b, hq, s, d)).astype(np.float32) * 0.5
        self.k = rng.standard_normal((b, hkv, s, d)).astype(np.float32) * 0.5
        self.v = rng.standard_normal((b, hkv, s, dv)).astype(np.float32)
        self.decay = (rng.uniform(-0.5, 0.0, (b, hq, s)).astype(np.float32)
                      if decay else None)
        self.out_shape = (b, hq, s, dv)
        self.lse, self.region = False, ""

    def types(self):
        t = [ttype(x.shape, "f32") for x in (self.q, self.k, self.v)]
        return t + ([ttype(self.decay.shape, "f32")] if self.decay is not None else [])

    def function(self, index, dynamic=False):
        """The spec function @case<index>; with `dynamic`, the sequence
        length is `?` in its types."""
        def seq(shape):
            return tuple("?" if dynamic and d == 2 else x for d, x in enumerate(shape))
        values = [self.q, self.k, self.v] + ([self.decay] if self.decay is not None else [])
        t = [ttype(seq(x.shape), "f32") for x in values]
        args = ", ".join(f"%a{n}: {ty}" for n, ty in enumerate(t))
        decay = f" decay(%a3 : {t[3]})" if self.decay is not None else ""
        attrs = " {causal}" if self.causal else ""
        out = ttype(seq(self.out_shape), "f32")
        return (f"func.func @case{index}({args}) -> {out} {{\n"
                f"  %o = attn.linear_attention %a0, %a1, %a2{decay} feature_map = "
                f"{self.feature_map}{attrs} : {t[0]}, {t[1]}, {t[2]} -> {out}\n"
                f"  return %o : {out}\n}}\n")

    def call(self, index):
        values = [self.q, self.k, self.v] + ([self.decay] if self.decay is not None else [])
        lines = [f"  %x{index}_{n} = arith.constant {literal(x, 'f32')}"
                 for n, x in enumerate(values)]
        names = ", ".join(f"%x{index}_{n}" for n in range(len(values)))
        out = ttype(self.out_shape, "f32")
        lines.append(f"  %o{index} = func.call @case{index}({names}) : "
                     f"({', '.join(self.types())}) -> {out}")
        lines.append(f"  %mo{index} = bufferization.to_buffer %o{index} : {out} to memref<{out[7:-1]}>")
        lines.append(f"  %uo{index} = memref.cast %mo{index} : memref<{out[7:-1]}> to memref<*xf32>")
        lines.append(f"  func.call @printMemrefF32(%uo{index}) : (memref<*xf32>) -> ()")
        return "\n".join(lines) + "\n"

    def expected(self):
        out = reference.linear_attention(self.q, self.k, self.v, self.decay,
                                         self.feature_map, self.causal)
        return out, None


def value_type(value):
    if isinstance(value, np.ndarray):
        dtype = {np.dtype(bool): "i1", np.dtype(np.int32): "i32", np.dtype(np.int8): "i8",
                 np.dtype(np.float32): "f32"}[value.dtype]
        return ttype(value.shape, dtype)
    return "index" if isinstance(value, int) else "f32"


def f32(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def cases(sq=37, sk=53, d=16, dv=8, dtype=None):
    """The static catalog. Cases that do not fix their lengths, head dims or
    element type get `sq`, `sk`, `d`, `dv`; `dtype` (f32, f16, bf16)
    overrides every case's element type. The defaults keep every length and
    dim off the tile sizes; larger values and f16/bf16 exercise the GPU
    tensor-core body (several 64-key tiles, D of 64 or 128)."""
    B, HQ, HKV, SQ, SK = 2, 4, 2, sq, sk

    def case(name, **kw):
        kw.setdefault("sq", sq)
        kw.setdefault("sk", sk)
        kw.setdefault("d", d)
        kw.setdefault("dv", dv)
        if dtype:
            kw["dtype"] = dtype
        return Case(name, **kw)

    docs = np.sort(rng.integers(0, 4, (B, 48)), axis=1).astype(np.int32)
    yield case("M1 full cross attention Sq != Sk")
    yield case("M2 causal top-left", mask="#attn.causal")
    yield case("M2 causal bottom-right", mask="#attn.causal<align = bottom_right>")
    yield case("M3 window, runtime sizes", mask="#attn.window<left = ?, right = ?>",
               mask_ops=[9, 3])
    yield case("M4 sinks + window", mask="#attn.or<#attn.window<left = 7>, #attn.key_prefix<len = 3>>")
    yield case("M5 prefix-LM, per-batch prefix",
               mask="#attn.or<#attn.causal, #attn.key_prefix<len = ?>>",
               mask_ops=[np.array([5, 20], np.int32)])
    yield case("M6 document, causal", sq=48, sk=48,
               mask="#attn.and<#attn.causal, #attn.document>", mask_ops=[docs, docs])
    # Runtime tile tests: unsorted ids (no order assumed), a negated
    # document mask (rows of the first document see nothing), sparse keeps
    # (key tiles without a kept key are skipped).
    unsorted = rng.integers(0, 3, (B, 48)).astype(np.int32)
    yield case("M6 unsorted document ids or sinks", sq=48, sk=48,
               mask="#attn.or<#attn.document, #attn.key_prefix<len = 2>>",
               mask_ops=[unsorted, unsorted])
    yield case("M13 causal and not document", sq=48, sk=48,
               mask="#attn.and<#attn.causal, #attn.not<#attn.document>>",
               mask_ops=[docs, docs])
    yield case("G3 sparse key keep", mask="#attn.keep<key>",
               mask_ops=[rng.random((B, HKV, SK)) < 0.1])
    yield case("M7 dilated window", mask="#attn.and<#attn.window<left = 20>, #attn.dilated<dilation = 3>>")
    # Residue groups (attn-group-residues): ragged groups (Sq, Sk not
    # multiples of the dilation), bottom-right diagonals on Sq != Sk, BSHD,
    # a softcap; a causal dilated mask whose first rows see no key.
    yield case("M7 dilated window, bottom-right, BSHD, softcap", sq=37, sk=61,
               layout=("bshd", "bshd"), score="[#attn.softcap<cap = 5.0>]",
               mask="#attn.and<#attn.window<left = 17, right = 5, align = bottom_right>, "
                    "#attn.dilated<dilation = 4, align = bottom_right>>")
    yield case("M7 causal dilated, fully masked rows",
               mask="#attn.and<#attn.causal<offset = -8>, #attn.dilated<dilation = 2>>")
    yield case("M8 power", sq=64, sk=64, mask="#attn.power<block = 8>")
    yield case("M9 2-D neighborhood, dilation and stride", sq=48, sk=48,
               mask="#attn.neighborhood<grid = [6, 8], kernel = [3, 3], dilation = [1, 2], stride = [1, 2]>")
    yield case("M9 3-D neighborhood, causal time", sq=48, sk=48,
               mask="#attn.neighborhood<grid = [3, 4, 4], kernel = [2, 3, 3], causal = [true, false, false]>")
    # Patch order (`patches`, attn-order-patches): tiles of 64 queries over
    # patches of 32 (two per tile, dilation and stride), of 15 (tiles
    # straddle patches and patch rows; a causal axis, BSHD, a softcap, a
    # head without keys: O = 0, LSE = -inf) and of 64 (one per tile).
    yield case("M9 2-D neighborhood in 8x4 patches", sq=384, sk=384,
               mask="#attn.neighborhood<grid = [16, 24], kernel = [7, 5], dilation = [1, 2], stride = [2, 1]>",
               patches=(8, 4))
    yield case("M9 causal neighborhood in 3x5 patches, BSHD, softcap", sq=240, sk=240,
               layout=("bshd", "bshd"), score="[#attn.softcap<cap = 5.0>]",
               mask="#attn.and<#attn.heads<begin = 1, end = 4>, #attn.neighborhood<grid = [12, 20], "
                    "kernel = [5, 5], causal = [true, false]>>",
               patches=(3, 5))
    yield case("M9 2-D neighborhood in 8x8 patches", sq=512, sk=512,
               mask="#attn.neighborhood<grid = [16, 32], kernel = [7, 7]>", patches=(8, 8))
    yield case("M10 varying window", sq=48, sk=48,
               mask="#attn.varying_window<grid = [6, 8], window = [2, 2], ratio = 2>")
    yield case("M11 padding, fully masked rows",
               mask="#attn.and<#attn.key_prefix<len = ?>, #attn.query_prefix<len = ?>>",
               mask_ops=[np.array([40, 11], np.int32), np.array([30, 6], np.int32)])
    yield case("M12 dense mask", mask="#attn.dense",
               mask_ops=[rng.random((B, 1, SQ, SK)) < 0.3])
    # Whole 32 x 32 blocks, so that tiles are empty, full or partial (the
    # summaries' three cases), a few flags flipped, a fully masked row; a
    # mask per head, shared by the batch.
    blocks = rng.random((1, HQ, -(-SQ // 32), -(-SK // 32))) < 0.4
    structured = np.repeat(np.repeat(blocks, 32, 2), 32, 3)[:, :, :SQ, :SK].copy()
    structured ^= rng.random(structured.shape) < 0.001
    structured[:, :, SQ // 2] = False
    yield case("M12 dense block mask", mask="#attn.dense", mask_ops=[structured])
    # Key selections (distinct entries per list; unlisted slots hold -1):
    # block lists per 16-query block, token lists per query or shared.
    def lists(shape, width, n):
        n = min(n, width)  # listed entries are distinct
        counts = rng.integers(0, n + 1, shape).astype(np.int32)
        entries = rng.permuted(np.broadcast_to(np.arange(width), shape + (width,)), axis=-1)
        entries = entries[..., :n]
        return counts, np.where(np.arange(n) < counts[..., None], entries, -1).astype(np.int32)
    yield case("M12 block-sparse layout", mask="#attn.blocks<q_block = 16, k_block = 16>",
               mask_ops=list(lists((B, 1, -(-SQ // 16)), -(-SK // 16), 2)))
    # Blocks of whole 64-key tiles (the GPU tensor-core body visits the
    # listed tiles): per KV head with causal, and 128 x 128 blocks.
    yield case("D3 block lists of 64 x 64 blocks, causal",
               mask="#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>",
               mask_ops=list(lists((B, HKV, -(-SQ // 64)), -(-SK // 64), 3)))
    yield case("D3 block lists of 128 x 128 blocks",
               mask="#attn.blocks<q_block = 128, k_block = 128>",
               mask_ops=list(lists((B, 1, -(-SQ // 128)), -(-SK // 128), 2)))
    # Listed entries outside the keys (negative, past the last block, far
    # past it) are skipped, and counts past the list's width read it all
    # (on the GPU at D = 128, TMA loads visit every listed block).
    nb = -(-SK // 128)
    outside = np.array([-1, nb, 1 << 28, nb - 1, -5], np.int32)
    yield case("M12 block list with entries outside the keys",
               mask="#attn.blocks<q_block = 128, k_block = 128>",
               mask_ops=[np.full((B, 1, -(-SQ // 128)), 9, np.int32),
                         np.broadcast_to(outside, (B, 1, -(-SQ // 128), 5)).copy()])
    yield case("D1 selected tokens, causal", mask="#attn.and<#attn.causal<align = bottom_right>, #attn.tokens>",
               mask_ops=list(lists((B, HKV, SQ), SK, 12)))
    yield case("D7 one shared selection or a window",
               mask="#attn.or<#attn.window<left = 3>, #attn.tokens>",
               mask_ops=list(lists((B, 1, 1), SK, 12)))
    # One list shared by every query of a KV head (D7, G4): on the GPU,
    # whole query tiles over key tiles gathered from it.
    yield case("G4 one shared selection per KV head, causal",
               mask="#attn.and<#attn.causal<align = bottom_right>, #attn.tokens>",
               mask_ops=list(lists((B, HKV, 1), SK, 80)))
    yield case("D7 one shared selection alone", mask="#attn.tokens",
               mask_ops=list(lists((B, 1, 1), SK, 70)))
    # Pyramid levels from -1 (dropped) to 3 (above max_level: read as 2).
    yield case("D6 pyramid pooled KV, causal",
               mask="#attn.and<#attn.causal<align = bottom_right>, "
                    "#attn.pyramid<q_block = 16, k_block = 16, max_level = 2>>",
               mask_ops=[rng.integers(-1, 4, (B, HKV, -(-SQ // 16), -(-SK // 16))).astype(np.int8)])
    # Blocks of whole 64 x 64 tiles and groups up to a tile (levels -1 to 7,
    # read as at most 6): on the GPU, the tensor-core body's pyramid.
    yield case("D6 pyramid on whole tiles, causal",
               mask="#attn.and<#attn.causal<align = bottom_right>, "
                    "#attn.pyramid<q_block = 64, k_block = 64, max_level = 6>>",
               mask_ops=[rng.integers(-1, 8, (B, HKV, -(-SQ // 64), -(-SK // 64))).astype(np.int8)])
    yield case("M13 composition", mask="#attn.and<#attn.causal, #attn.not<#attn.window<left = 4>>, #attn.heads<begin = 1, end = 3>>")
    yield case("S1 temperature per row", score="[#attn.temperature]",
               score_ops=[f32(B, HQ, SQ, lo=0.5, hi=2.0)], scale=0.3)
    yield case("S2 key bias", score="[#attn.bias]", score_ops=[f32(1, 1, 1, SK, lo=-2, hi=2)])
    yield case("S3 alibi + causal", mask="#attn.causal", score="[#attn.alibi]",
               score_ops=[f32(HQ, lo=0.0, hi=0.5)])
    yield case("S4 relative position table", score="[#attn.rel_pos<max_distance = 5>]",
               score_ops=[f32(HQ, 11)])
    yield case("S5 runtime softcap", score="[#attn.softcap<cap = ?>]", score_ops=[1.5])
    yield case("S6 decay", score="[#attn.decay<distance = abs>]",
               score_ops=[f32(HQ, lo=0.5, hi=1.0)])
    yield case("S4 bucketed relative positions", sq=64, sk=64,
               score="[#attn.rel_pos<max_distance = 40, buckets = 16>]",
               score_ops=[f32(HQ, 16, lo=-2, hi=2)])
    yield case("S6 manhattan decay on a 6x8 grid", sq=48, sk=48,
               score="[#attn.decay<distance = manhattan, grid = [6, 8]>]",
               score_ops=[f32(HQ, lo=0.5, hi=1.0)])
    yield case("N3 clipped softmax", mask="#attn.causal",
               norm="#attn.clipped_softmax<zeta = 1.1, gamma = -0.05>")
    yield case("N3 clipped softmax, runtime zeta", mask="#attn.window<left = 5>",
               norm="#attn.clipped_softmax<zeta = ?, gamma = -0.1>", norm_ops=[1.5])
    yield case("N4 affine-scaled softmax", mask="#attn.causal",
               norm="#attn.affine_softmax",
               norm_ops=[f32(B, HQ, SQ, lo=0.5, hi=1.5), f32(1, HQ, 1, lo=-0.5, hi=0.5)])
    yield case("N2 sink softmax, per head", norm="#attn.sink_softmax<logit = ?>",
               norm_ops=[f32(HQ)])
    yield case("N2 off-by-one softmax", mask="#attn.causal", norm="#attn.sink_softmax<logit = 0.0>")
    yield case("N5 sigmoid", norm="#attn.sigmoid<bias = -2.0>", lse=False)
    yield case("G1 element gate", gate="#attn.output_gate<activation = sigmoid, granularity = element>",
               gate_ops=[f32(B, SQ, HQ, dv, lo=-3, hi=3)])
    yield case("G2 head routing", mask="#attn.keep<query>",
               mask_ops=[rng.random((B, HQ, SQ)) < 0.5],
               gate="#attn.output_gate<activation = linear, granularity = head>",
               gate_ops=[f32(B, SQ, HQ, lo=0, hi=1)])
    yield case("G3 key eviction", mask="#attn.and<#attn.causal, #attn.keep<key>>",
               mask_ops=[rng.random((B, HKV, SK)) < 0.7])
    yield case("X1 MQA, BSHD", hkv=1, layout=("bshd", "bshd"), mask="#attn.causal")
    yield case("X3 varlen, causal, an empty sequence", layout=("thd", "thd"),
               mask="#attn.causal",
               cu_seqlens=(np.array([0, 30, 30, 71, 80], np.int32),
                           np.array([0, 30, 30, 71, 80], np.int32)))
    yield case("X3 varlen cross attention, window", layout=("thd", "thd"),
               mask="#attn.window<left = 6, align = bottom_right>",
               cu_seqlens=(np.array([0, 9, 40], np.int32),
                           np.array([0, 25, 70], np.int32)))
    yield case("X4 Dv != D, D = 96", d=96, dv=24)
    yield case("X5 f16", dtype="f16", mask="#attn.causal")
    yield case("X5 bf16", dtype="bf16", mask="#attn.window<left = 12>")
    yield LinearCase("N6 causal gated linear attention, elu+1", "elu_plus_one",
                     causal=True, decay=True)
    yield LinearCase("N6 causal linear attention, relu", "relu", causal=True,
                     decay=False)
    yield LinearCase("N6 non-causal linear attention", "identity", causal=False,
                     decay=True)
    yield case("S7 + M13 regions", mask="#attn.predicate", score="[#attn.score_fn]",
               captures=[f32(HQ, lo=0.0, hi=0.3)],
               region="predicate {\n^bb0(%b: index, %h: index, %i: index, %j: index, %c: tensor<4xf32>):\n"
                      "  %t = arith.constant 3 : index\n  %r = arith.remui %j, %t : index\n"
                      "  %z = arith.constant 0 : index\n  %p = arith.cmpi ne, %r, %z : index\n"
                      "  attn.yield %p : i1\n} score_fn {\n"
                      "^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %c: tensor<4xf32>):\n"
                      "  %m = tensor.extract %c[%h] : tensor<4xf32>\n  %d = arith.subi %j, %i : index\n"
                      "  %di = arith.index_cast %d : index to i64\n  %df = arith.sitofp %di : i64 to f32\n"
                      "  %t = arith.mulf %m, %df : f32\n  %r = arith.addf %s, %t : f32\n  attn.yield %r : f32\n}")


def expected_regions(case):
    """The reference of the region case: j % 3 != 0 and a slope bias."""
    slopes = case.captures[0]
    q = case.q.astype(np.float64)
    k = np.repeat(case.k.astype(np.float64), 2, axis=1)
    v = np.repeat(case.v.astype(np.float64), 2, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, k) / np.sqrt(q.shape[-1])
    i = np.arange(q.shape[2])[:, None]
    j = np.arange(k.shape[2])[None, :]
    s = s + slopes[None, :, None, None] * (j - i)
    s = np.where(j % 3 != 0, s, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - m)
    l = p.sum(-1, keepdims=True)
    return np.einsum("bhij,bhjd->bhid", p / l, v), (m + np.log(l))[..., 0]


def compare(case, out, lse, tolerance=1e-4):
    """(ok, max relative error of O, fully masked rows) of a computed result
    against the reference: O within `tolerance` of the largest reference
    value and without NaN; LSE -inf exactly on the fully masked rows and
    within `tolerance` (relative) elsewhere."""
    ref_out, ref_lse = expected_regions(case) if case.region else case.expected()
    out = np.asarray(out, np.float64)
    error = float(np.max(np.abs(out - ref_out)) / max(np.max(np.abs(ref_out)), 1e-6))
    ok = error < tolerance and not np.isnan(out).any()
    empty_rows = 0
    if lse is not None:
        lse = np.asarray(lse, np.float64)
        masked = np.isneginf(ref_lse)
        ok &= bool(np.array_equal(np.isneginf(lse), masked))
        finite = ~masked
        lse_error = np.max(np.abs(lse[finite] - ref_lse[finite]), initial=0.0)
        ok &= bool(lse_error < tolerance * (1 + np.max(np.abs(ref_lse[finite]), initial=0.0)))
        empty_rows = int(np.sum(masked))
    return ok, error, empty_rows

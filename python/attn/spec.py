"""Attention specs written in Python, printed as attn IR.

    import attn
    spec = attn.Spec(
        mask=attn.causal() & attn.sliding_window(left="window") | attn.sink(4),
        score=attn.softcap(50.0), lse=True)
    print(spec.to_mlir(dtype="bf16", head_dim=128))

A `Spec` is one `attn.attention` (a `LinearSpec` one `attn.linear_attention`,
N6). `to_mlir` prints it as a spec function whose arguments are Q, K, V
and one argument per runtime operand; head dims (and the head counts when
given) are static, batch and lengths are dynamic, so one compiled kernel
serves every batch size and sequence length. `reference` evaluates the same
spec in float64 with python/attn/reference.py.
"""

import dataclasses

import numpy as np

from attn import attrs, bf16, builders, reference, trace
from attn.builders import Operand
from attn.selection import AttentionInput, SelectionResult

_LAYOUT_DIMS = {
    "bhsd": (("B", "Hq", "Sq", "D"), ("B", "Hkv", "Sk", "D")),
    "bshd": (("B", "Sq", "Hq", "D"), ("B", "Sk", "Hkv", "D")),
    "thd": (("Tq", "Hq", "D"), ("Tk", "Hkv", "D")),
    # Keys and values only: a page pool read through block_table [B, N]
    # with kv_lens [B] (X2).
    "paged": (None, ("P", "Page", "Hkv", "D")),
}
_DTYPES = ("f32", "f16", "bf16")


@dataclasses.dataclass
class Argument:
    """One argument of the spec function, in ABI order.

    `role` is the kernel ABI name (q, k, v, mask0, ..., o, lse); `name` the
    user's name (q, k, v, an operand's name, o, lse); `dims` the shape in
    dimension names and integers (empty for scalars)."""
    role: str
    name: str
    kind: str          # "buffer" or "scalar"
    element: str       # f32, f16, bf16, i32, i8, i1, index
    dims: tuple
    output: bool = False
    operand: Operand = None

    def mlir_type(self, fixed):
        if self.kind == "scalar":
            return self.element
        sizes = [str(d) if isinstance(d, int) else str(fixed[d]) if d in fixed else "?"
                 for d in self.dims]
        return "tensor<" + "x".join(sizes + [self.element]) + ">"


def _element(dtype, what):
    if dtype not in _DTYPES:
        raise ValueError(f"{what} must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    return dtype


class Spec:
    """An attention spec: mask, score modifiers, normalization, gate.

    mask:   a builders.Mask (default: full attention, M1)
    score:  a score modifier or a list of them, applied in order; a plain
            function ``(s, b, h, q, k) -> score`` is traced (S7)
    norm:   the normalization (default softmax, N1)
    gate:   an output gate (G1)
    scale:  the score scale (default 1/sqrt(head_dim))
    lse:    also return the log-sum-exp [B, Hq, Sq]
    layout: "bhsd", "bshd" or "thd" (packed varlen with cu_seqlens_q and
            cu_seqlens_kv operands, X3); kv_layout defaults to it, or is
            "paged": K and V are page pools [P, page, Hkv, D] read through
            the block_table [B, N] and kv_lens [B] operands (X2: a KV
            cache; sequence b's keys are its first kv_lens[b] tokens)
    topk:   also return, per query, the `topk` allowed keys of largest
            probability: counts [B, Hq, Sq] and ascending indices
            [B, Hq, Sq, topk] (-1 padded) for a later attention's
            attn.tokens (H2 shared selection, H3 cross-layer reuse)
    """

    def __init__(self, mask=None, score=(), norm=None, gate=None, scale=None,
                 lse=False, layout="bhsd", kv_layout=None, name="spec", topk=None):
        self.where = trace.user_frame()
        if mask is not None and not isinstance(mask, builders.Mask):
            if callable(mask):
                mask = builders.predicate(mask)
            else:
                raise TypeError(f"mask must be an attn mask, got {type(mask).__name__}")
        score = list(score) if isinstance(score, (list, tuple)) else [score]
        self.score = [builders.score_fn(s) if callable(s) and not isinstance(s, builders._Attr)
                      else s for s in score]
        for s in self.score:
            if not isinstance(s, builders.Score):
                raise TypeError(f"score modifiers come from attn.softcap, attn.alibi, "
                                f"..., got {type(s).__name__}")
        if norm is not None and not isinstance(norm, builders.Norm):
            raise TypeError(f"norm must be an attn normalization, got {type(norm).__name__}")
        if gate is not None and not isinstance(gate, builders.Gate):
            raise TypeError(f"gate must be attn.output_gate(...), got {type(gate).__name__}")
        kv_layout = kv_layout or layout
        for what, value in (("layout", layout), ("kv_layout", kv_layout)):
            if value not in _LAYOUT_DIMS or (what == "layout" and value == "paged"):
                raise ValueError(f"{what} must be bhsd, bshd or thd"
                                 f"{' or paged' if what == 'kv_layout' else ''}, got {value!r}")
        if (layout == "thd") != (kv_layout == "thd"):
            raise ValueError("thd is used for both queries and keys or neither")
        # The KV cache (X2): page table and lengths.
        self.paged = [builders.tensor("block_table", "B N", "i32"),
                      builders.tensor("kv_lens", "B", "i32")]
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name must be an identifier, got {name!r}")
        if topk is not None and (isinstance(topk, bool) or not isinstance(topk, int)
                                 or topk < 1):
            raise ValueError(f"topk must be a positive int, got {topk!r}")
        if topk is not None and (layout == "thd" or kv_layout == "paged"):
            raise ValueError("topk results need the bhsd or bshd layouts")
        self.topk = topk
        self.mask, self.norm, self.gate = mask, norm, gate
        self.scale, self.lse, self.name = scale, bool(lse), name
        self.layout = (layout, kv_layout)
        # Packed sequences (X3): the offsets of each sequence, B + 1 values.
        self.cu_seqlens = [builders.tensor(n, "B1", "i32") for n in ("cu_seqlens_q", "cu_seqlens_kv")]
        attrs_all = [a for g in self._groups() for part in g[1] for a in part.walk()]
        self.predicate = [a.function for a in attrs_all if isinstance(a, builders._Predicate)]
        self.score_function = [a.function for a in attrs_all if isinstance(a, builders._ScoreFn)]
        if len(self.predicate) > 1 or len(self.score_function) > 1:
            raise ValueError("a spec has at most one predicate and one score "
                             "function; combine them into one function")
        self.captures = []
        for function in self.predicate + self.score_function:
            for operand in function.captures:
                if operand not in self.captures:
                    self.captures.append(operand)

    def _groups(self):
        return [("mask", [self.mask] if self.mask is not None else []),
                ("score", self.score),
                ("norm", [self.norm] if self.norm is not None else []),
                ("gate", [self.gate] if self.gate is not None else [])]

    # -- the function signature ------------------------------------------------
    def arguments(self, dtype="f32", out_dtype=None):
        """The spec function's arguments and results (`Argument`s) in ABI
        order."""
        dtype = _element(dtype, "dtype")
        out_dtype = _element(out_dtype or dtype, "out_dtype")
        q_dims, kv_dims = _LAYOUT_DIMS[self.layout[0]][0], _LAYOUT_DIMS[self.layout[1]][1]
        v_dims = kv_dims[:-1] + ("Dv",)
        args = [Argument("q", "q", "buffer", dtype, q_dims),
                Argument("k", "k", "buffer", dtype, kv_dims),
                Argument("v", "v", "buffer", dtype, v_dims)]
        by_name = {}

        def add(role, use, slot_type):
            if isinstance(use, SelectionResult):
                if use.selection not in selections:
                    selections.append(use.selection)
                return
            operand = use.operand if isinstance(use, builders._Alias) else use
            dims = use.dims if isinstance(use, builders._Alias) else operand.dims
            if operand.is_tensor:
                kind, element = "buffer", operand.dtype
            else:
                kind, element = "scalar", operand.dtype or slot_type
                if element != slot_type:
                    raise ValueError(f"operand '{operand.name}' is a {element} scalar "
                                     f"but the {role[:-1]} slot reads {slot_type}")
            previous = by_name.setdefault(operand.name, operand)
            if previous is not operand and (previous.kind, previous.dtype) != (operand.kind, operand.dtype):
                raise ValueError(f"two different operands are named '{operand.name}'")
            args.append(Argument(role, operand.name, kind, element, dims, operand=operand))

        selections = []
        for group, parts in self._groups():
            uses = [u for p in parts for u in p.operand_uses()]
            slot = "index" if group == "mask" else "f32"
            for n, use in enumerate(uses):
                add(f"{group}{n}", use, slot)
        # The selection ops, producers first; their inputs that are not
        # results of another selection, then their masks' operands.
        ordered = []

        def visit(selection):
            if selection in ordered:
                return
            for value, _ in selection.inputs:
                if isinstance(value, SelectionResult):
                    visit(value.selection)
            ordered.append(selection)

        for selection in selections:
            visit(selection)
        for s_n, selection in enumerate(ordered):
            for i, (value, _) in enumerate(selection.inputs):
                if not isinstance(value, (SelectionResult, AttentionInput)):
                    add(f"sel{s_n}_{i}", value, "f32")
            for i, use in enumerate(selection.mask_uses()):
                add(f"sel{s_n}_mask{i}", use, "index")
        self._selections = ordered
        if self.layout[0] == "thd":
            for operand in self.cu_seqlens:
                args.append(Argument(operand.name, operand.name, "buffer", "i32", ("B1",),
                                     operand=operand))
        if self.layout[1] == "paged":
            for operand in self.paged:
                args.append(Argument(operand.name, operand.name, "buffer", "i32", operand.dims,
                                     operand=operand))
        for n, operand in enumerate(self.captures):
            add(f"capture{n}", operand, operand.dtype or "f32")
        out_dims = q_dims[:-1] + ("Dv",)
        args.append(Argument("o", "o", "buffer", out_dtype, out_dims, output=True))
        if self.lse:
            lse_dims = ("Hq", "Tq") if self.layout[0] == "thd" else ("B", "Hq", "Sq")
            args.append(Argument("lse", "lse", "buffer", "f32", lse_dims, output=True))
        if self.topk:
            args.append(Argument("topk_counts", "topk_counts", "buffer", "i32",
                                 ("B", "Hq", "Sq"), output=True))
            args.append(Argument("topk_indices", "topk_indices", "buffer", "i32",
                                 ("B", "Hq", "Sq", self.topk), output=True))
        return args

    def _selections_of(self):
        self.arguments()
        return self._selections

    @property
    def has_selections(self):
        """Whether selection ops feed the attention, or it returns its top-k
        keys (tensor ABI)."""
        return bool(self._selections_of()) or bool(self.topk)

    def operands(self):
        """The runtime operands (by name, first use first)."""
        seen = {}
        for arg in self.arguments():
            if arg.operand is not None:
                seen.setdefault(arg.name, arg.operand)
        return list(seen.values())

    # -- IR ------------------------------------------------------------------------
    def to_mlir(self, dtype="f32", head_dim=64, value_dim=None, heads=None,
                kv_heads=None, out_dtype=None):
        """The spec as a module with one spec function @<name>."""
        fixed = _fixed_dims(head_dim, value_dim, heads, kv_heads)
        args = self.arguments(dtype, out_dtype)
        inputs = [a for a in args if not a.output]
        outputs = [a for a in args if a.output]
        names = {id(a): f"%{a.role}" for a in inputs}
        signature = ", ".join(f"{names[id(a)]}: {a.mlir_type(fixed)}" for a in inputs)
        types = [a.mlir_type(fixed) for a in outputs]
        by_role = {a.role: a for a in inputs}

        # Selection ops first; their results are SSA values of the body.
        body_lines, results = [], {}
        for s_n, selection in enumerate(self._selections):
            operands = [results[id(value)] if isinstance(value, SelectionResult)
                        else (f"%{value.role}", by_role[value.role].mlir_type(fixed))
                        if isinstance(value, AttentionInput)
                        else (f"%sel{s_n}_{i}", by_role[f"sel{s_n}_{i}"].mlir_type(fixed))
                        for i, (value, _) in enumerate(selection.inputs)]
            operands += [(f"%sel{s_n}_mask{i}", by_role[f"sel{s_n}_mask{i}"].mlir_type(fixed))
                         for i in range(len(selection.mask_uses()))]
            result_names = [f"%s{s_n}_{r}" for r in range(len(selection.results))]
            result_types = [Argument("", "", "buffer", r.dtype, r.dims).mlir_type(fixed)
                            for r in selection.results]
            for result, name, type_ in zip(selection.results, result_names, result_types):
                results[id(result)] = (name, type_)
            body_lines.append("  " + selection.text([x for x, _ in operands],
                                                    [t for _, t in operands],
                                                    result_names, result_types))
        groups = []
        for group, parts in self._groups():
            if not parts:
                continue
            text = parts[0].text() if group != "score" else \
                "[" + ", ".join(p.text() for p in parts) + "]"
            uses = [u for p in parts for u in p.operand_uses()]
            operands = [results[id(u)] if isinstance(u, SelectionResult)
                        else (f"%{group}{n}", by_role[f"{group}{n}"].mlir_type(fixed))
                        for n, u in enumerate(uses)]
            if operands:
                text += ", " + ", ".join(x for x, _ in operands) + " : " + \
                        ", ".join(t for _, t in operands)
            groups.append(f"{group}({text})")
        if self.layout[0] == "thd":
            groups.append(f"cu_seqlens_q(%cu_seqlens_q : {by_role['cu_seqlens_q'].mlir_type(fixed)}) "
                          f"cu_seqlens_kv(%cu_seqlens_kv : {by_role['cu_seqlens_kv'].mlir_type(fixed)})")
        if self.layout[1] == "paged":
            groups.append(f"block_table(%block_table : {by_role['block_table'].mlir_type(fixed)}) "
                          f"kv_lens(%kv_lens : {by_role['kv_lens'].mlir_type(fixed)})")
        captures = [by_role[f"capture{n}"] for n in range(len(self.captures))]
        if captures:
            groups.append("captures(" + ", ".join(f"%{a.role}" for a in captures) + " : " +
                          ", ".join(a.mlir_type(fixed) for a in captures) + ")")
        regions = self._regions(captures, fixed)
        layout = "" if self.layout == ("bhsd", "bhsd") else f" layout({self.layout[0]}, {self.layout[1]})"
        scale = f" {{scale = {float(self.scale)!r} : f64}}" if self.scale is not None else ""
        result_names = "%o, %lse" if self.lse else "%o"
        result_types = f"{types[0]}, lse {types[1]}" if self.lse else types[0]
        if self.topk:
            result_names += ", %topk_counts, %topk_indices"
            result_types += f", topk {types[-2]}, {types[-1]}"
        qkv = ", ".join(by_role[r].mlir_type(fixed) for r in ("q", "k", "v"))
        body = " ".join(groups)
        return (f"func.func @{self.name}({signature}) -> ({', '.join(types)}) {{\n"
                + "".join(line + "\n" for line in body_lines) +
                f"  {result_names} = attn.attention %q, %k, %v{layout} {body}{regions}{scale}\n"
                f"      : {qkv} -> {result_types} {trace.location(self.where)}\n"
                f"  return {result_names} : {', '.join(types)}\n}}\n")

    def _regions(self, captures, fixed):
        text = ""
        capture_args = [(a.operand, f"%c{n}", a.dims, a.element) for n, a in enumerate(captures)]
        block_captures = "".join(f", %c{n}: {a.mlir_type(fixed)}" for n, a in enumerate(captures))
        positions = [("%b", "index"), ("%h", "index"), ("%i", "index"), ("%j", "index")]
        if self.predicate:
            lines = trace.trace(self.predicate[0].fn, positions, capture_args, "i1",
                                "mask predicate")
            text += (" predicate {\n  ^bb0(%b: index, %h: index, %i: index, %j: index"
                     f"{block_captures}):\n" + "\n".join(lines) + "\n  }")
        if self.score_function:
            lines = trace.trace(self.score_function[0].fn, [("%s", "f32")] + positions,
                                capture_args, "f32", "score function")
            text += (" score_fn {\n  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index"
                     f"{block_captures}):\n" + "\n".join(lines) + "\n  }")
        return text

    # -- reference --------------------------------------------------------------
    def reference(self, q, k, v, **operands):
        """float64 reference: O (and LSE with lse=True) for the given
        inputs, with operand defaults filled in."""
        values = _with_defaults(self.operands(), operands)
        computed = {}

        def value_of(x):
            if isinstance(x, AttentionInput):
                return _float({"q": q, "k": k, "v": v}[x.role])
            return computed[id(x)] if isinstance(x, SelectionResult) else values[x.name]

        for selection in self._selections_of():
            for result, value in zip(selection.results, selection.evaluate(value_of)):
                computed[id(result)] = value
        groups = {}
        for group, parts in self._groups():
            uses = [u for p in parts for u in p.operand_uses()]
            groups[group] = [computed[id(u)] if isinstance(u, SelectionResult)
                             else values[u.name] for u in uses]
        mask = attrs.parse(self.mask.text()) if self.mask is not None else None
        score = [attrs.parse(s.text()) for s in self.score]
        norm = attrs.parse(self.norm.text()) if self.norm is not None else None
        gate = attrs.parse(self.gate.text()) if self.gate is not None else None
        bound = {op.name: values[op.name] for op in self.captures}
        predicate = score_fn = None
        if self.predicate:
            fn = self.predicate[0].fn
            predicate = lambda b, h, i, j: trace.evaluate(fn, (b, h, i, j), bound)
        if self.score_function:
            fn2 = self.score_function[0].fn
            score_fn = lambda s, b, h, i, j: trace.evaluate(fn2, (s, b, h, i, j), bound)
        cu = None
        if self.layout[0] == "thd":
            cu = (values["cu_seqlens_q"], values["cu_seqlens_kv"])
        o, lse = reference.attention(
            _float(q), _float(k), _float(v), mask, groups["mask"], score, groups["score"],
            norm, groups["norm"], gate, groups["gate"], self.scale, self.layout, cu,
            predicate=predicate, score_fn=score_fn,
            paged=(values["block_table"], values["kv_lens"]) if self.layout[1] == "paged" else None)
        results = [o, lse] if self.lse else [o]
        if self.topk:
            results += reference.attention_topk(
                _float(q), _float(k), self.topk, mask, groups["mask"], score, groups["score"],
                self.scale, self.layout, predicate=predicate, score_fn=score_fn)
        return tuple(results) if len(results) > 1 else o


class LinearSpec:
    """N6: chunked (gated) linear attention ``phi(Q) (phi(K)^T V)``.

    feature_map: identity, elu_plus_one or relu; causal: the causal form;
    decay: a per-step log-decay tensor operand ``[B, Hq, S]`` (name or
    attn.tensor), or None."""

    def __init__(self, feature_map="identity", causal=True, decay=None, name="spec"):
        if feature_map not in ("identity", "elu_plus_one", "relu"):
            raise ValueError(f"feature_map must be identity, elu_plus_one or relu, "
                             f"got {feature_map!r}")
        self.where = trace.user_frame()
        self.feature_map, self.causal, self.name = feature_map, bool(causal), name
        self.decay = None if decay is None else builders._as_operand(
            decay, "decay", "tensor", "f32", ("B", "Hq", "Sq"))
        self.lse, self.layout, self.captures = False, ("bhsd", "bhsd"), []

    def arguments(self, dtype="f32", out_dtype=None):
        if dtype != "f32" or out_dtype not in (None, "f32"):
            raise ValueError("linear attention (N6) takes and returns f32")
        args = [Argument("q", "q", "buffer", "f32", ("B", "Hq", "Sq", "D")),
                Argument("k", "k", "buffer", "f32", ("B", "Hkv", "Sk", "D")),
                Argument("v", "v", "buffer", "f32", ("B", "Hkv", "Sk", "Dv"))]
        if self.decay is not None:
            args.append(Argument("decay", self.decay.name, "buffer", "f32",
                                 self.decay.dims, operand=self.decay))
        args.append(Argument("o", "o", "buffer", "f32", ("B", "Hq", "Sq", "Dv"), output=True))
        return args

    has_selections = False

    def operands(self):
        return [self.decay] if self.decay is not None else []

    def to_mlir(self, dtype="f32", head_dim=64, value_dim=None, heads=None,
                kv_heads=None, out_dtype=None):
        fixed = _fixed_dims(head_dim, value_dim, heads, kv_heads)
        args = self.arguments(dtype, out_dtype)
        t = {a.role: a.mlir_type(fixed) for a in args}
        inputs = [a for a in args if not a.output]
        signature = ", ".join(f"%{a.role}: {t[a.role]}" for a in inputs)
        decay = f" decay(%decay : {t['decay']})" if self.decay is not None else ""
        causal = " {causal}" if self.causal else ""
        return (f"func.func @{self.name}({signature}) -> {t['o']} {{\n"
                f"  %o = attn.linear_attention %q, %k, %v{decay} feature_map = "
                f"{self.feature_map}{causal} : {t['q']}, {t['k']}, {t['v']} -> {t['o']}"
                f" {trace.location(self.where)}\n"
                f"  return %o : {t['o']}\n}}\n")

    def reference(self, q, k, v, **operands):
        values = _with_defaults(self.operands(), operands)
        decay = values[self.decay.name] if self.decay is not None else None
        return reference.linear_attention(_float(q), _float(k), _float(v), decay,
                                          self.feature_map, self.causal)


def _fixed_dims(head_dim, value_dim, heads, kv_heads):
    fixed = {"D": head_dim, "Dv": value_dim or head_dim}
    for name, value in (("D", head_dim), ("Dv", value_dim), ("Hq", heads), ("Hkv", kv_heads)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value <= 0):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if heads is not None:
        fixed["Hq"] = heads
    if kv_heads is not None:
        fixed["Hkv"] = kv_heads
    return fixed


def _with_defaults(operands, given):
    values = {}
    known = {op.name for op in operands}
    unknown = set(given) - known
    if unknown:
        raise TypeError(f"unknown operand(s) {', '.join(sorted(unknown))}; the spec "
                        f"reads {', '.join(sorted(known)) or 'none'}")
    for op in operands:
        if op.name in given:
            values[op.name] = given[op.name]
        elif op.default is not None:
            values[op.name] = op.default
        else:
            raise TypeError(f"missing operand '{op.name}'")
    return values


def _float(x):
    """A float64 array of q/k/v (bf16 given as uint16 bits included)."""
    x = np.asarray(x)
    if x.dtype == np.uint16:
        return bf16.from_bits(x).astype(np.float64)
    return x.astype(np.float64)

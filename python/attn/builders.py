"""The parts of an attention spec: operands, masks, score modifiers,
normalizations and gates, each one `#attn` attribute.

    mask = attn.causal() & attn.sliding_window(left="window") | attn.sink(4)

Masks combine with ``&``, ``|`` and ``~``; every constructor maps to one
`#attn` attribute, so the compiler sees the structure (closed-form tile
classification) instead of a black box. Parameters are static values
(compiled in) or runtime operands (``?`` in the IR): a string names a
scalar operand, `scalar()` and `tensor()` declare operands explicitly, and
a NumPy array becomes a tensor operand whose default value it is. Runtime
operands are passed by name when the kernel is called; changing them never
recompiles.

Tensor operand shapes are written with the problem's dimension names
(``"B Hq Sq Sk"``; ``1`` for a broadcast dimension): ``B`` batch, ``Hq`` /
``Hkv`` query / key heads, ``Sq`` / ``Sk`` lengths, ``D`` / ``Dv`` head
dims; other names are free sizes that must agree between operands. Kernels
check every operand against them before a call.
"""

import numpy as np

from attn import trace

# -- operands -----------------------------------------------------------------

_ELEMENTS = ("f32", "i32", "i1", "index")
_AUTO = object()


class Operand(trace.Deferred):
    """A runtime input of a spec: a scalar (index or f32) or a tensor."""

    def __init__(self, name, kind, dtype=None, dims=(), default=None):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"operand name must be an identifier, got {name!r}")
        if name in ("q", "k", "v", "o", "lse", "threads"):
            raise ValueError(f"operand name '{name}' is reserved")
        self.name, self.kind, self.dtype = name, kind, dtype
        self.dims, self.default = tuple(dims), default

    @property
    def is_tensor(self):
        return self.kind == "tensor"

    def _value(self):
        return trace.bound(self)

    def __repr__(self):
        if self.is_tensor:
            return f"attn.tensor({self.name!r}, {' '.join(map(str, self.dims))!r}, {self.dtype!r})"
        return f"attn.scalar({self.name!r})"


def scalar(name, dtype=None, default=None):
    """A runtime scalar: ``index`` where a mask reads it, ``f32`` where a
    score modifier or normalization does (inferred when not given)."""
    if dtype not in (None, "index", "f32"):
        raise ValueError(f"scalar dtype must be index or f32, got {dtype!r}")
    return Operand(name, "scalar", dtype, default=default)


def _parse_dims(shape):
    words = shape.split() if isinstance(shape, str) else list(shape)
    dims = []
    for word in words:
        if isinstance(word, (int, np.integer)) or (isinstance(word, str) and word.isdigit()):
            dims.append(int(word))
        elif isinstance(word, str) and word.isidentifier():
            dims.append(word)
        else:
            raise ValueError(f"bad dimension {word!r} in shape {shape!r} "
                             f"(expected names such as B Hq Sq Sk, or integers)")
    return tuple(dims)


def tensor(name, shape, dtype="f32", default=None):
    """A runtime tensor operand of `shape` (dimension names or integers) and
    element type f32, i32, i8 or i1 (bool)."""
    if dtype not in ("f32", "i32", "i8", "i1"):
        raise ValueError(f"tensor dtype must be f32, i32, i8 or i1, got {dtype!r}")
    return Operand(name, "tensor", dtype, _parse_dims(shape), default)


_auto_names = {}


def _as_operand(value, name, kind, dtype, dims):
    """Turns a parameter into an Operand: strings name scalars (or tensors
    of the slot's shape), arrays become tensors with that default."""
    if type(value).__name__ == "SelectionResult":  # a selection op's result
        return value
    if isinstance(value, Operand):
        if kind == "tensor" and not value.is_tensor:
            raise TypeError(f"{name}: expected a tensor operand, got scalar '{value.name}'")
        return value
    if isinstance(value, str):
        if kind == "tensor":
            return tensor(value, dims, dtype)
        return scalar(value, dtype)
    if isinstance(value, (np.ndarray, list, tuple)) and kind == "tensor":
        array = np.asarray(value)
        if array.ndim != len(dims):
            raise ValueError(f"{name}: expected an array of rank {len(dims)} "
                             f"({' '.join(map(str, dims))}), got shape {array.shape}")
        return tensor(name, dims, dtype, default=array)
    raise TypeError(f"{name}: expected an operand name, attn.tensor or array, "
                    f"got {type(value).__name__}")


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
        return text if ("." in text or "e" in text or "inf" in text) else text + ".0"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(x) for x in value) + "]"
    if isinstance(value, _Keyword):
        return value.word
    raise TypeError(f"cannot print {value!r} as an attribute parameter")


class _Keyword:
    def __init__(self, word):
        self.word = word


# -- attributes ---------------------------------------------------------------

class _Attr:
    """One #attn attribute with its static parameters and runtime operands.

    `params` are (key, value) in printing order; a value that is an Operand
    prints as ``?`` and is read at run time. `inputs` are tensor operands
    the attribute reads after its ``?`` parameters. `slot_type` is the type
    of scalar operands in this slot (index for masks, f32 otherwise)."""

    slot_type = "f32"

    def __init__(self, name, params=(), inputs=(), keyword=None):
        self.name, self.keyword = name, keyword
        self.params = [(k, v) for k, v in params if v is not None]
        self.inputs = list(inputs)

    def operand_uses(self):
        uses = [v for _, v in self.params if isinstance(v, Operand)]
        return uses + self.inputs

    def children(self):
        return []

    def text(self):
        if self.keyword:
            return f"#attn.{self.name}<{self.keyword}>"
        if not self.params:
            return f"#attn.{self.name}"
        body = ", ".join(f"{k} = " + ("?" if isinstance(v, Operand) else _text(v))
                         for k, v in self.params)
        return f"#attn.{self.name}<{body}>"

    def walk(self):
        yield self
        for child in self.children():
            yield from child.walk()


def _param(value, name, slot_type):
    """A static value, or an Operand for strings and operands."""
    if isinstance(value, (str, Operand)):
        return _as_operand(value, name, "scalar", slot_type, ())
    return value


class Mask(_Attr):
    """A mask: combine with & (and), | (or), ~ (not)."""

    slot_type = "index"

    def __and__(self, other):
        return _Combine("and", _flatten("and", self, _check_mask(other)))

    def __rand__(self, other):
        return _check_mask(other) & self

    def __or__(self, other):
        return _Combine("or", _flatten("or", self, _check_mask(other)))

    def __ror__(self, other):
        return _check_mask(other) | self

    def __invert__(self):
        return _Combine("not", [self])


def _check_mask(other):
    if not isinstance(other, Mask):
        raise TypeError(f"masks combine with masks, got {type(other).__name__}")
    return other


def _flatten(kind, *masks):
    out = []
    for m in masks:
        out.extend(m.parts if isinstance(m, _Combine) and m.name == kind else [m])
    return out


class _Combine(Mask):
    def __init__(self, name, parts):
        super().__init__(name)
        self.parts = parts

    def children(self):
        return self.parts

    def operand_uses(self):
        return [use for p in self.parts for use in p.operand_uses()]

    def text(self):
        return f"#attn.{self.name}<" + ", ".join(p.text() for p in self.parts) + ">"


def _align(align):
    if align not in ("top_left", "bottom_right"):
        raise ValueError(f"align must be top_left or bottom_right, got {align!r}")
    return None if align == "top_left" else _Keyword(align)


def full():
    """M1: every key."""
    return Mask("full")


def empty():
    """No key (rows are fully masked: O = 0, LSE = -inf)."""
    return Mask("empty")


def causal(align="top_left", offset=0):
    """M2: ``j <= i + d``; d = offset, plus Sk - Sq for bottom_right."""
    params = [("align", _align(align))]
    if not (isinstance(offset, int) and offset == 0):
        params.append(("offset", _param(offset, "offset", "index")))
    return Mask("causal", params)


def sliding_window(left, right=0, align="top_left", offset=0):
    """M3: ``i + d - left <= j <= i + d + right`` (right=0: causal local)."""
    params = [("left", _param(left, "left", "index")),
              ("right", _param(right, "right", "index")),
              ("align", _align(align))]
    if not (isinstance(offset, int) and offset == 0):
        params.append(("offset", _param(offset, "offset", "index")))
    return Mask("window", params)


def key_prefix(length):
    """Keys ``j < length``: static, a scalar, or a per-batch tensor ``B``."""
    if isinstance(length, np.ndarray) or (isinstance(length, Operand) and length.is_tensor):
        return Mask("key_prefix", [("len", _as_operand(length, "kv_len", "tensor", "i32", ("B",)))])
    return Mask("key_prefix", [("len", _param(length, "len", "index"))])


def query_prefix(length):
    """Queries ``i < length``; the rows after it are fully masked."""
    if isinstance(length, np.ndarray) or (isinstance(length, Operand) and length.is_tensor):
        return Mask("query_prefix", [("len", _as_operand(length, "q_len", "tensor", "i32", ("B",)))])
    return Mask("query_prefix", [("len", _param(length, "len", "index"))])


def sink(n):
    """M4 attention sinks: the first `n` keys (combine with | )."""
    return key_prefix(n)


def prefix_lm(prefix):
    """M5: causal, plus the first `prefix` keys (per batch with a tensor)."""
    return causal() | key_prefix(prefix)


def key_padding(lengths="kv_len"):
    """M11: keys ``j < lengths[b]`` (a tensor ``B`` of int32)."""
    return Mask("key_prefix", [("len", _as_operand(lengths, "kv_len", "tensor", "i32", ("B",)))])


def query_padding(lengths="q_len"):
    """M11: queries ``i < lengths[b]``."""
    return Mask("query_prefix", [("len", _as_operand(lengths, "q_len", "tensor", "i32", ("B",)))])


def document(ids="doc", kv_ids=None):
    """M6: ``ids[b, i] == kv_ids[b, j]`` (kv_ids defaults to ids: self
    attention over packed documents)."""
    q = _as_operand(ids, "doc", "tensor", "i32", ("B", "Sq"))
    k = q if kv_ids is None else _as_operand(kv_ids, "kv_doc", "tensor", "i32", ("B", "Sk"))
    if kv_ids is None:
        # The same operand as key ids: shaped B x Sk in that slot.
        k = _Alias(q, ("B", "Sk"))
    return Mask("document", inputs=[q, k])


class _Alias:
    """An operand reused in a slot where its shape reads differently."""

    def __init__(self, operand, dims):
        self.operand, self.dims = operand, dims
        self.name, self.kind, self.dtype = operand.name, operand.kind, operand.dtype
        self.default, self.is_tensor = operand.default, True


def dilated(dilation, align="top_left", offset=0):
    """``(i + d - j) mod dilation == 0`` (combine with a window: M7)."""
    params = [("dilation", _param(dilation, "dilation", "index")), ("align", _align(align))]
    if not (isinstance(offset, int) and offset == 0):
        params.append(("offset", _param(offset, "offset", "index")))
    return Mask("dilated", params)


def dilated_window(left, dilation, right=0):
    """M7: a sliding window keeping every `dilation`-th key."""
    return sliding_window(left, right) & dilated(dilation)


def power(block):
    """M8: PowerAttention's power-of-two block pattern."""
    return Mask("power", [("block", int(block))])


def neighborhood(grid, kernel, dilation=None, stride=None, causal=None):
    """M9: N-d neighborhood attention (NATTEN semantics) on a row-major grid."""
    listed = lambda x: None if x is None else [type(v)(v) for v in x]
    return Mask("neighborhood", [("grid", list(grid)), ("kernel", list(kernel)),
                                 ("dilation", listed(dilation)), ("stride", listed(stride)),
                                 ("causal", None if causal is None else [bool(c) for c in causal])])


def varying_window(grid, window, ratio):
    """M10: query windows attend to `ratio` times larger centred windows."""
    return Mask("varying_window", [("grid", list(grid)), ("window", list(window)),
                                   ("ratio", int(ratio))])


def dense(mask="mask", shape="B Hq Sq Sk"):
    """M12: an explicit boolean mask tensor (``1`` broadcasts a dimension)."""
    return Mask("dense", inputs=[_as_operand(mask, "mask", "tensor", "i1", _parse_dims(shape))])


def blocks(counts, indices=None, q_block=None, k_block=None, groups="G", rows="QB"):
    """M12 block-sparse layout (BSR): query block qb of head group g attends
    to key blocks ``indices[b, g, qb, :counts[b, g, qb]]`` (distinct within
    a list); ``rows=1`` shares one list among all query blocks.
    ``blocks(attn.block_topk(...))`` reads that selection (D3)."""
    if hasattr(counts, "q_block") and indices is None:
        return Mask("blocks", [("q_block", counts.q_block), ("k_block", counts.k_block)],
                    inputs=[counts.counts, counts.indices])
    if q_block is None or k_block is None:
        raise TypeError("blocks: q_block and k_block are required")
    c = _as_operand(counts, "block_counts", "tensor", "i32", ("B", groups, rows))
    i = _as_operand(indices, "block_indices", "tensor", "i32", ("B", groups, rows, "N"))
    return Mask("blocks", [("q_block", int(q_block)), ("k_block", int(k_block))], inputs=[c, i])


def pyramid(levels, q_block=None, k_block=None, max_level=None, groups="G", rows="QB"):
    """D6 pyramid pooled KV: ``levels[b, g, qb, kb]`` (int8) reads key block
    kb in groups of 2^level keys at their mean score (-1 drops it; PSA).
    ``pyramid(attn.pyramid_levels(...))`` reads that selection. Only as the
    mask or a term of its top-level ``&``."""
    if hasattr(levels, "levels") and hasattr(levels, "max_level"):
        return Mask("pyramid", [("q_block", levels.q_block), ("k_block", levels.k_block),
                                ("max_level", levels.max_level)], inputs=[levels.levels])
    if q_block is None or k_block is None or max_level is None:
        raise TypeError("pyramid: q_block, k_block and max_level are required")
    lv = _as_operand(levels, "levels", "tensor", "i8", ("B", groups, rows, "KB"))
    return Mask("pyramid", [("q_block", int(q_block)), ("k_block", int(k_block)),
                            ("max_level", int(max_level))], inputs=[lv])


def tokens(counts, indices=None, groups="G", rows="Sq"):
    """Selected keys per query: ``indices[b, g, i, :counts[b, g, i]]``
    (distinct within a list; D1, D2, D7, G4, H2, H3); ``rows=1`` shares one
    selection among all queries. ``tokens(attn.indexer_topk(...))`` reads
    the selection op's results."""
    if hasattr(counts, "counts") and hasattr(counts, "indices") and indices is None:
        return Mask("tokens", inputs=[counts.counts, counts.indices])
    c = _as_operand(counts, "token_counts", "tensor", "i32", ("B", groups, rows))
    i = _as_operand(indices, "token_indices", "tensor", "i32", ("B", groups, rows, "N"))
    return Mask("tokens", inputs=[c, i])


def heads(begin, end):
    """H1: query heads ``begin <= h < end`` (per-head patterns)."""
    return Mask("heads", [("begin", int(begin)), ("end", int(end))])


def keep_keys(flags="keep", groups="G"):
    """G3: per-key keep flags ``[B, G, Sk]`` (KV eviction)."""
    return Mask("keep", inputs=[_as_operand(flags, "keep", "tensor", "i1", ("B", groups, "Sk"))],
                keyword="key")


def keep_queries(flags="route", groups="G"):
    """G2: per-query keep flags ``[B, G, Sq]`` (heads a token routes to)."""
    return Mask("keep", inputs=[_as_operand(flags, "route", "tensor", "i1", ("B", groups, "Sq"))],
                keyword="query")


class _Function:
    """A Python function to trace into a region, and where it was written."""

    def __init__(self, fn, captures, where):
        if not callable(fn):
            raise TypeError(f"expected a function, got {type(fn).__name__}")
        self.fn, self.where = fn, where
        self.captures = list(captures) if captures is not None else _closure_operands(fn)


def _closure_operands(fn):
    """The Operands a function refers to through its closure or globals."""
    found, seen = [], set()
    code = getattr(fn, "__code__", None)
    if code is None:
        return found
    values = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:
            pass
    values += [fn.__globals__[n] for n in code.co_names if n in fn.__globals__]
    for value in values:
        if isinstance(value, Operand) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return found


class _Predicate(Mask):
    def __init__(self, function):
        super().__init__("predicate")
        self.function = function


def predicate(fn, captures=None):
    """M13: a mask written as ``fn(b, h, q, k) -> condition``. Operands it
    reads (attn.tensor / attn.scalar objects in its closure, or `captures`)
    become runtime inputs."""
    return _Predicate(_Function(fn, captures, trace.user_frame()))


# -- score modifiers ------------------------------------------------------------

class Score(_Attr):
    pass


def temperature(tau="tau", shape="B Hq Sq"):
    """S1: multiply scores by `tau`: a float or scalar operand (one value),
    or a tensor of `shape` (``1`` broadcasts a dimension)."""
    if isinstance(tau, (float, int)):
        return Score("temperature", inputs=[scalar("tau", "f32", default=float(tau))])
    if isinstance(tau, Operand) and not tau.is_tensor:
        return Score("temperature", inputs=[tau])
    return Score("temperature", inputs=[_as_operand(tau, "tau", "tensor", "f32", _parse_dims(shape))])


def bias(values="bias", shape="B Hq Sq Sk"):
    """S2: add a bias broadcast from `shape` (no Sq x Sk buffer for e.g.
    ``"1 1 1 Sk"``)."""
    return Score("bias", inputs=[_as_operand(values, "bias", "tensor", "f32", _parse_dims(shape))])


def alibi(slopes="slopes"):
    """S3: ``s + slopes[h] * (j - i)``."""
    return Score("alibi", inputs=[_as_operand(slopes, "slopes", "tensor", "f32", ("Hq",))])


def rel_pos(table="table", max_distance=128, buckets=0):
    """S4: ``s + table[h, clamp(i - j)]`` (T5 buckets when buckets > 0)."""
    width = buckets if buckets else 2 * max_distance + 1
    return Score("rel_pos", [("max_distance", int(max_distance)),
                             ("buckets", int(buckets) if buckets else None)],
                 inputs=[_as_operand(table, "table", "tensor", "f32", ("Hq", width))])


def softcap(cap):
    """S5: ``cap * tanh(s / cap)``."""
    return Score("softcap", [("cap", _param(float(cap) if isinstance(cap, int) else cap, "cap", "f32"))])


def decay(gamma="gamma", distance="abs", grid=None):
    """S6: ``s + log(gamma[h]) * dist(i, j)`` (abs, or manhattan on `grid`)."""
    if distance not in ("abs", "manhattan"):
        raise ValueError(f"distance must be abs or manhattan, got {distance!r}")
    return Score("decay", [("distance", _Keyword(distance)),
                           ("grid", None if grid is None else list(grid))],
                 inputs=[_as_operand(gamma, "gamma", "tensor", "f32", ("Hq",))])


class _ScoreFn(Score):
    def __init__(self, function):
        super().__init__("score_fn")
        self.function = function


def score_fn(fn, captures=None):
    """S7: a score modifier written as ``fn(s, b, h, q, k) -> score``."""
    return _ScoreFn(_Function(fn, captures, trace.user_frame()))


# -- normalizations and gates ---------------------------------------------------

class Norm(_Attr):
    pass


def softmax():
    """N1 (the default)."""
    return Norm("softmax")


def sink_softmax(logit=0.0):
    """N2: an extra logit in the denominator (0.0: off-by-one softmax); a
    float, a scalar operand, or a per-head tensor ``Hq``."""
    if isinstance(logit, np.ndarray) or isinstance(logit, Operand) and logit.is_tensor:
        return Norm("sink_softmax", [("logit", _as_operand(logit, "sink", "tensor", "f32", ("Hq",)))])
    return Norm("sink_softmax", [("logit", _param(logit, "logit", "f32"))])


def clipped_softmax(zeta, gamma):
    """N3: ``clip((zeta - gamma) * softmax + gamma, 0, 1)``."""
    return Norm("clipped_softmax", [("zeta", _param(zeta, "zeta", "f32")),
                                    ("gamma", _param(gamma, "gamma", "f32"))])


def affine_softmax(alpha="alpha", beta="beta", shape="B Hq Sq"):
    """N4: ``alpha * softmax + beta`` (beta spread over the allowed keys)."""
    dims = _parse_dims(shape)
    return Norm("affine_softmax", inputs=[_as_operand(alpha, "alpha", "tensor", "f32", dims),
                                          _as_operand(beta, "beta", "tensor", "f32", dims)])


def sigmoid(bias=0.0):
    """N5: ``sigmoid(s + bias)`` per element, no row normalization."""
    return Norm("sigmoid", [("bias", _param(bias, "bias", "f32"))])


class Gate(_Attr):
    pass


def output_gate(gate="gate", activation="sigmoid", granularity="element"):
    """G1: ``O * act(gate)``, gate ``[B, Sq, Hq, Dv]`` (element) or
    ``[B, Sq, Hq]`` (head); activation sigmoid or linear."""
    if activation not in ("sigmoid", "linear") or granularity not in ("element", "head"):
        raise ValueError("output_gate: activation is sigmoid|linear, granularity element|head")
    dims = ("B", "Sq", "Hq", "Dv") if granularity == "element" else ("B", "Sq", "Hq")
    return Gate("output_gate", [("activation", _Keyword(activation)),
                                ("granularity", _Keyword(granularity))],
                inputs=[_as_operand(gate, "gate", "tensor", "f32", dims)])

"""Selection ops in Python specs: their results feed the attention's masks
and gates.

    sel = attn.indexer_topk("qi", "ki", "w", k=64, mask=attn.causal())
    spec = attn.Spec(attn.causal() & attn.tokens(sel))         # D1

    heads = attn.head_topk("router", k=2)
    spec = attn.Spec(attn.causal() & attn.keep_queries(heads.keep, groups="Hq"),
                     gate=attn.output_gate(heads.weights, "linear", "head"))  # G2

A spec with selections compiles to one function (the selection ops, then
the attention) and runs through the tensor ABI: one thread, results
returned by the kernel (the threaded kernel ABI takes one attention per
function; see docs/Rationale.md).
"""

import numpy as np

from attn import attrs, builders, reference


class SelectionResult:
    """One result of a selection op, usable where a mask or gate reads a
    tensor operand."""

    is_tensor = True
    default = None

    def __init__(self, selection, index, dims, dtype, name):
        self.selection, self.index = selection, index
        self.dims, self.dtype, self.name = tuple(dims), dtype, name
        self.kind = "tensor"


class Selection:
    """A selection op: its tensor inputs (operands of the spec function), an
    optional candidate mask, and its results."""

    op = ""

    def __init__(self, inputs, mask, results):
        self.inputs = inputs            # [(Operand, dims)]
        self.mask = mask
        if mask is not None and not isinstance(mask, builders.Mask):
            raise TypeError(f"{self.op}: mask must be an attn mask")
        if mask is not None and any(isinstance(a, builders._Predicate) for a in mask.walk()):
            raise ValueError(f"{self.op}: the candidate mask cannot be a traced predicate")
        self.results = [SelectionResult(self, n, dims, dtype, f"{self.op}.{name}")
                        for n, (name, dims, dtype) in enumerate(results)]

    def mask_uses(self):
        return self.mask.operand_uses() if self.mask is not None else []

    def text(self, names, types, result_names, result_types):
        """The op's line: `names`/`types` of its inputs then its mask
        operands, in order."""
        raise NotImplementedError

    def mask_text(self, names, types):
        if self.mask is None:
            return ""
        operands = names[len(self.inputs):]
        text = f" mask({self.mask.text()}"
        if operands:
            text += ", " + ", ".join(operands) + " : " + ", ".join(types[len(self.inputs):])
        return text + ")"

    def evaluate(self, value_of):
        """The float64 reference results (a list of arrays); `value_of(x)`
        is the value of an input (an operand or an earlier result)."""
        raise NotImplementedError


class IndexerTopk(Selection):
    """D1: per query, the k keys of largest indexer score
    sum_t w[b,i,t] relu(qi[b,i,t] . ki[b,j]) among those `mask` allows.
    D2: with `key_block = n`, `ki` holds pooled blocks of n keys (see
    attn.pool) and the indices are block indices; with `within=` an earlier
    block selection and `block_size=`, only keys of its listed blocks are
    candidates."""

    op = "indexer_topk"

    def __init__(self, qi, ki, w, k, mask=None, key_block=1, within=None, block_size=None):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"indexer_topk: k must be a positive int, got {k!r}")
        if not isinstance(key_block, (int, np.integer)) or key_block < 1:
            raise ValueError(f"indexer_topk: key_block must be a positive int, got {key_block!r}")
        if (within is None) != (block_size is None):
            raise ValueError("indexer_topk: within= and block_size= go together")
        if within is not None and not isinstance(within, IndexerTopk):
            raise TypeError("indexer_topk: within= takes an earlier attn.indexer_topk")
        self.k, self.key_block, self.block_size = int(k), int(key_block), block_size
        keys = "Sk" if key_block == 1 else "KB"
        ki = builders._as_operand(ki, "ki", "tensor", "f32", ("B", keys, "Di"))
        inputs = [(builders._as_operand(qi, "qi", "tensor", "f32", ("B", "Sq", "T", "Di")),
                   ("B", "Sq", "T", "Di")),
                  (ki, getattr(ki, "dims", ("B", keys, "Di"))),
                  (builders._as_operand(w, "w", "tensor", "f32", ("B", "Sq", "T")),
                   ("B", "Sq", "T"))]
        self.within = within
        if within is not None:
            inputs += [(within.counts, within.counts.dims), (within.indices, within.indices.dims)]
        super().__init__(inputs, mask, [("counts", ("B", 1, "Sq"), "i32"),
                                        ("indices", ("B", 1, "Sq", self.k), "i32")])
        self.counts, self.indices = self.results

    def text(self, names, types, result_names, result_types):
        within = ""
        if self.within is not None:
            within = f" within({names[3]}, {names[4]} : {types[3]}, {types[4]})"
        attributes = []
        if self.key_block != 1:
            attributes.append(f"key_block = {self.key_block} : i64")
        if self.block_size is not None:
            attributes.append(f"block_size = {int(self.block_size)} : i64")
        attrs_text = " {" + ", ".join(attributes) + "}" if attributes else ""
        return (f"{result_names[0]}, {result_names[1]} = attn.indexer_topk {names[0]}, "
                f"{names[1]}, {names[2]} k = {self.k}{within}{self.mask_text(names, types)}"
                f"{attrs_text} : {types[0]}, {types[1]}, {types[2]} -> "
                f"{result_types[0]}, {result_types[1]}")

    def evaluate(self, value_of):
        qi, ki, w = (value_of(x) for x, _ in self.inputs[:3])
        mask_values = [value_of(u) for u in self.mask_uses()]
        mask = attrs.parse(self.mask.text()) if self.mask is not None else None
        within = {}
        if self.within is not None:
            within = dict(block_counts=value_of(self.within.counts),
                          block_indices=value_of(self.within.indices),
                          block_size=int(self.block_size))
        counts, indices, _ = reference.indexer_topk(qi, ki, w, self.k, mask, mask_values,
                                                    key_block=self.key_block, **within)
        return [counts, indices]


class Pool(Selection):
    """attn.pool: blocks of `block` entries along `dim`, mean or max (the
    block representatives of D2)."""

    op = "pool"

    def __init__(self, x, dim, block, kind="mean", dims=("B", "Sk", "Di")):
        if kind not in ("mean", "max"):
            raise ValueError(f"pool: kind must be mean or max, got {kind!r}")
        x = builders._as_operand(x, "x", "tensor", "f32", dims)
        dims = tuple(getattr(x, "dims", dims))
        if not 0 <= dim < len(dims):
            raise ValueError(f"pool: dim {dim} is not a dimension of {dims}")
        self.dim, self.block, self.kind = int(dim), int(block), kind
        pooled = dims[:dim] + (f"{dims[dim]}_pooled{block}",) + dims[dim + 1:]
        super().__init__([(x, dims)], None, [("output", pooled, "f32")])
        self.output = self.results[0]
        self.dims = pooled  # usable as an input with these dims

    def text(self, names, types, result_names, result_types):
        return (f"{result_names[0]} = attn.pool {names[0]} dim = {self.dim} block = "
                f"{self.block} kind = {self.kind} : {types[0]} -> {result_types[0]}")

    def evaluate(self, value_of):
        return [reference.pool(value_of(self.inputs[0][0]), self.dim, self.block, self.kind)]


class AttentionInput:
    """The attention's own Q or K as a selection op's input."""

    def __init__(self, role):
        self.role, self.name = role, role


QUERY, KEY, VALUE = AttentionInput("q"), AttentionInput("k"), AttentionInput("v")


class _BlockSelection(Selection):
    """A block selection over the attention's own Q and K: counts
    [B, Hq, QB] and ascending key block lists [B, Hq, QB, width] for
    attn.blocks(selection)."""

    def __init__(self, q_block, k_block, width, mask, results=None, **positive):
        for what, x in dict(q_block=q_block, k_block=k_block, **positive).items():
            if not isinstance(x, (int, np.integer)) or isinstance(x, bool) or x < 1:
                raise ValueError(f"{self.op}: {what} must be a positive int, got {x!r}")
        self.q_block, self.k_block = int(q_block), int(k_block)
        super().__init__([(QUERY, ()), (KEY, ())], mask,
                         results or [("counts", ("B", "Hq", "QB"), "i32"),
                                     ("indices", ("B", "Hq", "QB", width), "i32")])
        if len(self.results) == 2:
            self.counts, self.indices = self.results

    def _text(self, names, types, result_names, result_types, params, attributes=""):
        return (f"{', '.join(result_names)} = attn.{self.op} {names[0]}, {names[1]} "
                f"blocks({self.q_block}, {self.k_block}) {params}"
                f"{self.mask_text(names, types)}{attributes} : {types[0]}, {types[1]} -> "
                f"{', '.join(result_types)}")

    def _mask(self, value_of):
        mask = attrs.parse(self.mask.text()) if self.mask is not None else None
        return mask, [value_of(u) for u in self.mask_uses()]


class BlockTopk(_BlockSelection):
    """D3 block routing: mean- or max-pooled query blocks of the attention's
    Q score pooled key blocks of its K; each query block keeps the `k` best
    key blocks the mask allows somewhere (with `include_local`, always the
    block holding its last row). Use with attn.blocks(selection)."""

    op = "block_topk"

    def __init__(self, q_block, k_block, k, pool="mean", mask=None, include_local=False):
        if pool not in ("mean", "max"):
            raise ValueError(f"block_topk: pool must be mean or max, got {pool!r}")
        super().__init__(q_block, k_block, k, mask, k=k)
        self.k, self.pool, self.include_local = int(k), pool, bool(include_local)

    def text(self, names, types, result_names, result_types):
        return self._text(names, types, result_names, result_types,
                          f"k = {self.k} pool = {self.pool}",
                          " {include_local}" if self.include_local else "")

    def evaluate(self, value_of):
        mask, values = self._mask(value_of)
        return list(reference.block_topk(value_of(QUERY), value_of(KEY), self.q_block,
                                         self.k_block, self.k, self.pool, mask, values,
                                         self.include_local))


class HipTopk(_BlockSelection):
    """D4 hierarchical pruning (HiP): per query block, the candidate key
    blocks (those the mask allows somewhere) are searched as a tree: ranges
    of them split into `branch` parts, each scored by the mean-pooled query
    block . the first key of its first block, the `k` best parts kept and
    split again until `k` single blocks remain. Use with
    attn.blocks(selection)."""

    op = "hip_topk"

    def __init__(self, q_block, k_block, k, branch=2, mask=None):
        if not isinstance(branch, (int, np.integer)) or branch < 2:
            raise ValueError(f"hip_topk: branch must be an int >= 2, got {branch!r}")
        super().__init__(q_block, k_block, k, mask, k=k)
        self.k, self.branch = int(k), int(branch)

    def text(self, names, types, result_names, result_types):
        return self._text(names, types, result_names, result_types,
                          f"k = {self.k} branch = {self.branch}")

    def evaluate(self, value_of):
        mask, values = self._mask(value_of)
        return list(reference.hip_topk(value_of(QUERY), value_of(KEY), self.q_block,
                                       self.k_block, self.k, self.branch, mask, values))


class ThresholdBlocks(_BlockSelection):
    """D5 cumulative-threshold selection (FlexPrefill): per query block, each
    candidate key block's attention mass estimated from the block's last
    query against the mean-pooled key block; blocks largest mass first
    until `gamma` of the mass is covered (at least `min_blocks`): a
    data-dependent number of blocks. Use with attn.blocks(selection)."""

    op = "threshold_blocks"

    def __init__(self, q_block, k_block, gamma=0.9, min_blocks=1, mask=None):
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) \
                or not 0.0 < gamma <= 1.0:
            raise ValueError(f"threshold_blocks: gamma must be in (0, 1], got {gamma!r}")
        super().__init__(q_block, k_block, "KB", mask, min_blocks=min_blocks)
        self.gamma, self.min_blocks = float(gamma), int(min_blocks)

    def text(self, names, types, result_names, result_types):
        return self._text(names, types, result_names, result_types, f"gamma = {self.gamma!r}",
                          f" {{min_blocks = {self.min_blocks} : i64}}")

    def evaluate(self, value_of):
        mask, values = self._mask(value_of)
        return list(reference.threshold_blocks(value_of(QUERY), value_of(KEY), self.q_block,
                                               self.k_block, self.gamma, self.min_blocks,
                                               mask, values))


class PyramidLevels(_BlockSelection):
    """D6 pyramid levels (PSA): per query block, each candidate key block's
    estimated attention mass (mean-pooled query block against mean-pooled
    key block) picks the finest level l whose threshold it reaches (keys
    read in groups of 2^l); below the last threshold the block is dropped.
    Use with attn.pyramid(selection)."""

    op = "pyramid_levels"

    def __init__(self, q_block, k_block, thresholds, mask=None):
        thresholds = [float(t) for t in thresholds]
        if not thresholds or any(not 0.0 < t <= 1.0 for t in thresholds) or \
                any(a <= b for a, b in zip(thresholds, thresholds[1:])):
            raise ValueError("pyramid_levels: thresholds must be strictly decreasing in "
                             f"(0, 1], got {thresholds!r}")
        if isinstance(k_block, (int, np.integer)) and 2 ** (len(thresholds) - 1) > k_block:
            raise ValueError(f"pyramid_levels: {len(thresholds)} levels need k_block >= "
                             f"{2 ** (len(thresholds) - 1)}, got {k_block}")
        super().__init__(q_block, k_block, None, mask,
                         results=[("levels", ("B", "Hq", "QB", "KB"), "i8")])
        self.thresholds, self.max_level = thresholds, len(thresholds) - 1
        self.levels = self.results[0]

    def text(self, names, types, result_names, result_types):
        listed = ", ".join(repr(t) for t in self.thresholds)
        return self._text(names, types, result_names, result_types, f"thresholds = [{listed}]")

    def evaluate(self, value_of):
        mask, values = self._mask(value_of)
        return [reference.pyramid_levels(value_of(QUERY), value_of(KEY), self.q_block,
                                         self.k_block, self.thresholds, mask, values)]


class ValueTopk(Selection):
    """G4 value-derived dynamic mask: per (b, key head) the k keys with the
    largest V[b,g,j] . weight[g] among those `mask` allows for some query,
    shared by all queries. Use with attn.tokens(selection)."""

    op = "value_topk"

    def __init__(self, weight, k, mask=None):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"value_topk: k must be a positive int, got {k!r}")
        self.k = int(k)
        inputs = [(VALUE, ()),
                  (builders._as_operand(weight, "weight", "tensor", "f32", ("Hkv", "Dv")),
                   ("Hkv", "Dv"))]
        super().__init__(inputs, mask, [("counts", ("B", "Hkv", 1), "i32"),
                                        ("indices", ("B", "Hkv", 1, self.k), "i32"),
                                        ("scores", ("B", "Hkv", "Sk"), "f32")])
        self.counts, self.indices, self.scores = self.results

    def text(self, names, types, result_names, result_types):
        return (f"{', '.join(result_names)} = attn.value_topk {names[0]}, {names[1]} "
                f"k = {self.k}{self.mask_text(names, types)} : {types[0]}, {types[1]} -> "
                f"{', '.join(result_types)}")

    def evaluate(self, value_of):
        mask_values = [value_of(u) for u in self.mask_uses()]
        mask = attrs.parse(self.mask.text()) if self.mask is not None else None
        return list(reference.value_topk(value_of(VALUE), value_of(self.inputs[1][0]),
                                         self.k, mask, mask_values))


class QueryTopk(Selection):
    """D7 query-aware token selection: guiding queries (a tensor operand
    [B, Hq, Sg, D]) rank the attention's keys by the attention mass they
    give them; at most `max_tokens` are kept, with `threshold` only as many
    as hold that fraction of the mass. Shared by every query of the
    attention: use with attn.tokens(selection)."""

    op = "query_topk"

    def __init__(self, guide, max_tokens, threshold=None):
        if not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
            raise ValueError(f"query_topk: max_tokens must be a positive int, got {max_tokens!r}")
        if threshold is not None and not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"query_topk: threshold must be in (0, 1], got {threshold!r}")
        self.max_tokens = int(max_tokens)
        self.threshold = None if threshold is None else float(threshold)
        inputs = [(builders._as_operand(guide, "guide", "tensor", "f32", ("B", "Hq", "Sg", "D")),
                   ("B", "Hq", "Sg", "D")), (KEY, ())]
        super().__init__(inputs, None, [("counts", ("B", 1, 1), "i32"),
                                        ("indices", ("B", 1, 1, self.max_tokens), "i32")])
        self.counts, self.indices = self.results

    def text(self, names, types, result_names, result_types):
        threshold = f" {{threshold = {self.threshold!r}}}" if self.threshold is not None else ""
        return (f"{result_names[0]}, {result_names[1]} = attn.query_topk {names[0]}, {names[1]} "
                f"max_tokens = {self.max_tokens}{threshold} : {types[0]}, {types[1]} -> "
                f"{result_types[0]}, {result_types[1]}")

    def evaluate(self, value_of):
        return list(reference.query_topk(value_of(self.inputs[0][0]), value_of(KEY),
                                         self.max_tokens, self.threshold))


class HeadTopk(Selection):
    """G2: per token, the k heads of largest router logit; `keep` flags
    [B, Hq, Sq] and softmax `weights` over the kept heads [B, Sq, Hq]."""

    op = "head_topk"

    def __init__(self, logits, k):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"head_topk: k must be a positive int, got {k!r}")
        self.k = int(k)
        inputs = [(builders._as_operand(logits, "router", "tensor", "f32", ("B", "Sq", "Hq")),
                   ("B", "Sq", "Hq"))]
        super().__init__(inputs, None, [("keep", ("B", "Hq", "Sq"), "i1"),
                                        ("weights", ("B", "Sq", "Hq"), "f32")])
        self.keep, self.weights = self.results

    def text(self, names, types, result_names, result_types):
        return (f"{result_names[0]}, {result_names[1]} = attn.head_topk {names[0]} k = {self.k} : "
                f"{types[0]} -> {result_types[0]}, {result_types[1]}")

    def evaluate(self, value_of):
        keep, weights = reference.head_topk(value_of(self.inputs[0][0]), self.k)
        return [keep, weights]


def indexer_topk(qi="qi", ki="ki", w="w", k=64, mask=None, key_block=1, within=None,
                 block_size=None):
    """D1/D2 indexer top-k (see IndexerTopk); use the result with
    attn.tokens."""
    return IndexerTopk(qi, ki, w, k, mask, key_block, within, block_size)


def pool(x="ki", dim=1, block=64, kind="mean", dims=("B", "Sk", "Di")):
    """attn.pool of a tensor operand (named `x`, of `dims`) or of an earlier
    result; `.output` feeds attn.indexer_topk(ki=..., key_block=block)."""
    return Pool(x, dim, block, kind, dims).output


def head_topk(logits="router", k=2):
    """G2 mixture of heads (see HeadTopk): `.keep` for attn.keep_queries,
    `.weights` for attn.output_gate(..., "linear", "head")."""
    return HeadTopk(logits, k)


def block_topk(q_block=64, k_block=64, k=16, pool="mean", mask=None, include_local=False):
    """D3 block routing over the attention's Q and K (see BlockTopk)."""
    return BlockTopk(q_block, k_block, k, pool, mask, include_local)


def hip_topk(q_block=64, k_block=64, k=16, branch=2, mask=None):
    """D4 hierarchical pruning over the attention's Q and K (see HipTopk)."""
    return HipTopk(q_block, k_block, k, branch, mask)


def threshold_blocks(q_block=64, k_block=64, gamma=0.9, min_blocks=1, mask=None):
    """D5 cumulative-threshold block selection (see ThresholdBlocks)."""
    return ThresholdBlocks(q_block, k_block, gamma, min_blocks, mask)


def pyramid_levels(q_block=64, k_block=64, thresholds=(0.05, 0.01, 0.001), mask=None):
    """D6 pyramid levels over the attention's Q and K (see PyramidLevels)."""
    return PyramidLevels(q_block, k_block, thresholds, mask)


def value_topk(weight="weight", k=256, mask=None):
    """G4 over the attention's own V (see ValueTopk)."""
    return ValueTopk(weight, k, mask)


def query_topk(guide="guide", max_tokens=1024, threshold=None):
    """D7 over the attention's own K (see QueryTopk)."""
    return QueryTopk(guide, max_tokens, threshold)


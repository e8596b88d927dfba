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

    def evaluate(self, values):
        """The float64 reference results (a list of arrays)."""
        raise NotImplementedError


class IndexerTopk(Selection):
    """D1: per query, the k keys of largest indexer score
    sum_t w[b,i,t] relu(qi[b,i,t] . ki[b,j]) among those `mask` allows."""

    op = "indexer_topk"

    def __init__(self, qi, ki, w, k, mask=None):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"indexer_topk: k must be a positive int, got {k!r}")
        self.k = int(k)
        inputs = [(builders._as_operand(qi, "qi", "tensor", "f32", ("B", "Sq", "T", "Di")),
                   ("B", "Sq", "T", "Di")),
                  (builders._as_operand(ki, "ki", "tensor", "f32", ("B", "Sk", "Di")),
                   ("B", "Sk", "Di")),
                  (builders._as_operand(w, "w", "tensor", "f32", ("B", "Sq", "T")),
                   ("B", "Sq", "T"))]
        super().__init__(inputs, mask, [("counts", ("B", 1, "Sq"), "i32"),
                                        ("indices", ("B", 1, "Sq", self.k), "i32")])
        self.counts, self.indices = self.results

    def text(self, names, types, result_names, result_types):
        return (f"{result_names[0]}, {result_names[1]} = attn.indexer_topk {names[0]}, "
                f"{names[1]}, {names[2]} k = {self.k}{self.mask_text(names, types)} : "
                f"{types[0]}, {types[1]}, {types[2]} -> {result_types[0]}, {result_types[1]}")

    def evaluate(self, values):
        qi, ki, w = (values[op.name] for op, _ in self.inputs)
        mask_values = [values[u.name] for u in self.mask_uses()]
        mask = attrs.parse(self.mask.text()) if self.mask is not None else None
        counts, indices, _ = reference.indexer_topk(qi, ki, w, self.k, mask, mask_values)
        return [counts, indices]


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

    def evaluate(self, values):
        keep, weights = reference.head_topk(values[self.inputs[0][0].name], self.k)
        return [keep, weights]


def indexer_topk(qi="qi", ki="ki", w="w", k=64, mask=None):
    """D1 indexer top-k (see IndexerTopk); use the result with attn.tokens."""
    return IndexerTopk(qi, ki, w, k, mask)


def head_topk(logits="router", k=2):
    """G2 mixture of heads (see HeadTopk): `.keep` for attn.keep_queries,
    `.weights` for attn.output_gate(..., "linear", "head")."""
    return HeadTopk(logits, k)

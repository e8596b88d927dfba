"""The float64 NumPy reference semantics of attn specs.

This module is normative: docs/Patterns.md and the compiled kernels are
checked against it. Masks are evaluated element by element over
(b, h, i, j) with broadcasting, so they are obviously correct rather than
fast; use small shapes.
"""

import numpy as np

from .attrs import Attr

# Defaults of the attribute parameters (see AttnAttrs.td).
_DEFAULTS = {"align": "top_left", "offset": 0, "right": 0}


class MaskContext:
    """Problem sizes and runtime operands of one mask evaluation.

    `operands` are the mask operands in printing order (Python ints or
    arrays); `?` parameters consume them in order.
    """

    def __init__(self, batch, heads, query_len, key_len, operands=()):
        self.batch, self.heads = batch, heads
        self.query_len, self.key_len = query_len, key_len
        self.operands = list(operands)
        self.next_operand = 0
        shape = (batch, heads, query_len, key_len)
        self.b, self.h, self.i, self.j = np.meshgrid(
            *[np.arange(n) for n in shape], indexing="ij", sparse=True)

    def take(self):
        value = self.operands[self.next_operand]
        self.next_operand += 1
        return value

    def param(self, attr, name):
        value = attr.params.get(name, _DEFAULTS.get(name))
        if value is None:
            value = self.take()
            if isinstance(value, np.ndarray) and value.ndim == 1:
                value = value.reshape(-1, 1, 1, 1)  # per batch
        return value

    def diagonal(self, attr):
        d = self.param(attr, "offset")
        if attr.params.get("align", "top_left") == "bottom_right":
            d = d + self.key_len - self.query_len
        return d


def _is_pow2(x):
    return (x > 0) & ((x & (x - 1)) == 0)


def _neighborhood_axis(x, y, n, k, d, s, causal):
    """NATTEN/GNA neighborhood along one axis (see #attn.neighborhood)."""
    same_group = (x % d) == (y % d)
    g = x % d
    ng = (n - g + d - 1) // d
    xg, yg = x // d, y // d
    if causal:
        return same_group & (yg <= xg) & (yg > xg - k)
    centre = np.minimum((xg // s) * s + (s - 1) // 2, ng - 1)
    start = np.clip(centre - k // 2, 0, ng - k)
    return same_group & (start <= yg) & (yg < start + k)


def _unravel(index, grid):
    coords = []
    for extent in reversed(grid):
        coords.append(index % extent)
        index = index // extent
    return list(reversed(coords))


def mask(attr, ctx):
    """Boolean array broadcastable to [B, Hq, Sq, Sk]: which pairs `attr`
    allows. `attr` is an attrs.Attr or None (full)."""
    b, h, i, j = ctx.b, ctx.h, ctx.i, ctx.j
    if attr is None:
        return np.ones((1, 1, 1, 1), bool)
    name = attr.name
    if name == "full":
        return np.ones((1, 1, 1, 1), bool)
    if name == "empty":
        return np.zeros((1, 1, 1, 1), bool)
    if name == "and":
        result = np.ones((1, 1, 1, 1), bool)
        for child in attr.children:
            result = result & mask(child, ctx)
        return result
    if name == "or":
        result = np.zeros((1, 1, 1, 1), bool)
        for child in attr.children:
            result = result | mask(child, ctx)
        return result
    if name == "not":
        return ~mask(attr.children[0], ctx)
    if name == "causal":
        return j <= i + ctx.diagonal(attr)
    if name == "window":
        left, right = ctx.param(attr, "left"), ctx.param(attr, "right")
        d = ctx.diagonal(attr)
        return (i + d - left <= j) & (j <= i + d + right)
    if name == "key_prefix":
        return j < ctx.param(attr, "len")
    if name == "query_prefix":
        return i < ctx.param(attr, "len")
    if name == "dilated":
        dilation = ctx.param(attr, "dilation")
        return ((i + ctx.diagonal(attr) - j) % dilation) == 0
    if name == "heads":
        return (attr.params["begin"] <= h) & (h < attr.params["end"])
    if name == "power":
        block = attr.params["block"]
        qb, kb = i // block, j // block
        return ((kb == qb) & (j <= i)) | ((kb < qb) & ((kb == 0) | _is_pow2(qb - kb)))
    if name == "neighborhood":
        grid = attr.params["grid"]
        rank = len(grid)
        kernel = attr.params["kernel"]
        dilation = attr.params.get("dilation", [1] * rank)
        stride = attr.params.get("stride", [1] * rank)
        causal = attr.params.get("causal", [False] * rank)
        xs, ys = _unravel(i, grid), _unravel(j, grid)
        result = np.ones((1, 1, 1, 1), bool)
        for axis in range(rank):
            result = result & _neighborhood_axis(
                xs[axis], ys[axis], grid[axis], kernel[axis], dilation[axis],
                stride[axis], causal[axis])
        return result
    if name == "varying_window":
        grid, window, ratio = (attr.params["grid"], attr.params["window"],
                               attr.params["ratio"])
        xs, ys = _unravel(i, grid), _unravel(j, grid)
        result = np.ones((1, 1, 1, 1), bool)
        for axis, (n, p) in enumerate(zip(grid, window)):
            context = p * ratio
            start = np.clip((xs[axis] // p) * p + p // 2 - context // 2, 0,
                            n - context)
            result = result & (start <= ys[axis]) & (ys[axis] < start + context)
        return result
    raise NotImplementedError(f"reference mask for #attn.{name}")


def dense_mask(attr, batch, heads, query_len, key_len, operands=()):
    """The mask as a dense [B, Hq, Sq, Sk] boolean array."""
    ctx = MaskContext(batch, heads, query_len, key_len, operands)
    return np.broadcast_to(mask(attr, ctx),
                           (batch, heads, query_len, key_len))

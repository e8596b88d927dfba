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

    def __init__(self, batch, heads, query_len, key_len, operands=(),
                 rows=None, predicate=None):
        self.batch, self.heads = batch, heads
        # `#attn.predicate`: a function of (b, h, i, j) arrays.
        self.predicate = predicate
        self.query_len, self.key_len = query_len, key_len
        self.operands = list(operands)
        self.next_operand = 0
        # Only the query rows [start, stop) are evaluated.
        self.rows = rows or (0, query_len)
        self.b, self.h, self.i, self.j = np.meshgrid(
            np.arange(batch), np.arange(heads), np.arange(*self.rows),
            np.arange(key_len), indexing="ij", sparse=True)

    def query_slice(self, array, axis):
        """The evaluated query rows of an operand indexed by query."""
        return np.take(array, np.arange(*self.rows), axis=axis)

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


def attention_topk(q, k, n, mask_attr=None, mask_operands=(), score=(), score_operands=(),
                   scale=None, layout=("bhsd", "bhsd"), predicate=None, score_fn=None,
                   with_scores=False):
    """The `topk` results of attn.attention (H2, H3): per (b, h, query) the
    n allowed keys of largest score after the modifiers (= largest
    probability), ties to the smaller key, ascending, -1 padded. Returns
    (counts [B, Hq, Sq], indices [B, Hq, Sq, n]) and, `with_scores`, the
    scores [B, Hq, Sq, Sk] (-inf where not allowed)."""
    q = _to_bhsd(np.asarray(q, np.float64), layout[0])
    s, allowed = _scores(q, k, mask_attr, mask_operands, score, score_operands, scale,
                         layout[1], predicate, score_fn)
    batch, heads, query_len, key_len = s.shape
    counts = np.zeros((batch, heads, query_len), np.int32)
    indices = np.full((batch, heads, query_len, n), -1, np.int32)
    keys = np.arange(key_len)
    for b in range(batch):
        for h in range(heads):
            for i in range(query_len):
                cand = keys[allowed[b, h, i]]
                order = cand[np.lexsort((cand, -s[b, h, i, cand]))][:n]
                counts[b, h, i] = len(order)
                indices[b, h, i, :len(order)] = np.sort(order)
    if with_scores:
        return counts, indices, np.where(allowed, s, -np.inf)
    return counts, indices


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
    if name == "document":
        qdoc, kdoc = np.asarray(ctx.take()), np.asarray(ctx.take())
        if attr.keyword == "ranges":
            ctx.take()  # the ids' ranges per 64 tokens (attn.id_ranges)
            ctx.take()
        qdoc = ctx.query_slice(qdoc, 1)
        return (qdoc[:, None, :, None] == kdoc[:, None, None, :])
    if name == "dense":
        flags = np.asarray(ctx.take(), bool)
        if attr.keyword == "tiles":
            ctx.take()  # the mask's tile summary (attn.mask_tiles)
        return ctx.query_slice(flags, 2)
    if name in ("tokens", "blocks"):
        counts = np.asarray(ctx.take()).astype(np.int64)    # [B, G, R]
        indices = np.asarray(ctx.take()).astype(np.int64)   # [B, G, R, N]
        width = ctx.key_len if name == "tokens" else -(-ctx.key_len // attr.params["k_block"])
        listed = np.arange(indices.shape[-1]) < counts[..., None]
        chosen = np.zeros(indices.shape[:3] + (width + 1,), bool)
        # Unlisted entries (and entries outside the keys) land in the spare
        # last column.
        target = np.where(listed & (indices >= 0) & (indices < width), indices, width)
        np.put_along_axis(chosen, target, True, axis=-1)
        chosen = np.repeat(chosen[..., :width], ctx.heads // chosen.shape[1], axis=1)
        if name == "tokens":
            rows = i if chosen.shape[2] > 1 else np.zeros_like(i)
            return chosen[b, h, rows, j]
        q_block, k_block = attr.params["q_block"], attr.params["k_block"]
        rows = i // q_block if chosen.shape[2] > 1 else np.zeros_like(i)
        return chosen[b, h, rows, j // k_block]
    if name == "pyramid":
        # As a leaf: the key block is read at some level (>= 0). attention()
        # then gives each group of allowed keys its mean score.
        levels = _pyramid_levels(attr, ctx.take(), ctx.heads)
        rows = i // attr.params["q_block"] if levels.shape[2] > 1 else np.zeros_like(i)
        blocks = j // attr.params["k_block"]
        inside = blocks < levels.shape[3]
        level = levels[b, h, rows, np.minimum(blocks, levels.shape[3] - 1)]
        ctx.pyramid = (attr, levels)
        return inside & (level >= 0)
    if name == "predicate":
        if ctx.predicate is None:
            raise NotImplementedError("reference of #attn.predicate needs "
                                      "the predicate as a Python function")
        return np.asarray(ctx.predicate(b, h, i, j), bool)
    if name == "keep":
        flags = np.asarray(ctx.take(), bool)  # [B, G, S], G divides Hq
        flags = np.repeat(flags, ctx.heads // flags.shape[1], axis=1)
        if attr.keyword == "query":
            return ctx.query_slice(flags, 2)[:, :, :, None]
        return flags[:, :, None, :]
    raise NotImplementedError(f"reference mask for #attn.{name}")


def _pyramid_levels(attr, levels, heads):
    """#attn.pyramid levels [B, G, QB or 1, KB] repeated to the query heads,
    levels above max_level read as max_level."""
    levels = np.minimum(np.asarray(levels).astype(np.int64), attr.params["max_level"])
    return np.repeat(levels, heads // levels.shape[1], axis=1)


def _pyramid_scores(s, allowed, attr, levels):
    """D6: at level l a key block is read in groups of 2^l keys (from the
    block start); the keys of a group the mask allows (with finite scores)
    all take their mean score. For softmax: one key with the mean K and V
    of those keys, its score raised by ln(their number)."""
    s = s.copy()
    batch, heads, query_len, key_len = s.shape
    q_block, k_block = attr.params["q_block"], attr.params["k_block"]
    for qb in range(-(-query_len // q_block)):
        rows = slice(qb * q_block, min((qb + 1) * q_block, query_len))
        row_levels = levels[:, :, qb if levels.shape[2] > 1 else 0]
        for kb in range(min(-(-key_len // k_block), levels.shape[3])):
            for b in range(batch):
                for h in range(heads):
                    level = row_levels[b, h, kb]
                    if level < 0:
                        continue
                    end = min((kb + 1) * k_block, key_len)
                    for g0 in range(kb * k_block, end, 2 ** level):
                        cols = slice(g0, min(g0 + 2 ** level, end))
                        ok = allowed[b, h, rows, cols]
                        count = ok.sum(axis=-1, keepdims=True)
                        mean = np.where(ok, s[b, h, rows, cols], 0.0).sum(
                            axis=-1, keepdims=True) / np.maximum(count, 1)
                        s[b, h, rows, cols] = np.where(ok, mean, s[b, h, rows, cols])
    return s


def dense_mask(attr, batch, heads, query_len, key_len, operands=(),
               predicate=None):
    """The mask as a dense [B, Hq, Sq, Sk] boolean array."""
    ctx = MaskContext(batch, heads, query_len, key_len, operands,
                      predicate=predicate)
    return np.broadcast_to(mask(attr, ctx),
                           (batch, heads, query_len, key_len))


def _group_len(length, r, groups):
    """Tokens of residue group r: positions r, r + groups, ... below length."""
    return max(0, (length - r + groups - 1) // groups)


def allowed_pairs(attr, batch, heads, query_len, key_len, operands=(),
                  rows_per_chunk=256, residue_groups=None):
    """Number of allowed (b, h, i, j), evaluated in chunks of query rows so
    that no Sq x Sk array exists. With `residue_groups` R, the mask is in
    group coordinates of each of the R groups (see `attention`)."""
    if residue_groups and residue_groups > 1:
        return sum(allowed_pairs(attr, batch, heads,
                                 _group_len(query_len, r, residue_groups),
                                 _group_len(key_len, r, residue_groups),
                                 operands, rows_per_chunk)
                   for r in range(residue_groups))
    total = 0
    for start in range(0, query_len, rows_per_chunk):
        stop = min(start + rows_per_chunk, query_len)
        ctx = MaskContext(batch, heads, query_len, key_len, operands,
                          rows=(start, stop))
        chunk = np.broadcast_to(mask(attr, ctx),
                                (batch, heads, stop - start, key_len))
        total += int(np.count_nonzero(chunk))
    return total


def rel_pos_bucket(rel, buckets, max_distance):
    """T5-style bucket of the relative position rel = i - j: half the
    buckets per sign; small distances exact, larger ones logarithmic up to
    max_distance."""
    half = buckets // 2
    base = np.where(rel < 0, half, 0)
    n = np.abs(rel)
    exact = max(half // 2, 1)
    with np.errstate(divide="ignore"):
        large = exact + np.floor(np.log(np.maximum(n, 1) / exact)
                                 / np.log(max_distance / exact)
                                 * (half - exact)).astype(np.int64)
    large = np.minimum(large, half - 1)
    return base + np.where(n < exact, n, large)


def _to_bhsd(x, layout):
    return np.swapaxes(x, 1, 2) if layout == "bshd" else x


def _broadcast_rows(value, batch, heads, query_len):
    """A scalar or [B|1, H|1, Sq|1] value as [B, H, Sq, 1]."""
    value = np.asarray(value, np.float64)
    if value.ndim == 0:
        return value
    return np.broadcast_to(value, (batch, heads, query_len))[..., None]


def _scores(q, k, mask_attr, mask_operands, score, score_operands, scale, kv_layout,
            predicate, score_fn):
    """The scores after the modifiers [B, Hq, Sq, Sk] and the allowed pairs
    (mask and finite score) of a BHSD query against K in `kv_layout`."""
    k = _to_bhsd(np.asarray(k, np.float64), kv_layout)
    batch, heads, query_len, dim = q.shape
    key_heads, key_len = k.shape[1], k.shape[2]
    group = heads // key_heads
    k = np.repeat(k, group, axis=1)
    if scale is None:
        scale = 1.0 / np.sqrt(dim)
    s = scale * np.einsum("bhid,bhjd->bhij", q, k)
    i = np.arange(query_len)[:, None]
    j = np.arange(key_len)[None, :]
    h = np.arange(heads)[None, :, None, None]
    operands = list(score_operands)
    for mod in score:
        name = mod.name
        if name == "temperature":
            s = s * _broadcast_rows(operands.pop(0), batch, heads, query_len)
        elif name == "bias":
            s = s + np.asarray(operands.pop(0), np.float64)
        elif name == "alibi":
            slopes = np.asarray(operands.pop(0), np.float64)
            s = s + slopes[None, :, None, None] * (j - i)
        elif name == "rel_pos":
            table = np.asarray(operands.pop(0), np.float64)
            m = mod.params["max_distance"]
            buckets = mod.params.get("buckets", 0)
            if buckets:
                s = s + table[h, rel_pos_bucket(i - j, buckets, m)]
            else:
                s = s + table[h, np.clip(i - j, -m, m) + m]
        elif name == "softcap":
            cap = mod.params.get("cap")
            cap = float(operands.pop(0)) if cap is None else cap
            s = cap * np.tanh(s / cap)
        elif name == "decay":
            gamma = np.asarray(operands.pop(0), np.float64)
            if mod.params.get("distance") == "manhattan":
                grid = mod.params["grid"]
                dist = sum(np.abs(x - y) for x, y in
                           zip(_unravel(i, grid), _unravel(j, grid)))
            else:
                dist = np.abs(i - j)
            s = s + np.log(gamma)[None, :, None, None] * dist
        elif name == "score_fn" and score_fn is not None:
            b = np.arange(batch)[:, None, None, None]
            s = np.asarray(score_fn(s, b, h, i, j), np.float64)
        else:
            raise NotImplementedError(f"reference score modifier #attn.{name}")
    ctx = MaskContext(batch, heads, query_len, key_len, mask_operands,
                      predicate=predicate)
    allowed = np.broadcast_to(mask(mask_attr, ctx),
                              (batch, heads, query_len, key_len)) & (s > -np.inf)
    if getattr(ctx, "pyramid", None) is not None:
        s = _pyramid_scores(s, allowed, *ctx.pyramid)
    return s, allowed


def attention(q, k, v, mask_attr=None, mask_operands=(), score=(),
              score_operands=(), norm=None, norm_operands=(), gate=None,
              gate_operands=(), scale=None, layout=("bhsd", "bhsd"),
              cu_seqlens=None, predicate=None, score_fn=None, paged=None,
              residue_groups=None):
    """float64 reference forward. Returns (O in the query layout, LSE).

    With `residue_groups` R (bhsd/bshd only), the op is R independent
    attentions: group r holds the queries and keys at positions r, r + R,
    ..., and the mask and modifiers see positions and lengths within the
    group; pairs of different groups are never allowed.

    `predicate(b, h, i, j)` and `score_fn(s, b, h, i, j)` are the functions
    `#attn.predicate` and `#attn.score_fn` stand for, called on broadcast
    NumPy arrays.

    With the `thd` layout, q/k/v are packed [T, H, D] and `cu_seqlens` =
    (cu_q, cu_k) gives the sequence boundaries; every sequence is an
    independent problem of batch 1 (LSE is then [Hq, Tq]).

    With the `paged` K/V layout, k and v are page pools [P, page, Hkv, D]
    and `paged` = (block_table [B, N], kv_lens [B]): sequence b's keys are
    the first kv_lens[b] tokens of its pages (pages clamped into the pool,
    lengths into [0, N * page], as the kernels do), each sequence its own
    problem; operands whose first dimension is the batch are sliced."""
    if residue_groups and residue_groups > 1:
        qs, ks, vs = (_to_bhsd(np.asarray(x, np.float64), lay)
                      for x, lay in ((q, layout[0]), (k, layout[1]), (v, layout[1])))
        out = np.zeros(qs.shape[:3] + vs.shape[3:])
        lse = np.full(qs.shape[:3], -np.inf)
        for r in range(residue_groups):
            rows, keys = slice(r, None, residue_groups), slice(r, None, residue_groups)
            if qs[:, :, rows].shape[2] == 0:
                continue
            out[:, :, rows], lse[:, :, rows] = attention(
                qs[:, :, rows], ks[:, :, keys], vs[:, :, keys], mask_attr,
                mask_operands, score, score_operands, norm, norm_operands, gate,
                gate_operands, scale, predicate=predicate, score_fn=score_fn)
        return _to_bhsd(out, layout[0]), lse
    if layout[1] == "paged":
        table, lens = (np.asarray(x).astype(np.int64) for x in paged)
        batch = q.shape[0]
        page = k.shape[1]

        def one(x, b):
            if isinstance(x, np.ndarray) and x.ndim >= 1 and x.shape[0] == batch and batch > 1:
                return x[b:b + 1]
            return x
        outs, lses = [], []
        for b in range(batch):
            pages = np.clip(table[b], 0, k.shape[0] - 1)
            n = int(np.clip(lens[b], 0, table.shape[1] * page))
            kb, vb = (np.swapaxes(x[pages].reshape((-1,) + x.shape[2:])[:n], 0, 1)[None]
                      for x in (k, v))
            o, l = attention(q[b:b + 1], kb, vb, mask_attr, [one(x, b) for x in mask_operands],
                             score, [one(x, b) for x in score_operands], norm,
                             [one(x, b) for x in norm_operands], gate,
                             [one(x, b) for x in gate_operands], scale,
                             (layout[0], "bhsd"), predicate=predicate, score_fn=score_fn)
            outs.append(o)
            lses.append(l)
        return np.concatenate(outs), np.concatenate(lses)
    if layout[0] == "thd":
        cu_q, cu_k = (np.asarray(c).astype(np.int64) for c in cu_seqlens)
        outs, lses = [], []
        for b in range(len(cu_q) - 1):
            rows = slice(cu_q[b], cu_q[b + 1])
            keys = slice(cu_k[b], cu_k[b + 1])
            o, l = attention(np.swapaxes(q[rows], 0, 1)[None],
                             np.swapaxes(k[keys], 0, 1)[None],
                             np.swapaxes(v[keys], 0, 1)[None], mask_attr,
                             mask_operands, score, score_operands, norm,
                             norm_operands, gate, gate_operands, scale,
                             predicate=predicate, score_fn=score_fn)
            outs.append(np.swapaxes(o[0], 0, 1))
            lses.append(l[0])
        return np.concatenate(outs), np.concatenate(lses, axis=1)
    q = _to_bhsd(np.asarray(q, np.float64), layout[0])
    v = _to_bhsd(np.asarray(v, np.float64), layout[1])
    v = np.repeat(v, q.shape[1] // v.shape[1], axis=1)
    batch, heads, query_len, dim = q.shape
    s, allowed = _scores(q, k, mask_attr, mask_operands, score, score_operands, scale,
                         layout[1], predicate, score_fn)
    masked = np.where(allowed, s, -np.inf)
    m = masked.max(axis=-1, keepdims=True, initial=-np.inf)
    any_allowed = np.isfinite(m)
    m_safe = np.where(any_allowed, m, 0.0)
    p = np.where(allowed, np.exp(masked - m_safe), 0.0)
    l = p.sum(axis=-1, keepdims=True)
    lse = np.where(any_allowed, m_safe + np.log(np.where(l > 0, l, 1.0)),
                   -np.inf)[..., 0]
    norm_name = norm.name if norm is not None else "softmax"
    norm_ops = list(norm_operands)
    if norm_name == "softmax":
        weights = p / np.where(l > 0, l, 1.0)
    elif norm_name == "sink_softmax":
        logit = norm.params.get("logit")
        if logit is None:
            logit = np.asarray(norm_ops.pop(0), np.float64)
            logit = logit[None, :, None, None] if logit.ndim == 1 else logit
        weights = p / (l + np.exp(logit - m_safe))
    elif norm_name == "clipped_softmax":
        zeta, gamma = norm.params.get("zeta"), norm.params.get("gamma")
        zeta = float(norm_ops.pop(0)) if zeta is None else zeta
        gamma = float(norm_ops.pop(0)) if gamma is None else gamma
        softmax = p / np.where(l > 0, l, 1.0)
        weights = np.where(allowed, np.clip((zeta - gamma) * softmax + gamma,
                                            0.0, 1.0), 0.0)
    elif norm_name == "affine_softmax":
        alpha = _broadcast_rows(norm_ops.pop(0), batch, heads, query_len)
        beta = _broadcast_rows(norm_ops.pop(0), batch, heads, query_len)
        count = allowed.sum(axis=-1, keepdims=True)
        weights = (alpha * p / np.where(l > 0, l, 1.0)
                   + np.where(allowed, beta / np.maximum(count, 1), 0.0))
    elif norm_name == "sigmoid":
        bias = norm.params.get("bias")
        bias = float(norm_ops.pop(0)) if bias is None else bias
        weights = np.where(allowed, 1.0 / (1.0 + np.exp(-(s + bias))), 0.0)
    else:
        raise NotImplementedError(f"reference normalization #attn.{norm_name}")
    out = np.einsum("bhij,bhjd->bhid", weights, v)
    out = np.where(any_allowed, out, 0.0)
    if gate is not None:
        g = np.asarray(gate_operands[0], np.float64)  # [B, Sq, H(, Dv)]
        g = np.swapaxes(g, 1, 2)
        if g.ndim == 3:
            g = g[..., None]
        if gate.params.get("activation") == "sigmoid":
            g = 1.0 / (1.0 + np.exp(-g))
        out = out * g
    return _to_bhsd(out, layout[0]), lse


def linear_attention(q, k, v, decay=None, feature_map="identity",
                     causal=False):
    """float64 reference of attn.linear_attention (N6), BHSD:
    S_i = exp(decay_i) S_{i-1} + phi(k_i)^T v_i; O_i = phi(q_i) S_i when
    causal, phi(q_i) S_last otherwise."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    phi = {"identity": lambda x: x,
           "relu": lambda x: np.maximum(x, 0.0),
           "elu_plus_one": lambda x: np.where(x > 0, x + 1.0, np.exp(x))}[
               feature_map]
    q, k = phi(q), phi(k)
    batch, heads, length = q.shape[:3]
    decay = (np.zeros((batch, heads, length)) if decay is None
             else np.asarray(decay, np.float64))
    state = np.zeros((batch, heads, q.shape[3], v.shape[3]))
    out = np.zeros((batch, heads, length, v.shape[3]))
    for i in range(length):
        state = (np.exp(decay[:, :, i])[..., None, None] * state
                 + np.einsum("bhd,bhe->bhde", k[:, :, i], v[:, :, i]))
        out[:, :, i] = np.einsum("bhd,bhde->bhe", q[:, :, i], state)
    if not causal:
        out = np.einsum("bhid,bhde->bhie", q, state)
    return out


def indexer_topk(qi, ki, w, k, mask_attr=None, mask_operands=(), key_block=1,
                 block_counts=None, block_indices=None, block_size=None):
    """attn.indexer_topk (D1, D2): I[b,i,j] = sum_t w[b,i,t] relu(qi[b,i,t] .
    ki[b,j]) over the candidate keys (those the mask allows — a block of
    `key_block` keys where it allows any of them — and with block lists
    only the keys of the listed blocks);
    the k best per row, ties to the smaller index, ascending, padded with
    -1. Returns (counts [B,1,Sq], indices [B,1,Sq,k], scores [B,Sq,Sk])."""
    qi, ki, w = (np.asarray(x, np.float64) for x in (qi, ki, w))
    batch, query_len, _, _ = qi.shape
    keys = ki.shape[1]
    dots = np.maximum(np.einsum("bitd,bjd->bitj", qi, ki), 0.0)
    scores = np.einsum("bit,bitj->bij", w, dots)
    full = dense_mask(mask_attr, batch, 1, query_len, keys * key_block,
                      mask_operands)[:, 0]
    allowed = full.reshape(batch, query_len, keys, key_block).any(axis=-1)
    if block_counts is not None:
        listed = np.zeros((batch, query_len, -(-keys // block_size) + 1), bool)
        counts_b = np.asarray(block_counts)[:, 0]
        for b in range(batch):
            for i in range(query_len):
                for blk in np.asarray(block_indices)[b, 0, i, :counts_b[b, i]]:
                    if 0 <= blk < listed.shape[2] - 1:
                        listed[b, i, blk] = True
        allowed = allowed & listed[:, :, np.arange(keys) // block_size]
    counts = np.zeros((batch, 1, query_len), np.int32)
    indices = np.full((batch, 1, query_len, k), -1, np.int32)
    for b in range(batch):
        for i in range(query_len):
            cand = np.flatnonzero(allowed[b, i])
            order = cand[np.lexsort((cand, -scores[b, i, cand]))][:k]
            counts[b, 0, i] = len(order)
            indices[b, 0, i, :len(order)] = np.sort(order)
    return counts, indices, np.where(allowed, scores, -np.inf)


def pool(x, dim, block, kind="mean"):
    """attn.pool: blocks of `block` entries along `dim`, mean or max."""
    x = np.asarray(x, np.float64)
    parts = [np.take(x, np.arange(s, min(s + block, x.shape[dim])), axis=dim)
             for s in range(0, x.shape[dim], block)]
    reduce = np.mean if kind == "mean" else np.max
    return np.stack([reduce(p, axis=dim) for p in parts], axis=dim)


def id_ranges(ids, tile=64):
    """attn.id_ranges: per (batch, 64-token tile) the smallest and the
    largest id, [B, ceil(S / 64), 2] i32."""
    ids = np.asarray(ids, np.int64)
    batch, length = ids.shape
    tiles = -(-length // tile)
    out = np.zeros((batch, tiles, 2), np.int32)
    for t in range(tiles):
        part = ids[:, t * tile:(t + 1) * tile]
        out[:, t, 0], out[:, t, 1] = part.min(axis=1), part.max(axis=1)
    return out


def mask_tiles(mask, tile=64):
    """attn.mask_tiles: per (batch, head, 64-query tile) row, a bit per
    64-key tile where the tile has an allowed pair (words 0 .. W-1) and
    one where it has a disallowed pair (words W .. 2W-1), i32."""
    mask = np.asarray(mask, bool)
    batch, heads, queries, keys = mask.shape
    qt, kt = -(-queries // tile), -(-keys // tile)
    words = -(-kt // 32)
    padded = np.zeros((batch, heads, qt * tile, kt * tile, 2), bool)
    padded[:, :, :queries, :keys, 0] = mask
    padded[:, :, :queries, :keys, 1] = ~mask
    blocks = padded.reshape(batch, heads, qt, tile, kt, tile, 2).any(axis=(3, 5))
    out = np.zeros((batch, heads, qt, 2 * words), np.uint32)
    for t in range(kt):
        for which in range(2):
            out[:, :, :, which * words + t // 32] |= (
                blocks[:, :, :, t, which].astype(np.uint32) << np.uint32(t % 32))
    return out.view(np.int32)



def head_topk(logits, k):
    """attn.head_topk (G2): per token the k largest router logits (ties to
    the smaller head); keep [B, H, Sq] and softmax weights over the kept
    heads [B, Sq, H] (0 elsewhere)."""
    logits = np.asarray(logits, np.float64)
    batch, length, heads = logits.shape
    order = np.argsort(-logits, axis=-1, kind="stable")[..., :k]
    chosen = np.zeros(logits.shape, bool)
    np.put_along_axis(chosen, order, True, axis=-1)
    m = np.where(chosen, logits, -np.inf).max(-1, keepdims=True)
    e = np.where(chosen, np.exp(logits - m), 0.0)
    return np.swapaxes(chosen, 1, 2), e / e.sum(-1, keepdims=True)


def block_topk(q, k, q_block, k_block, topk, pool="mean", mask_attr=None,
               mask_operands=(), include_local=False):
    """attn.block_topk (D3): per (b, h, query block) the k key blocks whose
    pooled rows have the largest dot product with the pooled query block,
    among the blocks the mask allows somewhere (any pair); with
    `include_local`, the block holding the query block's last row first.
    Returns (counts [B,Hq,QB], indices [B,Hq,QB,k])."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    batch, heads, query_len, _ = q.shape
    key_len = k.shape[2]
    k = np.repeat(k, heads // k.shape[1], axis=1)
    qb, kb = -(-query_len // q_block), -(-key_len // k_block)
    reduce = np.mean if pool == "mean" else np.max
    qp = np.stack([reduce(q[:, :, i * q_block:(i + 1) * q_block], axis=2) for i in range(qb)], 2)
    kp = np.stack([reduce(k[:, :, j * k_block:(j + 1) * k_block], axis=2) for j in range(kb)], 2)
    scores = np.einsum("bhid,bhjd->bhij", qp, kp)
    full = np.zeros((batch, heads, qb * q_block, kb * k_block), bool)
    full[:, :, :query_len, :key_len] = dense_mask(mask_attr, batch, heads, query_len,
                                                  key_len, mask_operands)
    allowed = full.reshape(batch, heads, qb, q_block, kb, k_block).any(axis=(3, 5))
    counts = np.zeros((batch, heads, qb), np.int32)
    indices = np.full((batch, heads, qb, topk), -1, np.int32)
    for b in range(batch):
        for h in range(heads):
            for i in range(qb):
                priority = np.where(allowed[b, h, i], scores[b, h, i], -np.inf)
                cand = list(np.flatnonzero(allowed[b, h, i]))
                local = (min((i + 1) * q_block, query_len) - 1) // k_block
                if include_local and local < kb:
                    priority[local] = np.inf
                    if local not in cand:
                        cand.append(local)
                cand = np.array(sorted(cand), np.int64)
                order = cand[np.lexsort((cand, -priority[cand]))][:topk] if len(cand) else cand
                counts[b, h, i] = len(order)
                indices[b, h, i, :len(order)] = np.sort(order)
    return counts, indices


def _block_candidates(q, k, q_block, k_block, mask_attr, mask_operands):
    """Q, K as float64 with K repeated to the query heads, the block counts
    and the candidate flags [B, Hq, QB, KB] (the mask allows some pair of
    the two blocks)."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    batch, heads, query_len, _ = q.shape
    key_len = k.shape[2]
    k = np.repeat(k, heads // k.shape[1], axis=1)
    qb, kb = -(-query_len // q_block), -(-key_len // k_block)
    full = np.zeros((batch, heads, qb * q_block, kb * k_block), bool)
    full[:, :, :query_len, :key_len] = dense_mask(mask_attr, batch, heads, query_len,
                                                  key_len, mask_operands)
    allowed = full.reshape(batch, heads, qb, q_block, kb, k_block).any(axis=(3, 5))
    return q, k, qb, kb, allowed


def hip_topk(q, k, q_block, k_block, topk, branch=2, mask_attr=None, mask_operands=()):
    """attn.hip_topk (D4): per (b, h, query block) the candidate key blocks
    (the mask allows some pair) in ascending order; ranges of positions in
    that list, starting with the whole list, are split into `branch` parts
    (part p of [s, e) is [s + p*n//branch, s + (p+1)*n//branch), n = e - s,
    empty parts dropped), each part scored by the mean-pooled query block .
    K[first key of the part's first block], and the `topk` best parts kept
    (ties to the earlier part), in list order, until every range is a single
    block. Returns (counts [B,Hq,QB], indices [B,Hq,QB,topk])."""
    q, k, qb, kb, allowed = _block_candidates(q, k, q_block, k_block, mask_attr,
                                              mask_operands)
    batch, heads, query_len, _ = q.shape
    counts = np.zeros((batch, heads, qb), np.int32)
    indices = np.full((batch, heads, qb, topk), -1, np.int32)
    for b in range(batch):
        for h in range(heads):
            for i in range(qb):
                qp = q[b, h, i * q_block:min((i + 1) * q_block, query_len)].mean(axis=0)
                cand = np.flatnonzero(allowed[b, h, i])
                ranges = [(0, len(cand))] if len(cand) else []
                while any(e - s > 1 for s, e in ranges):
                    parts = []
                    for s, e in ranges:
                        n = e - s
                        for p in range(branch):
                            a, z = s + p * n // branch, s + (p + 1) * n // branch
                            if z > a:
                                parts.append((a, z))
                    scores = np.array([qp @ k[b, h, cand[a] * k_block] for a, _ in parts])
                    order = np.lexsort((np.arange(len(parts)), -scores))[:topk]
                    ranges = [parts[o] for o in sorted(order)]
                chosen = [cand[s] for s, _ in ranges]
                counts[b, h, i] = len(chosen)
                indices[b, h, i, :len(chosen)] = chosen
    return counts, indices


def threshold_blocks(q, k, q_block, k_block, gamma, min_blocks=1, mask_attr=None,
                     mask_operands=()):
    """attn.threshold_blocks (D5): per (b, h, query block) the attention mass
    of every candidate key block (the mask allows some pair) estimated from
    the block's last query q: n_j exp(q . mean(K_j) / sqrt(D)) with n_j the
    keys in block j, normalized over the candidates; blocks largest mass
    first (ties to the smaller block) until the taken mass reaches gamma of
    the total, at least min_blocks (at most the candidates). Returns
    (counts [B,Hq,QB], indices [B,Hq,QB,KB]) ascending, -1 padded."""
    q, k, qb, kb, allowed = _block_candidates(q, k, q_block, k_block, mask_attr,
                                              mask_operands)
    batch, heads, query_len, dim = q.shape
    key_len = k.shape[2]
    sizes = np.array([min((j + 1) * k_block, key_len) - j * k_block for j in range(kb)])
    kp = np.stack([k[:, :, j * k_block:(j + 1) * k_block].mean(axis=2) for j in range(kb)], 2)
    counts = np.zeros((batch, heads, qb), np.int32)
    indices = np.full((batch, heads, qb, kb), -1, np.int32)
    for b in range(batch):
        for h in range(heads):
            for i in range(qb):
                last = q[b, h, min((i + 1) * q_block, query_len) - 1]
                cand = np.flatnonzero(allowed[b, h, i])
                if not len(cand):
                    continue
                s = kp[b, h, cand] @ last / np.sqrt(dim)
                mass = sizes[cand] * np.exp(s - s.max())
                mass /= mass.sum()
                order = np.lexsort((cand, -mass))
                taken = np.cumsum(mass[order])
                n = int(np.argmax(taken >= gamma * mass.sum())) + 1 \
                    if (taken >= gamma * mass.sum()).any() else len(order)
                n = min(max(n, min_blocks), len(order))
                chosen = np.sort(cand[order[:n]])
                counts[b, h, i] = n
                indices[b, h, i, :n] = chosen
    return counts, indices


def pyramid_levels(q, k, q_block, k_block, thresholds, mask_attr=None, mask_operands=()):
    """attn.pyramid_levels (D6): per (b, h, query block) the importance of
    every candidate key block (the mask allows some pair): n_j exp(mean(Q
    block) . mean(K_j) / sqrt(D)), n_j the keys in block j, normalized over
    the candidates; level = the smallest l with importance >=
    thresholds[l], -1 below the last and for non-candidates. Returns
    levels [B, Hq, QB, KB] (int8)."""
    q, k, qb, kb, allowed = _block_candidates(q, k, q_block, k_block, mask_attr,
                                              mask_operands)
    dim, key_len = q.shape[3], k.shape[2]
    qp = np.stack([q[:, :, i * q_block:(i + 1) * q_block].mean(axis=2) for i in range(qb)], 2)
    kp = np.stack([k[:, :, j * k_block:(j + 1) * k_block].mean(axis=2) for j in range(kb)], 2)
    sizes = np.array([min((j + 1) * k_block, key_len) - j * k_block for j in range(kb)])
    s = np.where(allowed, np.einsum("bhid,bhjd->bhij", qp, kp) / np.sqrt(dim), -np.inf)
    top = s.max(axis=-1, keepdims=True)
    w = np.where(allowed, sizes * np.exp(s - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = w.sum(axis=-1, keepdims=True)
    importance = w / np.where(total > 0, total, 1.0)
    levels = np.full(s.shape, -1, np.int8)
    for level in reversed(range(len(thresholds))):
        levels = np.where(importance >= thresholds[level], level, levels).astype(np.int8)
    return levels


def value_topk(v, weight, k, mask_attr=None, mask_operands=()):
    """attn.value_topk (G4): scores[b,g,j] = v[b,g,j] . weight[g]; per (b, g)
    the k best keys among those the mask (seen with Sq = Sk) allows for
    some query. Returns (counts [B,G,1], indices [B,G,1,k], scores)."""
    v, weight = np.asarray(v, np.float64), np.asarray(weight, np.float64)
    batch, groups, keys, _ = v.shape
    scores = np.einsum("bgjd,gd->bgj", v, weight)
    allowed = dense_mask(mask_attr, batch, groups, keys, keys, mask_operands).any(axis=2)
    counts = np.zeros((batch, groups, 1), np.int32)
    indices = np.full((batch, groups, 1, k), -1, np.int32)
    for b in range(batch):
        for g in range(groups):
            cand = np.flatnonzero(allowed[b, g])
            order = cand[np.lexsort((cand, -scores[b, g, cand]))][:k]
            counts[b, g, 0] = len(order)
            indices[b, g, 0, :len(order)] = np.sort(order)
    return counts, indices, scores


def query_topk(q, k, max_tokens, threshold=None):
    """attn.query_topk (D7): every key's attention mass from the guiding
    queries (softmax over the keys per query and head, scale 1/sqrt(D),
    summed); the max_tokens keys of largest mass (ties to the smaller key),
    or with `threshold` only as many, largest first, as reach that fraction
    of the total mass. Returns (counts [B,1,1], indices [B,1,1,max])."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    batch, heads = q.shape[:2]
    k = np.repeat(k, heads // k.shape[1], axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, k) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(-1, keepdims=True))
    mass = (p / p.sum(-1, keepdims=True)).sum(axis=(1, 2))     # [B, Sk]
    counts = np.zeros((batch, 1, 1), np.int32)
    indices = np.full((batch, 1, 1, max_tokens), -1, np.int32)
    for b in range(batch):
        keys = np.arange(mass.shape[1])
        order = keys[np.lexsort((keys, -mass[b]))][:max_tokens]
        if threshold is not None:
            reached = np.cumsum(mass[b, order]) >= threshold * mass[b].sum()
            order = order[:int(np.argmax(reached)) + 1] if reached.any() else order
        counts[b, 0, 0] = len(order)
        indices[b, 0, 0, :len(order)] = np.sort(order)
    return counts, indices

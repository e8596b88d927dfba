"""PyTorch versions of the benchmark patterns (specs.py): inputs, the
FlexAttention mask_mod/score_mod, SDPA where a flash/cuDNN backend applies,
and the number of allowed (query, key) pairs. Runs on the GPU machine."""

import torch

from specs import BLOCK, BLOCK_DENSITY, DOCUMENTS, batch_for


def inputs(pattern, s, d, heads=16, seed=0):
    """(q, k, v, extra) on the GPU: bf16 BHSD tensors and the pattern's
    operands by role (mask0, score0) for our kernel."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    b = batch_for(s)
    shape = (b, heads, s, d)
    q, k, v = (torch.randn(shape, device="cuda", generator=g, dtype=torch.float32)
               .to(torch.bfloat16) for _ in range(3))
    extra = {}
    if pattern == "M6":
        doc = (torch.arange(s, device="cuda") * DOCUMENTS // s).to(torch.int32)
        extra["mask0"] = doc.expand(b, s).contiguous()
    if pattern in ("M12", "M12b"):
        nb = (s + BLOCK - 1) // BLOCK
        blocks = torch.rand((nb, nb), device="cuda", generator=g) < BLOCK_DENSITY
        blocks |= torch.eye(nb, dtype=torch.bool, device="cuda")
        if pattern == "M12":
            extra["mask0"] = _dense(blocks, s).reshape(1, 1, s, s).contiguous()
        else:
            # The same blocks as a block-sparse layout (what FlexAttention's
            # BlockMask holds): per query block the count and the listed key
            # blocks in ascending order, for every batch, one head group.
            counts = blocks.sum(1).to(torch.int32)
            listed = torch.argsort((~blocks).to(torch.int8), dim=1, stable=True)
            extra["mask0"] = counts.expand(b, 1, nb).contiguous()
            extra["mask1"] = listed.to(torch.int32).expand(b, 1, nb, nb).contiguous()
    if pattern == "S3":
        extra["score0"] = torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)],
                                       device="cuda", dtype=torch.float32)
    return q, k, v, extra


def _dense(blocks, s):
    """The S x S boolean mask of a block matrix of BLOCK x BLOCK blocks."""
    return blocks.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)[:s, :s]


def _listed_blocks(extra):
    """The block matrix of a block-sparse layout (batch 0, head group 0)."""
    counts, listed = extra["mask0"][0, 0], extra["mask1"][0, 0].long()
    nb = counts.shape[0]
    keep = torch.arange(nb, device="cuda")[None, :] < counts[:, None]
    rows = torch.arange(nb, device="cuda")[:, None].expand(nb, nb)
    blocks = torch.zeros((nb, nb), dtype=torch.bool, device="cuda")
    blocks[rows[keep], listed[keep]] = True
    return blocks


def mask_mod(pattern, s, extra):
    """FlexAttention mask_mod of `pattern` (None: no mask)."""
    g = int(round(s ** 0.5))
    prefix = s // 4

    def neighborhood_axis(x, y):
        start = torch.clamp(x - 6, 0, g - 13)
        return (start <= y) & (y < start + 13)

    mods = {
        "M1": None,
        "M2": lambda b, h, i, j: j <= i,
        "M3": lambda b, h, i, j: (j <= i) & (i - 1024 <= j),
        "M4": lambda b, h, i, j: ((j <= i) & (i - 1024 <= j)) | (j < 4),
        "M5": lambda b, h, i, j: (j <= i) | (j < prefix),
        "M6": lambda b, h, i, j: (j <= i) & (extra["mask0"][b, i] == extra["mask0"][b, j]),
        "M7": lambda b, h, i, j: ((i - j).abs() <= 2048) & ((i - j) % 4 == 0),
        "M9": lambda b, h, i, j: neighborhood_axis(i // g, j // g) & neighborhood_axis(i % g, j % g),
        "M12": lambda b, h, i, j: extra["mask0"][0, 0, i, j],
        "M12b": _block_mod(pattern, s, extra),
        "S3": lambda b, h, i, j: j <= i,
        "S5": lambda b, h, i, j: j <= i,
    }
    return mods[pattern]


def _block_mod(pattern, s, extra):
    if pattern != "M12b":
        return None
    dense = _dense(_listed_blocks(extra), s)
    return lambda b, h, i, j: dense[i, j]


def score_mod(pattern, extra):
    if pattern == "S3":
        slopes = extra["score0"]
        return lambda score, b, h, i, j: score + slopes[h] * (j - i)
    if pattern == "S5":
        return lambda score, b, h, i, j: 50.0 * torch.tanh(score / 50.0)
    return None


def allowed_pairs(pattern, s, extra, heads=16):
    """B * H * (allowed pairs of one head), counted on the GPU in row chunks."""
    mod = mask_mod(pattern, s, extra)
    b = batch_for(s)
    if mod is None:
        return b * heads * s * s
    total = 0
    j = torch.arange(s, device="cuda")[None, :]
    for bb in range(b):
        for i0 in range(0, s, 1024):
            i = torch.arange(i0, min(i0 + 1024, s), device="cuda")[:, None]
            total += int(mod(bb, 0, i, j).sum())
    return total * heads


def sdpa_causal(pattern):
    """Whether SDPA's flash/cuDNN kernels compute `pattern`, and is_causal."""
    return {"M1": (True, False), "M2": (True, True)}.get(pattern, (False, False))

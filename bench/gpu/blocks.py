"""Attention over selected key blocks and tokens on the GPU (the attention
halves of D3 and D1), with the lists given; B = 1, H = 16, D = 128, bf16,
causal, S = 32K and 128K. D3: block routing with 64-token blocks, 16
blocks per 64-query block. D1: one KV head, 2048 keys per query token,
shared by its 16 heads (DeepSeek Sparse Attention's shape).

The GPU machine has no LLVM/MLIR, so the kernels are compiled here:

    /usr/bin/python3 bench/gpu/blocks.py prepare
        -> build/gpu-bundle/blocks (kernels, libattnrt.so, attn package)
    device: carry build/gpu-bundle/blocks and run
        python3 build/gpu-bundle/blocks/blocks.py run --out $OUT

`run` draws the block lists (per query block: its diagonal block and 15
others before it, ascending), times our kernel next to FlexAttention with
a BlockMask built from the same lists (`BlockMask.from_kv_blocks`, its
build time reported separately) and dense causal SDPA (flash, cuDNN) at
the same S, and compares our output with FlexAttention's; then the token
lists (2048 keys spread over each query's prefix), next to dense causal
cuDNN, checked against a float32 gather reference on 128 queries.
"""

import json
import time

from common import load_module, main, median_ms, prepare_bundle, write_json

HEADS, DIM, BLOCK, SELECTED = 16, 128, 64, 16
SIZES = (32768, 131072)


def spec(s):
    t = f"tensor<1x{HEADS}x{s}x{DIM}xbf16>"
    qb = s // BLOCK
    counts, lists = f"tensor<1x1x{qb}xi32>", f"tensor<1x1x{qb}x{SELECTED}xi32>"
    return (f"func.func @blocks_S{s}(%q: {t}, %k: {t}, %v: {t}, %c: {counts}, "
            f"%i: {lists}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, "
            f"#attn.blocks<q_block = {BLOCK}, k_block = {BLOCK}>>, %c, %i : {counts}, {lists})\n"
            f"      : {t}, {t}, {t} -> {t}\n"
            f"  return %o : {t}\n}}\n")


TOKENS = 2048


def token_spec(s):
    """D1's attention: 16 query heads on one KV head (MQA, as in DSA), each
    query's 2048 selected keys (shared by its heads), causal."""
    q = f"tensor<1x{HEADS}x{s}x{DIM}xbf16>"
    kv = f"tensor<1x1x{s}x{DIM}xbf16>"
    counts, lists = f"tensor<1x1x{s}xi32>", f"tensor<1x1x{s}x{TOKENS}xi32>"
    return (f"func.func @tokens_S{s}(%q: {q}, %k: {kv}, %v: {kv}, %c: {counts}, "
            f"%i: {lists}) -> {q} {{\n"
            f"  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, "
            f"%c, %i : {counts}, {lists})\n"
            f"      : {q}, {kv}, {kv} -> {q}\n"
            f"  return %o : {q}\n}}\n")


def prepare(args):
    prepare_bundle("blocks", "".join(spec(s) + token_spec(s) for s in SIZES), args.chip, __file__)


def block_lists(s, generator):
    """counts [1, 1, QB] and ascending lists [1, 1, QB, 16] (-1 padded):
    query block qb keeps itself and up to 15 random earlier blocks."""
    import torch
    qb = s // BLOCK
    lists = torch.full((qb, SELECTED), -1, dtype=torch.int32)
    counts = torch.zeros(qb, dtype=torch.int32)
    for b in range(qb):
        earlier = torch.randperm(b, generator=generator)[: SELECTED - 1] if b else torch.empty(0)
        chosen = torch.sort(torch.cat([earlier.to(torch.int32),
                                       torch.tensor([b], dtype=torch.int32)])).values
        lists[b, : len(chosen)] = chosen
        counts[b] = len(chosen)
    return counts.reshape(1, 1, qb), lists.reshape(1, 1, qb, SELECTED)


def token_lists(s):
    """Query i keeps keys floor(t (i + 1) / 2048), t < 2048 (all of
    [0, i] for i < 2048): distinct, ascending, spread over the prefix."""
    import torch
    i = torch.arange(s, device="cuda", dtype=torch.int64)[:, None]
    t = torch.arange(TOKENS, device="cuda", dtype=torch.int64)[None, :]
    entries = torch.where(i < TOKENS, t, t * (i + 1) // TOKENS)
    counts = torch.clamp(i[:, 0] + 1, max=TOKENS)
    entries = torch.where(t < counts[:, None], entries, -1)
    return (counts.to(torch.int32).reshape(1, 1, s),
            entries.to(torch.int32).reshape(1, 1, s, TOKENS))


def tokens_row(module, s, args):
    """Our D1 attention next to dense causal cuDNN (SDPA with the KV head
    repeated: 16 heads) and a check against a float32 gather reference on
    the first queries and the last."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    g = torch.Generator(device="cuda").manual_seed(s + 1)
    q = torch.randn((1, HEADS, s, DIM), device="cuda", generator=g).to(torch.bfloat16)
    k, v = (torch.randn((1, 1, s, DIM), device="cuda", generator=g).to(torch.bfloat16)
            for _ in range(2))
    counts, lists = token_lists(s)
    pairs = HEADS * int(counts.sum())
    row = {"kernel": "D1 tokens", "S": s, "B": 1, "H": HEADS, "KV heads": 1, "D": DIM,
           "tokens": TOKENS, "allowed_pairs": pairs}
    out = torch.empty_like(q)
    run = lambda: module.run(f"tokens_S{s}", q=q, k=k, v=v, mask0=counts, mask1=lists,  # noqa: E731
                             o=out)
    row["ours_ms"] = median_ms(run, args.runs)
    row["ours_tflops"] = 4.0 * DIM * pairs / (row["ours_ms"] * 1e-3) / 1e12
    run()
    torch.cuda.synchronize()
    error = 0.0
    for rows in (torch.arange(0, 64, device="cuda"), torch.arange(s - 64, s, device="cuda")):
        keys = lists[0, 0, rows].long()
        valid = keys >= 0
        kk = k[0, 0][keys.clamp(min=0)].float()  # [rows, T, D]
        vv = v[0, 0][keys.clamp(min=0)].float()
        scores = torch.einsum("hrd,rtd->hrt", q[0, :, rows].float(), kk) / DIM ** 0.5
        scores = scores.masked_fill(~valid[None], float("-inf"))
        want = torch.einsum("hrt,rtd->hrd", torch.softmax(scores, -1), vv)
        got = out[0, :, rows].float()
        error = max(error, float((got - want).abs().max() / want.abs().max()))
    row["max_rel_error_vs_gather_reference"] = error
    kr, vr = k.expand(1, HEADS, s, DIM), v.expand(1, HEADS, s, DIM)
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        row["dense_causal_cudnn_ms"] = median_ms(
            lambda: torch.nn.functional.scaled_dot_product_attention(q, kr, vr, is_causal=True),
            args.runs)
    row["speedup_vs_dense_cudnn"] = row["dense_causal_cudnn_ms"] / row["ours_ms"]
    print(json.dumps(row), flush=True)
    return row


def run(args):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    module = load_module("blocks")
    flex = torch.compile(flex_attention, dynamic=False)
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d"), "bench": []}
    cpu = torch.Generator().manual_seed(0)
    for s in SIZES:
        g = torch.Generator(device="cuda").manual_seed(s)
        q, k, v = (torch.randn((1, HEADS, s, DIM), device="cuda", generator=g).to(torch.bfloat16)
                   for _ in range(3))
        counts, lists = block_lists(s, cpu)
        counts, lists = counts.cuda(), lists.cuda()
        # Allowed pairs: each listed block below the diagonal whole, the
        # diagonal block's lower triangle.
        listed = int(counts.sum())
        qb = s // BLOCK
        pairs = HEADS * ((listed - qb) * BLOCK * BLOCK + qb * BLOCK * (BLOCK + 1) // 2)
        row = {"S": s, "B": 1, "H": HEADS, "D": DIM, "block": BLOCK, "selected": SELECTED,
               "allowed_pairs": pairs}
        out = torch.empty_like(q)
        row["ours_ms"] = median_ms(
            lambda: module.run(f"blocks_S{s}", q=q, k=k, v=v, mask0=counts, mask1=lists, o=out), args.runs)
        torch.cuda.synchronize()
        start = time.perf_counter()
        # FlexAttention's lists are as wide as the key blocks.
        kv_indices = torch.zeros((1, HEADS, qb, qb), dtype=torch.int32, device="cuda")
        kv_indices[..., :SELECTED] = torch.where(lists >= 0, lists, 0)
        block_mask = BlockMask.from_kv_blocks(counts.expand(1, HEADS, qb).contiguous(), kv_indices,
                                              BLOCK_SIZE=(BLOCK, BLOCK),
                                              mask_mod=lambda b, h, i, j: j <= i)
        torch.cuda.synchronize()
        row["flex_block_mask_build_ms"] = 1e3 * (time.perf_counter() - start)
        try:
            # 64-token blocks need 64 x 64 kernel tiles.
            fn = lambda: flex(q, k, v, block_mask=block_mask,  # noqa: E731
                              kernel_options={"BLOCK_M": BLOCK, "BLOCK_N": BLOCK})
            reference = fn()
            row["flex_ms"] = median_ms(fn, args.runs)
            module.run(f"blocks_S{s}", q=q, k=k, v=v, mask0=counts, mask1=lists, o=out)
            torch.cuda.synchronize()
            row["max_abs_diff_vs_flex"] = float((out.float() - reference.float()).abs().max())
        except Exception as e:  # recorded, the run goes on
            row["flex_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        for label, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                               ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            with sdpa_kernel(backend):
                row[f"dense_causal_{label}_ms"] = median_ms(
                    lambda: torch.nn.functional.scaled_dot_product_attention(
                        q, k, v, is_causal=True), args.runs)
        for key in [x for x in row if x.endswith("_ms") and not x.startswith(("dense", "flex_block"))]:
            row[key.replace("_ms", "_tflops")] = 4.0 * DIM * pairs / (row[key] * 1e-3) / 1e12
        row["speedup_vs_dense_cudnn"] = row["dense_causal_cudnn_ms"] / row["ours_ms"]
        print(json.dumps(row), flush=True)
        results["bench"].append(row)
        q = k = v = None
        torch.cuda.empty_cache()
    for s in SIZES:
        results["bench"].append(tokens_row(module, s, args))
    write_json(args.out, "blocks.json", results)
    return 0


main(prepare, run)

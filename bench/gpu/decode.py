"""X2 decoding on the GPU: one query per sequence (Sq = 1) against a long
KV cache, contiguous [B, H, S, D] or paged (a page pool [P, page, H, D]
read through a block table), bf16, D = 128, H = 16.

The GPU machine has no LLVM/MLIR, so the kernels are compiled here:

    /usr/bin/python3 bench/gpu/decode.py prepare
        -> build/gpu-bundle/decode (kernels, libattnrt.so, attn package)
    device: carry build/gpu-bundle/decode and run
        python3 build/gpu-bundle/decode/decode.py run --out $OUT

`run` first checks both kernels on random data against a float32 PyTorch
reference (ragged lengths, an empty sequence, shuffled and shared pages,
page sizes that do not divide the 64-key tile, GQA), then times them
(CUDA events around 10 calls in a row, median of --runs) at the issue's
sizes next to SDPA (flash, cuDNN, efficient) and FlexAttention on the
contiguous cache, and reports the memory-bandwidth floor: bytes of K and
V read / measured copy bandwidth.
"""

import json
import os
import shutil
import time

import common
from common import load_module, prepare_bundle, write_json

HEADS, DIM = 16, 128


def median_ms(fn, runs):
    """Per call, 10 calls in a row: decode kernels take about 0.1 ms, as
    long as the host side of a launch."""
    return common.median_ms(fn, runs, reps=10)


def specs():
    """One module of decode kernels, every size dynamic but the heads, the
    head dim and (for some) the page size: contiguous and paged, MHA and
    GQA (16:2), Sq = 1 and speculative Sq = 5 (bottom-right causal)."""
    text = ""
    for name, kv_heads, sq in (("mha", HEADS, 1), ("gqa", 2, 1), ("spec", 2, 5)):
        q = f"tensor<?x{HEADS}x{sq}x{DIM}xbf16>"
        kc = f"tensor<?x{kv_heads}x?x{DIM}xbf16>"
        mask = " mask(#attn.causal<align = bottom_right>)" if sq > 1 else ""
        text += (f"func.func @{name}_contiguous(%q: {q}, %k: {kc}, %v: {kc}) -> {q} {{\n"
                 f"  %o = attn.attention %q, %k, %v{mask} : {q}, {kc}, {kc} -> {q}\n"
                 f"  return %o : {q}\n}}\n")
        # The page size dynamic (`_paged`), and static (`_paged16`, ...).
        for page in ["?"] + ([16, 64] if name == "mha" else []):
            pool = f"tensor<?x{page}x{kv_heads}x{DIM}xbf16>"
            text += (f"func.func @{name}_paged{'' if page == '?' else page}(%q: {q}, "
                     f"%k: {pool}, %v: {pool}, %t: tensor<?x?xi32>, %l: tensor<?xi32>) "
                     f"-> {q} {{\n"
                     f"  %o = attn.attention %q, %k, %v layout(bhsd, paged){mask}\n"
                     f"      block_table(%t : tensor<?x?xi32>) kv_lens(%l : tensor<?xi32>)\n"
                     f"      : {q}, {pool}, {pool} -> {q}\n"
                     f"  return %o : {q}\n}}\n")
    return text


def prepare(args):
    prepare_bundle("decode", specs(), args.chip, __file__)
    # The profiler's launcher (ncu_decode.py) travels with the bundle.
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copy(os.path.join(here, "ncu_decode.py"),
                os.path.join(common.ROOT, "build", "gpu-bundle", "decode"))


# ---------------------------------------------------------------- device side

def paged_cache(k, v, page, generator, spare=3):
    """Page pools holding k and v [B, H, S, D] in shuffled pages (the last
    page of a sequence padded with garbage), plus `spare` unused pages of
    garbage, and their block table [B, ceil(S / page)]."""
    import torch
    b, h, s, d = k.shape
    per_seq = -(-s // page)
    pages = b * per_seq + spare
    table = torch.randperm(pages, generator=generator)[: b * per_seq].reshape(b, per_seq)
    pools = []
    for x in (k, v):
        pool = torch.randn((pages, page, h, x.shape[-1]), device=x.device,
                           dtype=torch.float32).to(x.dtype)
        padded = torch.randn((b, h, per_seq * page, x.shape[-1]), device=x.device,
                             dtype=torch.float32).to(x.dtype)
        padded[:, :, :s] = x
        pool[table.to(x.device)] = padded.reshape(b, h, per_seq, page, -1).permute(0, 2, 3, 1, 4)
        pools.append(pool)
    return pools[0], pools[1], table.to(device=k.device, dtype=torch.int32)


def reference(q, k, v, lens, causal):
    """float32 attention of q [B, H, Sq, D] over the first lens[b] keys of
    k, v [B, Hkv, S, D]; bottom-right causal when `causal`."""
    import torch
    b, h, sq, d = q.shape
    group = h // k.shape[1]
    k = k.float().repeat_interleave(group, 1)
    v = v.float().repeat_interleave(group, 1)
    scores = torch.einsum("bhqd,bhkd->bhqk", q.float(), k) / d ** 0.5
    j = torch.arange(k.shape[2], device=q.device)
    allowed = j[None, None, None, :] < lens[:, None, None, None]
    if causal:
        i = torch.arange(sq, device=q.device)
        allowed = allowed & (j[None, None, None, :] <=
                             (lens[:, None, None, None] - sq + i[None, None, :, None]))
    scores = scores.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(scores, -1).nan_to_num(0.0)
    return torch.einsum("bhqk,bhkd->bhqd", p, v)


def check(module, results):
    """Both layouts on random data; returns the number of failures."""
    import torch
    failures = 0
    g = torch.Generator(device="cuda").manual_seed(5)
    cpu = torch.Generator().manual_seed(5)
    for name, kv_heads, sq in (("mha", HEADS, 1), ("gqa", 2, 1), ("spec", 2, 5)):
        for b, s, page in ((3, 300, 16), (2, 1000, 64), (4, 77, 48)):
            rand = lambda *shape: torch.randn(shape, device="cuda", generator=g).to(torch.bfloat16)  # noqa: E731
            q = rand(b, HEADS, sq, DIM)
            k, v = rand(b, kv_heads, s, DIM), rand(b, kv_heads, s, DIM)
            lens = torch.randint(1, s + 1, (b,), generator=cpu).to(torch.int32)
            lens[0] = s
            if b > 2:
                lens[1] = 0  # an empty sequence: O = 0
            lens = lens.cuda()
            pool_k, pool_v, table = paged_cache(k, v, page, cpu)
            # The contiguous kernel reads every key of its cache.
            full = torch.full_like(lens, s)
            paged = reference(q, k, v, lens.long(), sq > 1)
            outs = [(f"{name}_contiguous", module.run(f"{name}_contiguous", q=q, k=k, v=v),
                     reference(q, k, v, full.long(), sq > 1))]
            for kernel in (f"{name}_paged", f"{name}_paged{page}"):
                if kernel in module.kernels:
                    outs.append((kernel, module.run(kernel, q=q, k=pool_k, v=pool_v,
                                                    block_table=table, kv_lens=lens), paged))
            torch.cuda.synchronize()
            for kernel, out, want in outs:
                error = float((out.float() - want).abs().max() / want.abs().max().clamp_min(1e-6))
                empty_ok = bool(b <= 2 or "paged" not in kernel or (out[1] == 0).all())
                ok = error < 2e-2 and empty_ok and not out.float().isnan().any()
                failures += not ok
                record = {"kernel": kernel, "B": b, "S": s, "page": page, "error": error,
                          "ok": bool(ok)}
                results["check"].append(record)
                print(json.dumps(record), flush=True)
    return failures


def copy_bandwidth(runs):
    """Device-to-device copy bandwidth (bytes read + written per second) of
    a 4 GiB buffer."""
    import torch
    x = torch.empty(2 ** 31, dtype=torch.int16, device="cuda")
    y = torch.empty_like(x)
    ms = median_ms(lambda: y.copy_(x), runs)
    return 2 * x.numel() * 2 / (ms * 1e-3)


def bench(module, args, results):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    bandwidth = copy_bandwidth(args.runs)
    results["copy_bandwidth_gbs"] = bandwidth / 1e9
    print(f"copy bandwidth {bandwidth / 1e9:.0f} GB/s", flush=True)
    cpu = torch.Generator().manual_seed(0)
    for b in map(int, args.batches.split(",")):
        for s in map(int, args.sizes.split(",")):
            g = torch.Generator(device="cuda").manual_seed(s)
            rand = lambda *shape: torch.randn(shape, device="cuda", generator=g).to(torch.bfloat16)  # noqa: E731
            q = rand(b, HEADS, 1, DIM)
            k, v = rand(b, HEADS, s, DIM), rand(b, HEADS, s, DIM)
            kv_bytes = 2 * k.numel() * 2
            row = {"B": b, "H": HEADS, "D": DIM, "S": s, "kv_bytes": kv_bytes,
                   "floor_ms": kv_bytes / bandwidth * 1e3}
            out = torch.empty_like(q)
            sms = torch.cuda.get_device_properties(0).multi_processor_count
            row["splits"] = module.plan("mha_contiguous", multiprocessors=sms, q=q, k=k, v=v,
                                        o=out).splits
            time_ours(row, lambda: module.run("mha_contiguous", q=q, k=k, v=v, o=out), args)
            module.run("mha_contiguous", q=q, k=k, v=v, o=out)  # the default splits
            lens = torch.full((b,), s, dtype=torch.int32, device="cuda")
            row["paged_equals_contiguous"] = True
            for kernel, page in (("mha_paged", args.page), ("mha_paged64", 64),
                                 ("mha_paged16", 16)):
                pool_k, pool_v, table = paged_cache(k, v, page, cpu, spare=0)
                paged_out = torch.empty_like(q)
                row[f"ours_{kernel[4:]}_ms"] = median_ms(
                    lambda: module.run(kernel, q=q, k=pool_k, v=pool_v, block_table=table,
                                       kv_lens=lens, o=paged_out), args.runs)
                row["paged_equals_contiguous"] &= bool(torch.equal(out, paged_out))
                pool_k = pool_v = None
            if not args.no_peers:
                for label, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                                       ("cudnn", SDPBackend.CUDNN_ATTENTION),
                                       ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
                    try:
                        with sdpa_kernel(backend):
                            fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)  # noqa: E731
                            row[f"{label}_ms"] = median_ms(fn, args.runs)
                            row[f"max_abs_diff_vs_{label}"] = float((fn() - out).abs().max())
                    except RuntimeError as e:
                        row[f"{label}_error"] = str(e)[:200]
                try:
                    torch._dynamo.reset()
                    row["flex_ms"] = median_ms(lambda: flex(q, k, v), args.runs)
                except Exception as e:  # recorded, the run goes on
                    row["flex_error"] = f"{type(e).__name__}: {str(e)[:200]}"
            for key in [x for x in row if x.endswith("_ms") and x != "floor_ms"]:
                row[key.replace("_ms", "_x_floor")] = row[key] / row["floor_ms"]
            print(json.dumps(row), flush=True)
            results["bench"].append(row)
            q = k = v = None
            torch.cuda.empty_cache()
            if args.gqa:
                gqa_row(module, b, s, bandwidth, args, results)


def time_ours(row, call, args):
    """ours_ms with attnrt's split count, then ours_split{N}_ms with each
    count of --split-sweep forced (ATTNRT_SPLIT_KV)."""
    row["ours_ms"] = median_ms(call, args.runs)
    for forced in (args.split_sweep.split(",") if args.split_sweep else []):
        os.environ["ATTNRT_SPLIT_KV"] = forced
        row[f"ours_split{forced}_ms"] = median_ms(call, args.runs)
        del os.environ["ATTNRT_SPLIT_KV"]


def gqa_row(module, b, s, bandwidth, args, results):
    """GQA 16:2 decoding (the `gqa_contiguous` kernel): 8 query heads per
    KV head, each reading its group's K/V."""
    import torch
    g = torch.Generator(device="cuda").manual_seed(s)
    rand = lambda *shape: torch.randn(shape, device="cuda", generator=g).to(torch.bfloat16)  # noqa: E731
    q = rand(b, HEADS, 1, DIM)
    k, v = rand(b, 2, s, DIM), rand(b, 2, s, DIM)
    kv_bytes = 2 * k.numel() * 2
    row = {"kernel": "gqa 16:2", "B": b, "H": HEADS, "Hkv": 2, "D": DIM, "S": s,
           "kv_bytes": kv_bytes, "floor_ms": kv_bytes / bandwidth * 1e3}
    out = torch.empty_like(q)
    time_ours(row, lambda: module.run("gqa_contiguous", q=q, k=k, v=v, o=out), args)
    if not args.no_peers:
        fn = lambda: torch.nn.functional.scaled_dot_product_attention(  # noqa: E731
            q, k, v, enable_gqa=True)
        row["sdpa_ms"] = median_ms(fn, args.runs)
        row["max_abs_diff_vs_sdpa"] = float((fn() - out).abs().max())
    for key in [x for x in row if x.endswith("_ms") and x != "floor_ms"]:
        row[key.replace("_ms", "_x_floor")] = row[key] / row["floor_ms"]
    print(json.dumps(row), flush=True)
    results["bench"].append(row)


def run(args):
    import torch
    module = load_module("decode")
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d"), "check": [], "bench": []}
    failures = 0
    try:
        failures = check(module, results)
        print(f"check: {len(results['check']) - failures}/{len(results['check'])} passed",
              flush=True)
        if not args.no_bench:
            bench(module, args, results)
    finally:
        write_json(args.out, "decode.json", results)
    return 1 if failures else 0


def options(parser):
    parser.add_argument("--batches", default="8,1")
    parser.add_argument("--sizes", default="32768,131072")
    parser.add_argument("--page", type=int, default=64)
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--gqa", action="store_true", help="time GQA 16:2 decoding too")
    parser.add_argument("--split-sweep", default="",
                        help="split counts to time as well (e.g. 1,4,8,16,32)")


common.main(prepare, run, options)

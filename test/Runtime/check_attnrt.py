"""Exercises attnrt through python/attn/gpu.py without a GPU: manifest
parsing, launch planning (grid, block, shared memory) and the argument
checks, and the error of a launch (no driver, or host memory).

usage: check_attnrt.py PYTHON_DIR LIBATTNRT BINARY MANIFEST
"""

import os
import sys

import numpy as np

python_dir, library, binary, manifest = sys.argv[1:5]
sys.path.insert(0, python_dir)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn import gpu  # noqa: E402
from fakes import Fake, bf16, expect_error  # noqa: E402


module = gpu.Module(binary, manifest, library)
print("kernels:", " ".join(module.kernels))
print("causal_bf16:", module.launch_info("causal_bf16"))

q, k, v = bf16((1, 4, 300, 128)), bf16((1, 2, 300, 128)), bf16((1, 2, 300, 128))
o = bf16((1, 4, 300, 128))
lse = np.zeros((1, 4, 300), np.float32)
c = module.plan("causal_bf16", q=q, k=k, v=v, o=o, lse=lse)
print(f"plan causal_bf16: grid {c.grid} block {c.block} smem {c.shared_bytes} items {c.work_items}")

# The row form with a dynamic sequence length: one thread per query row.
wq = np.zeros((2, 4, 1000, 16), np.float32)
wk = np.zeros((2, 2, 700, 16), np.float32)
wv = np.zeros((2, 2, 700, 8), np.float32)
wo = np.zeros((2, 4, 1000, 8), np.float32)
c = module.plan("window_f32", q=wq, k=wk, v=wv, mask0=5, o=wo)
print(f"plan window_f32: grid {c.grid} block {c.block} smem {c.shared_bytes} items {c.work_items}")
empty = np.zeros((2, 4, 0, 16), np.float32)
c = module.plan("window_f32", q=empty, k=wk, v=wv, mask0=5, o=np.zeros((2, 4, 0, 8), np.float32))
print(f"plan empty: items {c.work_items}")
pq = np.zeros((1, 2, 64, 16), np.float32)
levels = np.zeros((1, 2, 4, 4), np.int8)
c = module.plan("pyramid_f32", q=pq, k=pq, v=pq, mask0=levels, o=pq)
print(f"plan pyramid_f32: grid {c.grid} block {c.block} items {c.work_items}")
expect_error("levels dtype", lambda: module.plan("pyramid_f32", q=pq, k=pq, v=pq,
                                                 mask0=levels.astype(np.int32), o=pq))

# Decoding from a paged pool: a block per (batch, head, query tile); the
# table and the lengths have Q's batch, V's pool K's pages.
pool = bf16((9, 16, 2, 128))
table = np.zeros((2, 5), np.int32)
lens = np.zeros(2, np.int32)


def paged(q=bf16((2, 4, 1, 128)), k=pool, v=pool, block_table=table, kv_lens=lens):
    o = bf16((q.shape[0], 4, 1, 128))
    return module.plan("paged_bf16", q=q, k=k, v=v, block_table=block_table,
                       kv_lens=kv_lens, o=o)


c = paged()
print(f"plan paged_bf16: grid {c.grid} block {c.block} items {c.work_items}")
# Residue groups (a dilated window): 4 groups of 75 queries, 2 tiles each.
c = module.plan("dilated_bf16", q=q, k=k, v=v, o=o)
print(f"plan dilated_bf16: grid {c.grid} block {c.block} items {c.work_items}")
long_table = np.zeros((2, 64), np.int32)
decode = dict(q=bf16((2, 4, 1, 128)), k=pool, v=pool, block_table=long_table, kv_lens=lens,
              o=bf16((2, 4, 1, 128)))
for what, kernel, values, sms in [("paged_bf16", "paged_bf16", decode, 132),
                                  ("causal_bf16", "causal_bf16", dict(q=q, k=k, v=v, o=o, lse=lse), 132),
                                  ("16 SMs", "paged_bf16", decode, 16),
                                  ("8 SMs", "paged_bf16", decode, 8),
                                  ("4 SMs", "paged_bf16", decode, 4),
                                  ("no device", "paged_bf16", decode, 0)]:
    c = module.plan(kernel, multiprocessors=sms, **values)
    print(f"split {what}: grid {c.grid} splits {c.splits} workspace {c.workspace_bytes}")
# ATTNRT_SPLIT_KV overrides the heuristic (at most one split per key tile).
for forced in ("3", "9", "0"):
    os.environ["ATTNRT_SPLIT_KV"] = forced
    try:
        print(f"forced {forced}: splits",
              module.plan("causal_bf16", q=q, k=k, v=v, o=o, lse=lse).splits)
    except gpu.AttnrtError as e:
        print(f"forced {forced}: {e}")
del os.environ["ATTNRT_SPLIT_KV"]
expect_error("table dtype", lambda: paged(block_table=table.astype(np.int64)))
expect_error("table batch", lambda: paged(block_table=np.zeros((3, 5), np.int32)))
expect_error("lengths batch", lambda: paged(kv_lens=np.zeros(1, np.int32)))
expect_error("value pool", lambda: paged(v=bf16((9, 8, 2, 128))))
expect_error("empty pool", lambda: paged(k=bf16((0, 16, 2, 128)), v=bf16((0, 16, 2, 128))))

expect_error("dtype", lambda: module.plan("causal_bf16", q=np.zeros((1, 4, 300, 128), np.float32),
                                          k=k, v=v, o=o, lse=lse))
expect_error("shape", lambda: module.plan("causal_bf16", q=bf16((1, 4, 299, 128)), k=k, v=v, o=o, lse=lse))
expect_error("rank", lambda: module.plan("window_f32", q=np.zeros((2, 4, 16), np.float32), k=wk, v=wv,
                                         mask0=5, o=wo))
expect_error("strides", lambda: module.plan("window_f32", q=np.zeros((2, 4, 16, 1000), np.float32).transpose(0, 1, 3, 2),
                                            k=wk, v=wv, mask0=5, o=wo))
expect_error("missing", lambda: module.plan("window_f32", q=wq, k=wk, v=wv, o=wo))
expect_error("unknown argument", lambda: module.plan("window_f32", q=wq, k=wk, v=wv, mask0=5, o=wo, bias=1))
expect_error("unknown kernel", lambda: module.plan("nope", q=wq))
expect_error("scalar kind", lambda: module.plan("window_f32", q=wq, k=wk, v=wv, mask0=wq, o=wo))
expect_error("value length", lambda: module.plan("window_f32", q=wq, k=wk, v=np.zeros((2, 2, 699, 8), np.float32),
                                                 mask0=5, o=wo))
expect_error("output length", lambda: module.plan("window_f32", q=wq, k=wk, v=wv, mask0=5,
                                                  o=np.zeros((2, 4, 999, 8), np.float32)))
expect_error("batch", lambda: module.plan("window_f32", q=wq, k=np.zeros((1, 2, 700, 16), np.float32),
                                          v=wv, mask0=5, o=wo))
# Pointers: element alignment everywhere, 16 bytes for what the
# tensor-core kernels copy; sizes whose element or byte count overflows.
expect_error("misaligned", lambda: module.plan(
    "window_f32", q=Fake((2, 4, 1000, 16), "float32", 4, offset=2), k=wk, v=wv, mask0=5, o=wo))
expect_error("not 16-byte aligned", lambda: module.plan(
    "causal_bf16", q=q, k=bf16((1, 2, 300, 128), offset=8), v=v, o=o, lse=lse))
expect_error("writes 16-byte chunks", lambda: module.plan(
    "causal_bf16", q=q, k=k, v=v, o=bf16((1, 4, 300, 128), offset=8), lse=lse))
expect_error("elements overflow", lambda: module.plan(
    "window_f32", q=Fake((2, 4, 2 ** 62, 16), "float32", 4, strides=(0, 0, 0, 4)),
    k=wk, v=wv, mask0=5, o=wo))
expect_error("bytes overflow", lambda: module.plan(
    "window_f32", q=Fake((2, 4, 2 ** 55, 16), "float32", 4, strides=(0, 0, 0, 4)),
    k=wk, v=wv, mask0=5, o=wo))
expect_error("launch", lambda: module.run("window_f32", q=wq, k=wk, v=wv, mask0=5, o=wo))

# Broken manifests: the line and what was expected.
for name, text in [("header", "attn-gpu-manifest 2\nend\n"),
                   ("kernel line", "attn-gpu-manifest 1\nkernel k block 128\nend\n"),
                   ("kv layout", "attn-gpu-manifest 1\nkernel k block 128 q_tile 1 per_block 128 smem 0 "
                                 "layout bhsd kv_layout thd args 0\nend\n"),
                   ("split tile", "attn-gpu-manifest 1\nkernel k block 128 q_tile 64 per_block 1 smem 0 "
                                  "layout bhsd split_kv 0 args 0\nend\n"),
                   ("tma rows", "attn-gpu-manifest 1\nkernel k block 256 q_tile 128 per_block 1 smem 0 "
                                "layout bhsd tma 512 args 0\nend\n"),
                   ("tma layout", "attn-gpu-manifest 1\nkernel k block 256 q_tile 128 per_block 1 smem 0 "
                                  "layout thd tma 128 args 0\nend\n"),
                   ("count", "attn-gpu-manifest 1\nkernel k block 128 q_tile 1 per_block 128 smem 0 "
                             "layout bhsd args 2\narg q in buffer f32 4 1 1 1 1\nend\n"),
                   ("end", "attn-gpu-manifest 1\n")]:
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"attnrt-{os.getpid()}.manifest")
    with open(path, "w") as f:
        f.write(text)
    expect_error(f"manifest {name}", lambda: gpu.Module(binary, path, library))
    os.remove(path)
expect_error("missing binary", lambda: gpu.Module("/nonexistent.cubin", manifest, library))

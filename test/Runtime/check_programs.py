"""Exercises attnrt's programs and selection kernels without a GPU:
manifest parsing (and its errors), launch plans of a selection kernel,
the argument checks of a program, and the error of a launch.

usage: check_programs.py PYTHON_DIR LIBATTNRT BINARY MANIFEST ROUTED_BINARY ROUTED_MANIFEST

The routed module is H4: a program whose steps a flag argument picks.
"""

import os
import sys

import numpy as np

python_dir, library, binary, manifest, routed_binary, routed_manifest = sys.argv[1:7]
sys.path.insert(0, python_dir)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn import gpu  # noqa: E402
from fakes import bf16, expect_error  # noqa: E402

module = gpu.Module(binary, manifest, library)
print("kernels:", " ".join(module.kernels))
print("programs:", " ".join(module.programs))
print("dsa__step0:", module.launch_info("dsa__step0"))
print("dsa:", [role for role, *_ in module.arguments("dsa")])

qi, ki = bf16((2, 200, 2, 32)), bf16((2, 200, 32))
w = np.zeros((2, 200, 2), np.float32)
counts = np.zeros((2, 1, 200), np.int32)
indices = np.zeros((2, 1, 200, 64), np.int32)
c = module.plan("dsa__step0", index_q=qi, index_k=ki, weights=w, counts=counts,
                indices=indices)
print(f"plan dsa__step0: grid {c.grid} block {c.block} items {c.work_items} "
      f"workspace {c.workspace_bytes}")
# The indexer reads its queries' rows in 16-byte chunks.
expect_error("index_q alignment", lambda: module.plan(
    "dsa__step0", index_q=bf16((2, 200, 2, 32), offset=2), index_k=ki, weights=w,
    counts=counts, indices=indices))

q, kv, o = bf16((2, 4, 200, 64)), bf16((2, 1, 200, 64)), bf16((2, 4, 200, 64))
args = dict(q=q, k=kv, v=kv, index_q=qi, index_k=ki, weights=w, o=o)
c = module.plan("dsa", **args)
print(f"plan dsa: items {c.work_items}")
expect_error("program weights dtype", lambda: module.plan(
    "dsa", **dict(args, weights=np.zeros((2, 200, 2), np.int32))))
expect_error("program k shape", lambda: module.plan(
    "dsa", **dict(args, k=bf16((2, 1, 100, 64)))))
expect_error("program launch", lambda: module.run("dsa", **args))

def manifest_module(text):
    """A module of `binary` with the manifest `text` (its kernel and program
    lines, between the header and `end`)."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"attnrt-{os.getpid()}.manifest")
    with open(path, "w") as f:
        f.write("attn-gpu-manifest 1\n" + text + "end\n")
    try:
        return gpu.Module(binary, path, library)
    finally:
        os.remove(path)


# Broken program sections: the line and what is wrong.
kernel = ("kernel s block 256 q_tile 1 per_block 1 smem 0 layout bhsd select 4 "
          "scratch 16 args 1\narg x out buffer i32 1 4\n")
for name, text in [
        ("select", "kernel s block 256 q_tile 1 per_block 1 smem 0 layout bhsd "
                   "select 4 args 0\n"),
        ("grid_sync without select", "kernel s block 256 q_tile 1 per_block 1 smem 0 "
                                     "layout bhsd grid_sync args 0\n"),
        ("unknown step", kernel + "program p temps 0 steps 1 args 1\n"
                                  "arg x out buffer i32 1 4\nstep t a0\n"),
        ("binding", kernel + "program p temps 0 steps 1 args 1\n"
                             "arg x out buffer i32 1 4\nstep s a1\n"),
        ("binding count", kernel + "program p temps 1 steps 1 args 0\n"
                                   "temp i32 1 4\nstep s t0 t0\n"),
        ("temp", kernel + "temp i32 1 4\n"),
        ("temp element", kernel + "program p temps 1 steps 1 args 0\n"
                                  "temp f64 1 4\nstep s t0\n"),
        ("counts", kernel + "program p temps 1 steps 1 args 0\nstep s t0\n"),
        ("kernel after", kernel + "program p temps 1 steps 1 args 0\n"
                                  "temp i32 1 4\nstep s t0\n" + kernel),
        ("guard on a buffer", kernel + "program p temps 0 steps 1 args 2\n"
                                       "arg f in scalar i1\narg x out buffer i32 1 4\n"
                                       "step s a1 when a1\n"),
        ("guard out of range", kernel + "program p temps 0 steps 1 args 2\n"
                                        "arg f in scalar i1\narg x out buffer i32 1 4\n"
                                        "step s a1 unless a2\n"),
        ("guard not last", kernel + "program p temps 0 steps 1 args 2\n"
                                    "arg f in scalar i1\narg x out buffer i32 1 4\n"
                                    "step s a1 when a0 a1\n")]:
    expect_error(f"manifest {name}", lambda: manifest_module(text))

# The selection workspace: at most 512 MiB, unless that leaves fewer than
# two blocks per SM (the indexer's 16-row tiles at 128K keys: 8 MiB each).
long = manifest_module("kernel long block 256 q_tile 1 per_block 1 smem 0 layout bhsd "
                       "select 512 scratch 8388608 args 1\narg x out buffer i32 1 4\n")
for sms in (0, 16, 132, 300):
    c = long.plan("long", multiprocessors=sms, x=np.zeros(4, np.int32))
    print(f"plan long {sms} SMs: grid {c.grid} workspace {c.workspace_bytes}")

# Grid-wide barriers (D7's selection): one block per SM at most, every one
# resident; the scratch is the grid's, then the barrier's counter (16 bytes).
synced = manifest_module("kernel sync block 256 q_tile 1 per_block 1 smem 0 layout bhsd "
                         "select 1000 scratch 4096 grid_sync args 1\n"
                         "arg x out buffer i32 1 4\n")
for sms in (0, 16, 132, 2000):
    c = synced.plan("sync", multiprocessors=sms, x=np.zeros(4, np.int32))
    print(f"plan sync {sms} SMs: grid {c.grid} workspace {c.workspace_bytes}")

# H4: the flag picks the branch's steps at launch; its value is checked.
routed = gpu.Module(routed_binary, routed_manifest, library)
print("routed:", [role for role, *_ in routed.arguments("routed")])
q, kv, o = bf16((1, 4, 128, 64)), bf16((1, 2, 128, 64)), bf16((1, 4, 128, 64))
c = routed.plan("routed", flag=True, q=q, k=kv, v=kv, o=o)
print(f"plan routed: items {c.work_items}")
expect_error("routed flag 2", lambda: routed.plan("routed", flag=2, q=q, k=kv, v=kv, o=o))
expect_error("routed flag tensor", lambda: routed.plan(
    "routed", flag=np.zeros(3, np.int32), q=q, k=kv, v=kv, o=o))

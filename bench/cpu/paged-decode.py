"""Inputs of bench/cpu/paged-decode.mlir: full sequences (kv_lens = 8192)
and a random permutation of the pool's pages as the block table, written
as .npy files to the directory given; prints the attn-run commands.

usage: /usr/bin/python3 bench/cpu/paged-decode.py DIR
"""

import os
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
table = rng.permutation(4096).reshape(8, 512).astype(np.int32)
np.save(os.path.join(out, "block_table.npy"), table)
np.save(os.path.join(out, "kv_lens.npy"), np.full(8, 8192, np.int32))
print(f"build/bin/attn-run bench/cpu/paged-decode.mlir --func paged --random 1 "
      f"--input block_table={out}/block_table.npy --input kv_lens={out}/kv_lens.npy "
      f"--bench 20 --json")
print("build/bin/attn-run bench/cpu/paged-decode.mlir --func contiguous --random 1 "
      "--bench 20 --json")

"""Compiles attention specs for the CPU and compares them with the float64
reference on random data.

Every case becomes one function of a module; `main` calls each with random
inputs (dense constants) and prints O and LSE. The module goes through
`attn-opt --attn-cpu-pipeline` and `mlir-runner`; the printed values are
compared with python/attn/reference.py. Prints one line per case and a
summary; exits non-zero on any mismatch.

usage: check_attention.py ATTN_OPT MLIR_RUNNER RUNNER_LIB_DIR PYTHON_DIR
"""

import re
import subprocess
import sys

import numpy as np

attn_opt, runner, lib_dir, python_dir = sys.argv[1:5]
sys.path.insert(0, python_dir)
from attn import cases as cases_lib  # noqa: E402
from attn.cases import Case, LinearCase, cases  # noqa: E402,F401


def parse_prints(text):
    blocks = text.split("Unranked Memref")[1:]
    values = []
    for block in blocks:
        data = block.split("data =", 1)[1]
        values.append(np.array([float(x) for x in
                                re.findall(r"-?inf|nan|-?\d+\.?\d*(?:e[-+]?\d+)?", data)]))
    return values


def run(all_cases, tiles="q-tile=8 k-tile=16", verbose=True):
    """Compiles and runs `all_cases` in one module; prints one line per case
    (or only failures) and returns the number of failures."""
    module = "".join(c.function(n) for n, c in enumerate(all_cases))
    module += "func.func private @printMemrefF32(memref<*xf32>) attributes {llvm.emit_c_interface}\n"
    module += "func.func @main() {\n" + "".join(c.call(n) for n, c in enumerate(all_cases))
    module += "  return\n}\n"
    compiled = subprocess.run([attn_opt, "-", f"--attn-cpu-pipeline={tiles}"],
                              input=module, capture_output=True, text=True)
    if compiled.returncode != 0:
        sys.exit(f"compilation failed:\n{compiled.stderr[-3000:]}")
    libs = f"{lib_dir}/libmlir_runner_utils.so,{lib_dir}/libmlir_c_runner_utils.so"
    ran = subprocess.run([runner, "-e", "main", "-entry-point-result=void",
                          f"-shared-libs={libs}"], input=compiled.stdout,
                         capture_output=True, text=True)
    if ran.returncode != 0:
        sys.exit(f"execution failed:\n{ran.stderr[-3000:]}")
    printed = parse_prints(ran.stdout)
    failures, index = 0, 0
    for case in all_cases:
        out = printed[index].reshape(case.out_shape)
        index += 1
        lse = None
        if case.lse:
            lse = printed[index].reshape(case.lse_shape)
            index += 1
        ok, error, empty_rows = cases_lib.compare(case, out, lse)
        if verbose or not ok:
            print(f"{'ok  ' if ok else 'FAIL'} {case.name}: max rel error "
                  f"{error:.2e}"
                  + (f", {empty_rows} fully masked rows" if empty_rows else ""))
        failures += not ok
    return failures


if __name__ == "__main__":
    all_cases = list(cases())
    # An optional fifth argument picks the pipeline options (tile sizes,
    # tile-body); the default keeps 8 x 16 tiles.
    failures = run(all_cases, *sys.argv[5:6])
    print(f"{len(all_cases) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)

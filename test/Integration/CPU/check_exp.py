"""Accuracy of attn-approximate-math's exp: compiles a function that
applies math.exp to 16-lane vectors of test points, runs it with
mlir-runner, and compares with float64 exp: relative error below 1e-6 for
normal results (measured: 2e-7), exactly 0 below the smallest normal result and for -inf,
+inf above the largest.

usage: check_exp.py ATTN_OPT MLIR_RUNNER LLVM_LIB_DIR"""

import subprocess
import sys

import numpy as np

attn_opt, runner, lib_dir = sys.argv[1:4]
points = np.concatenate([
    np.linspace(-87.3, 88.7, 4000), np.linspace(-1, 1, 1000),
    -np.logspace(-8, 1.9, 500), np.logspace(-8, 1.9, 500),
    [-np.inf, -1e30, -104.0, -87.34, -87.33, 0.0, 88.72, 89.0, 1e30, np.inf],
]).astype(np.float32)
points = np.concatenate([points, np.zeros((-len(points)) % 16, np.float32)])
rows = points.reshape(-1, 16)


def literal(x):
    if np.isinf(x):
        return "0x7F800000" if x > 0 else "0xFF800000"
    return repr(float(x))


# The points live in a global buffer, so that nothing folds at compile time.
values = ", ".join(literal(x) for x in points)
module = (f"memref.global \"private\" constant @points : memref<{len(points)}xf32> = "
          f"dense<[{values}]>\n"
          "func.func @main() {\n"
          f"  %p = memref.get_global @points : memref<{len(points)}xf32>\n"
          "  %c0 = arith.constant 0 : index\n  %c16 = arith.constant 16 : index\n"
          f"  %n = arith.constant {len(points)} : index\n"
          "  scf.for %i = %c0 to %n step %c16 {\n"
          "    %x = vector.load %p[%i] : memref<" + str(len(points)) + "xf32>, vector<16xf32>\n"
          "    %e = math.exp %x : vector<16xf32>\n"
          "    %bits = arith.bitcast %e : vector<16xf32> to vector<16xi32>\n"
          "    vector.print %bits : vector<16xi32>\n"
          "  }\n  return\n}\n")
lowered = subprocess.run(
    [attn_opt, "-", "--attn-approximate-math", "--convert-vector-to-scf",
     "--convert-scf-to-cf", "--convert-vector-to-llvm", "--convert-cf-to-llvm",
     "--finalize-memref-to-llvm",
     "--convert-math-to-llvm", "--convert-arith-to-llvm",
     "--convert-func-to-llvm", "--reconcile-unrealized-casts"],
    input=module, capture_output=True, text=True, check=True).stdout
ran = subprocess.run(
    [runner, "-e", "main", "-entry-point-result=void",
     f"-shared-libs={lib_dir}/libmlir_c_runner_utils.so"],
    input=lowered, capture_output=True, text=True)
if ran.returncode:
    sys.exit(ran.stderr[-2000:])
out = ran.stdout
# Printed as bit patterns: exact.
got = np.array([int(x) for line in out.split("\n") if line.startswith("(")
                for x in line.strip("()\n ").split(",")],
               np.int64).astype(np.uint32).view(np.float32).astype(np.float64)
with np.errstate(over="ignore"):
    want = np.exp(points.astype(np.float64))
normal = (want >= np.finfo(np.float32).tiny) & (want <= np.finfo(np.float32).max)
errors = np.abs(got[normal] - want[normal]) / want[normal]
rel = np.max(errors)
if "-v" in sys.argv:
    worst = np.argsort(errors)[-5:]
    print(points[normal][worst], errors[worst], got[~normal & (points < 0)][:10])
zeros_ok = bool(np.all(got[points < -87.3366] == 0))
inf_ok = bool(np.all(np.isposinf(got[points > 88.723])))
ok = rel < 1e-6 and zeros_ok and inf_ok
print(f"{'ok' if ok else 'FAIL'}: {len(points)} points, max relative error "
      f"{rel:.1e}, zeros {zeros_ok}, infinities {inf_ok}")
sys.exit(0 if ok else 1)

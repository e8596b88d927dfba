# lit configuration of the attn-mlir regression tests.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs",
                   "consumer"]

# Named captures must not leak across CHECK-LABELs.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

config.substitutions.append(("%attn_src_root", config.attn_src_root))
config.substitutions.append(("%attn_obj_root", config.attn_obj_root))
config.substitutions.append(
    ("%attn_plugin", os.path.join(config.attn_lib_dir, "AttnPlugin.so")))
config.substitutions.append(("%cmake", config.cmake_command))
# Where libmlir_runner_utils.so lives, for mlir-runner.
config.substitutions.append(("%llvm_lib_dir", config.llvm_lib_dir))
config.substitutions.append(("%cxx", config.cxx_compiler))
config.substitutions.append(
    ("%{build_flags}",
     f'"-DCMAKE_CXX_FLAGS={config.cxx_flags}" '
     f'"-DCMAKE_EXE_LINKER_FLAGS={config.exe_linker_flags}"'))
config.substitutions.append(("%cc", config.c_compiler))
# The interpreter with Debian's packages, not the first python3 on PATH.
config.substitutions.append(("%python", "/usr/bin/python3"))

llvm_config.add_tool_substitutions(
    ["attn-opt", "attn-translate", "attn-run"], [config.attn_tools_dir])
# The stock upstream drivers: the plugin test, and running compiled kernels.
llvm_config.add_tool_substitutions(["mlir-opt", "mlir-runner"],
                                   [config.llvm_tools_dir])

# AMX tiles with bf16 products on this CPU: the kernels use them for bf16
# inputs, and tests of that path need the hardware.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = cpuinfo.read()
    if " amx_bf16" in flags and " amx_tile" in flags:
        config.available_features.add("amx")
except OSError:
    pass

# ptxas (CUDA toolkit) turns PTX into cubin: --emit=cubin and the register
# and spill reports of the GPU kernels. Optional, like in the build.
for ptxas in [os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")]:
    if os.path.exists(ptxas):
        config.available_features.add("ptxas")
        config.substitutions.append(("%ptxas", ptxas))
config.substitutions.append(
    ("%attnrt", os.path.join(config.attn_lib_dir, "libattnrt.so")))

/*===- attn-c/Compiler.h - the attn compiler as a C library -------*- C -*-===//
 *
 * The stable C entry points of libAttnCAPI.so, which front ends (the Python
 * package through ctypes, other languages' FFIs) use to compile attention
 * specs without linking C++ or MLIR themselves.
 *
 * A compilation reads a spec module as MLIR text and writes its kernels
 * into a directory:
 *
 *   target "cpu":     kernel.so (one C entry `_mlir_ciface_NAME` per spec
 *                     function, the ABI of `attn-translate --emit=c-header`),
 *                     kernel.manifest, and with emit-ir=1 kernel.ll.
 *   target "sm_XX":   kernel.cubin (ptxas found) or kernel.ptx, and
 *                     kernel.manifest (the attnrt manifest).
 *
 * Manifests list every kernel with its arguments in ABI order
 * (`kernel NAME ...`, then `arg ROLE in|out buffer ELEM RANK SIZES...` or
 * `arg ROLE in scalar ELEM`; -1 is a dynamic size).
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTN_C_COMPILER_H
#define ATTN_C_COMPILER_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ATTN_CAPI_EXPORT __attribute__((visibility("default")))
#else
#define ATTN_CAPI_EXPORT
#endif

/* Compiles the spec module `spec` (MLIR text; `source_name` names it in
 * diagnostics, which also carry the locations written in the text) for
 * `target` ("cpu", or a GPU chip such as "sm_80" or "sm_90a") into
 * `output_dir`, which must exist. `options` is a space-separated list of
 * key=value pairs, all optional:
 *
 *   cpu=NAME        (cpu) LLVM CPU name; default: the host with its features
 *   q-tile=N        query rows per tile (cpu: any; gpu: 64 or 128 rows
 *                   per block of the tensor-core body; default: chosen)
 *   k-tile=N        keys per tile (gpu: 64, or 128 on sm_90a, keys per
 *                   tile of the tensor-core body; default: chosen)
 *   block-size=N    (gpu) threads per block of the row form
 *   mma=0|1         (gpu) the tensor-core body where it applies (default 1)
 *   split-kv=0|1    (gpu) split keys over blocks at launch (default 1)
 *   tma=0|1         (gpu) the 128 x 128 warpgroup body (sm_90a) loads its
 *                   tiles by TMA, attnrt encoding the tensor maps (default 1)
 *   binary=0|1      (gpu) cubin through ptxas (default: 1 when found)
 *   emit-ir=0|1     (cpu) also write the optimized LLVM IR as kernel.ll
 *   abi=kernel|tensor (cpu) kernel: the threaded destination-passing ABI
 *                   (default); tensor: the spec function's own signature
 *                   through MLIR's C interface (`_mlir_ciface_NAME(results,
 *                   args...)`, results malloc'd, one thread), for spec
 *                   functions with selection ops feeding an attention
 *
 * Returns 0 on success and 1 on failure. `*diagnostics` (when not null)
 * receives every diagnostic as text, "file:line:col: error: message" with
 * the source line, or null when there were none; free it with
 * attnFreeString. */
ATTN_CAPI_EXPORT int attnCompile(const char *spec, const char *source_name,
                                 const char *target, const char *options,
                                 const char *output_dir, char **diagnostics);

/* Parses and verifies `spec` only; same return value and diagnostics. */
ATTN_CAPI_EXPORT int attnVerify(const char *spec, const char *source_name,
                                char **diagnostics);

/* The compiler's version: the project version and the LLVM version it was
 * built against (a static string). */
ATTN_CAPI_EXPORT const char *attnCompilerVersion(void);

/* Frees a string returned by this library. */
ATTN_CAPI_EXPORT void attnFreeString(char *string);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_COMPILER_H */

/*===- attnrt.h - launch attn GPU kernels -------------------------*- C -*-===//
 *
 * attnrt loads the kernels that `attn-translate --emit=cubin|ptx` produced
 * and launches them on a caller's CUDA stream. It has no LLVM, MLIR or CUDA
 * toolkit dependency: the CUDA driver (libcuda.so.1) is opened at run time,
 * so programs link and start on machines without a GPU and get a clear
 * error only when they launch.
 *
 * A module is the binary (cubin, or PTX that the driver compiles) plus the
 * manifest from `attn-translate --emit=gpu-manifest`. The manifest lists,
 * per kernel, its block size, the query rows per work item (batch, head,
 * query tile), the work items per block, the dynamic shared memory, the
 * query layout, the K/V layout where it differs (a paged pool) and its
 * arguments in order:
 *
 *   attn-gpu-manifest 1
 *   kernel NAME block THREADS q_tile ROWS per_block ITEMS smem BYTES
 *          layout bhsd|bshd|thd [kv_layout paged] [split_kv TILE]
 *          [packed_heads G] [residue_groups R] [tma ROWS]
 *          args N                                        (one line)
 *   arg ROLE in|out buffer ELEMENT RANK SIZE...   (SIZE -1: dynamic)
 *   arg ROLE in scalar ELEMENT                 (index, f32, i32, i64, i1)
 *   ...
 *   end
 *
 * ELEMENT is f32, f16, bf16, i32, i64 or i1 (one byte per element). Roles
 * are q, k, v, the operands of the spec's groups (mask0, score0, ...),
 * cu_seqlens_q/kv or block_table/kv_lens, then the outputs o and lse.
 *
 * Before a launch every argument is checked against the manifest: kind,
 * element type, rank, static sizes, contiguity (row-major strides), a
 * device-accessible pointer, and the sizes Q, K, V, O and LSE must agree
 * on (batch, heads with H a multiple of the key heads, sequence lengths,
 * head dims; for a paged K/V pool [P, page, Hkv, D], a block table [B, N]
 * and lengths [B] of Q's batch, at least one page). The kernels clamp the
 * table's entries into the pool and the lengths into [0, N * page], so
 * that bad data cannot read out of bounds (the Python entry checks their
 * ranges). The grid is computed from the sizes of Q.
 *
 * Selection kernels (`select ROWS scratch BYTES` before `args`) run a
 * block per row over a grid of at most ROWS blocks and take one argument
 * after the manifest's: a workspace of BYTES per block (i8), which attnrt
 * supplies. After the kernels, a program (a spec function of several ops)
 * lists its arguments, the temporaries between its steps and the steps:
 *
 *   program NAME temps T steps S args N
 *   arg ...                                   (N, as for kernels)
 *   temp ELEMENT RANK SIZE...                 (T, static shapes)
 *   step KERNEL BINDING... [when|unless aF]   (S; aI: argument I, tJ:
 *                                              temporary J, one per kernel
 *                                              argument; aF: an i1 scalar
 *                                              argument, the flag)
 *
 * Launching a program launches its steps in order on the stream, the
 * temporaries in a per-stream buffer; a step with `when aF` only when the
 * flag is set, with `unless aF` only when it is clear (a runtime choice
 * between variants, H4).
 *
 * A kernel with `split_kv TILE` (keys per tile) takes three arguments
 * after the manifest's, which attnrt supplies: a workspace (f32), one
 * counter per work item (i32, zeroed before the launch) and the split
 * count. attnrt_launch allocates the workspace on the launch's stream
 * (cuMemAllocAsync; freed after the kernel, stream-ordered), so
 * concurrent launches never share one.
 *
 * A kernel with `tma ROWS` (sm_90a, BHSD/BSHD Q and K/V) copies its tiles
 * with the tensor memory accelerator and takes one more argument, last:
 * the tensor maps of Q, K and V (128 bytes each, i8), which attnrt encodes
 * per launch (cuTensorMapEncodeTiled: 4-D maps of the contiguous tensors,
 * boxes of 64 columns by q_tile rows of Q and ROWS rows of K and V,
 * 128-byte swizzle, zeros past the ends) and copies to a per-stream buffer
 * when they differ from the last ones there. Every failure returns
 * non-zero and leaves a message in attnrt_last_error().
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTN_RUNTIME_ATTNRT_H
#define ATTN_RUNTIME_ATTNRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTNRT_MAX_RANK 8

typedef enum attnrt_dtype {
  ATTNRT_F32 = 0,
  ATTNRT_F16 = 1,
  ATTNRT_BF16 = 2,
  ATTNRT_I32 = 3,
  ATTNRT_I64 = 4,
  ATTNRT_BOOL = 5, /* i1: one byte per element, 0 or 1 */
  ATTNRT_I8 = 6,   /* i8: pyramid levels (D6) */
} attnrt_dtype;

typedef enum attnrt_arg_kind {
  ATTNRT_ARG_TENSOR = 0,
  ATTNRT_ARG_INT = 1,   /* index, i32, i64 scalars */
  ATTNRT_ARG_FLOAT = 2, /* f32 scalars */
} attnrt_arg_kind;

/* A device tensor: sizes and strides in elements. */
typedef struct attnrt_tensor {
  void *data;
  int32_t dtype; /* attnrt_dtype */
  int32_t rank;
  int64_t sizes[ATTNRT_MAX_RANK];
  int64_t strides[ATTNRT_MAX_RANK];
} attnrt_tensor;

typedef struct attnrt_arg {
  int32_t kind; /* attnrt_arg_kind */
  int32_t reserved;
  attnrt_tensor tensor;
  int64_t int_value;
  double float_value;
} attnrt_arg;

/* The launch configuration of one call. */
typedef struct attnrt_launch_config {
  uint32_t grid;      /* blocks (x) */
  uint32_t block;     /* threads per block (x) */
  uint32_t shared_bytes; /* dynamic shared memory per block */
  int64_t work_items; /* (batch, head, query tile) items; 0: nothing to do */
  /* Split keys (kernels with `split_kv`): blocks per work item, and the
   * bytes of the workspace attnrt allocates on the launch's stream for
   * their partial results and counters (0 without splits). */
  uint32_t splits;
  uint64_t workspace_bytes;
} attnrt_launch_config;

typedef struct attnrt_module attnrt_module;

/* Parses the manifest and keeps a copy of the binary; does not touch the
 * GPU (the driver loads the binary at the first launch). */
int attnrt_module_create(const void *binary, size_t binary_size,
                         const char *manifest, attnrt_module **module);
/* Reads the binary and the manifest from files. */
int attnrt_module_create_from_files(const char *binary_path,
                                    const char *manifest_path,
                                    attnrt_module **module);
void attnrt_module_destroy(attnrt_module *module);

/* Number of kernels and the name of kernel `index`. */
int32_t attnrt_kernel_count(const attnrt_module *module);
const char *attnrt_kernel_name(const attnrt_module *module, int32_t index);

/* Number of programs (spec functions of several ops, launched step by
 * step) and the name of program `index`. attnrt_plan and attnrt_launch
 * accept a program's name where they take a kernel's. */
int32_t attnrt_program_count(const attnrt_module *module);
const char *attnrt_program_name(const attnrt_module *module, int32_t index);

/* Checks `args` against kernel `kernel` of the manifest and computes the
 * launch configuration; touches neither the GPU nor the data. Plans
 * without split keys, unless ATTNRT_SPLIT_KV=N forces N blocks per work
 * item (tests and tuning; attnrt_launch honors it too). */
int attnrt_plan(const attnrt_module *module, const char *kernel,
                const attnrt_arg *args, int32_t num_args,
                attnrt_launch_config *config);
/* attnrt_plan as attnrt_launch plans on a GPU of `multiprocessors` SMs
 * of an H100's 228 KiB of shared memory each: where a kernel has
 * `split_kv` and the work items are fewer than the blocks the SMs hold at
 * once (R per SM: what their shared memory and 64K registers at 255 per
 * thread allow), each item's keys are split over floor(SMs * R / items)
 * blocks (at most 64, at least 4 key tiles each). attnrt_launch uses the
 * device's own shared memory per SM. */
int attnrt_plan_for_device(const attnrt_module *module, const char *kernel,
                           const attnrt_arg *args, int32_t num_args,
                           int32_t multiprocessors,
                           attnrt_launch_config *config);

/* attnrt_plan, then checks that every tensor is in device memory, loads
 * the module on the current CUDA context (the device's primary context if
 * none is current) and launches on `stream` (a CUstream; NULL for the
 * default stream). Asynchronous: errors of the kernel itself show at the
 * next synchronization. */
int attnrt_launch(attnrt_module *module, const char *kernel,
                  const attnrt_arg *args, int32_t num_args, void *stream);

/* Waits for `stream`; reports errors of earlier launches. */
int attnrt_synchronize(void *stream);

/* The message of the last failure on this thread ("" if none). */
const char *attnrt_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_RUNTIME_ATTNRT_H */

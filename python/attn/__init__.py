"""attn-mlir's Python package.

Write attention specs (`Spec`, the mask/score/norm/gate builders), compile
them for the CPU or an NVIDIA GPU (`compile`) and call the kernels on NumPy
arrays or PyTorch tensors; `reference` modules hold the float64 semantics.
See docs/python.md.
"""

from attn.builders import (
    Operand, scalar, tensor,
    full, empty, causal, sliding_window, key_prefix, query_prefix, sink,
    prefix_lm, key_padding, query_padding, document, dilated, dilated_window,
    power, neighborhood, varying_window, dense, blocks, pyramid, tokens, heads,
    keep_keys, keep_queries, predicate,
    temperature, bias, alibi, rel_pos, softcap, decay, score_fn,
    softmax, sink_softmax, clipped_softmax, affine_softmax, sigmoid,
    output_gate)
from attn import bf16
from attn.compiler import CompileError
from attn.kernel import Kernel, compile
from attn.selection import (block_topk, head_topk, hip_topk, indexer_topk, pool,
                            pyramid_levels, query_topk, threshold_blocks, value_topk)
from attn.spec import LinearSpec, Spec
from attn.trace import (TraceError, exp, exp2, floor, log, log2, maximum,
                        minimum, sqrt, tanh, where)
from attn.trace import sigmoid as sigmoid_fn

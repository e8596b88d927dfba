"""Traced score and mask functions: the compiled region against the same
function evaluated by NumPy, and clear errors for what cannot be traced."""

import math

import numpy as np
import pytest

import attn
from helpers import check, qkv, uniform

SLOPES = attn.tensor("slopes", "Hq")
TABLE = attn.tensor("table", "Hq 16")
SHIFT = attn.scalar("shift", "f32")
WINDOW = attn.scalar("window", "index")
DOC = attn.tensor("doc", "B Sk", "i32")

SCORE_FUNCTIONS = {
    "alibi as a lambda": (lambda s, b, h, q, k: s + SLOPES[h] * (k - q)),
    "softcap with np.tanh": (lambda s, b, h, q, k: 2.0 * np.tanh(s / 2.0)),
    "attn math functions": (lambda s, b, h, q, k: attn.log(1.0 + attn.exp(s)) - attn.sqrt(1.0 + abs(s))),
    "floor division and modulo of positions": (lambda s, b, h, q, k: s + 0.1 * ((q - k) // 7) - 0.05 * ((q - k) % 5)),
    "true division of positions": (lambda s, b, h, q, k: s - (q - k) / 64),
    "where and comparisons": (lambda s, b, h, q, k: attn.where((k < q) & (s > 0), s * 1.5, s - SHIFT)),
    "maximum and minimum": (lambda s, b, h, q, k: np.maximum(s, -1.0) + attn.minimum(q, k) / 100),
    "table lookup with a clamped index": (
        lambda s, b, h, q, k: s + TABLE[h, attn.minimum(attn.maximum(q - k, 0), 15)]),
    "batch-dependent": (lambda s, b, h, q, k: s * (1 + b) - h),
    "constant": (lambda s, b, h, q, k: 0.5),
}


@pytest.mark.parametrize("name", list(SCORE_FUNCTIONS))
def test_score_function(name):
    spec = attn.Spec(attn.causal(align="bottom_right"), SCORE_FUNCTIONS[name], lse=True)
    q, k, v = qkv()
    values = dict(slopes=uniform(4, lo=0, hi=0.3), table=uniform(4, 16), shift=0.25)
    check(spec, q, k, v, **{op.name: values[op.name] for op in spec.operands()})


MASK_FUNCTIONS = {
    "window with a runtime size": (lambda b, h, q, k: (k <= q) & (q - k <= WINDOW)),
    "stripes": (lambda b, h, q, k: ((q + k) % 3 == 0) | (k == 0)),
    "not": (lambda b, h, q, k: ~(k > q)),
    "per-batch document ids": (lambda b, h, q, k: DOC[b, q] == DOC[b, k]),
    "float condition on positions": (lambda b, h, q, k: attn.sqrt(q * 1.0 + k) < 10.0 + h),
    "always true": (lambda b, h, q, k: True),
}


@pytest.mark.parametrize("name", list(MASK_FUNCTIONS))
def test_mask_function(name):
    spec = attn.Spec(attn.predicate(MASK_FUNCTIONS[name]), lse=True)
    q, k, v = qkv(sq=90, sk=90)
    operands = {op.name: {"window": 11,
                          "doc": np.sort(np.random.default_rng(1).integers(0, 3, (2, 90))).astype(np.int32)}[op.name]
                for op in spec.operands()}
    check(spec, q, k, v, **operands)


def test_predicate_and_score_function_share_captures():
    spec = attn.Spec(attn.causal() & attn.predicate(lambda b, h, q, k: q - k <= WINDOW),
                     lambda s, b, h, q, k: s + SLOPES[h] * (k - q), lse=True)
    assert [op.name for op in spec.captures] == ["window", "slopes"]
    q, k, v = qkv()
    check(spec, q, k, v, window=17, slopes=uniform(4, lo=0, hi=0.3))


def test_captures_are_runtime_operands():
    """A new captured value reuses the compiled kernel."""
    spec = attn.Spec(score=lambda s, b, h, q, k: s + SLOPES[h] * (k - q), lse=True)
    kernel = attn.compile(spec)
    q, k, v = qkv()
    for seed in range(3):
        check(spec, q, k, v, kernel=kernel, slopes=uniform(4, lo=0, hi=0.5 + seed))
    assert len(kernel._variants) == 1


def test_ir_carries_python_locations():
    spec = attn.Spec(score=lambda s, b, h, q, k: s * 2.0)
    text = spec.to_mlir()
    assert f'loc("{__file__}":' in text
    assert "score_fn {" in text and "arith.mulf" in text


def _trace_error(fn, match, score=True):
    with pytest.raises(attn.TraceError, match=match) as info:
        spec = attn.Spec(score=fn) if score else attn.Spec(attn.predicate(fn))
        spec.to_mlir()
    assert __file__ in str(info.value)  # names the user's file and line
    return info.value


def test_branching_on_a_traced_value_is_an_error():
    def fn(s, b, h, q, k):
        if s > 0:
            return s
        return -s
    _trace_error(fn, "no truth value at trace time")


def test_python_and_or_are_errors():
    _trace_error(lambda b, h, q, k: k <= q and q < 10, "no truth value", score=False)


def test_math_module_is_an_error():
    _trace_error(lambda s, b, h, q, k: math.exp(s), "cannot be converted to a Python float")


def test_indexing_numpy_with_a_position_is_an_error():
    slopes = np.ones(4, np.float32)
    _trace_error(lambda s, b, h, q, k: s + slopes[h], "cannot index a NumPy array")
    _trace_error(lambda s, b, h, q, k: s + [1.0, 2.0][h], "cannot index a NumPy array")


def test_mixing_arrays_is_an_error():
    slopes = np.ones(4, np.float32)
    _trace_error(lambda s, b, h, q, k: s + slopes, "attn.tensor operands")


def test_wrong_result_type():
    _trace_error(lambda b, h, q, k: q - k, "must return a condition", score=False)


def test_wrong_tensor_rank():
    _trace_error(lambda s, b, h, q, k: s + SLOPES[h, q], "rank 1 indexed with 2")


def test_float_index_is_an_error():
    _trace_error(lambda s, b, h, q, k: s + SLOPES[s], "must be a position")


def test_exception_in_user_code_names_the_line():
    def fn(s, b, h, q, k):
        return s + undefined_name  # noqa: F821
    error = _trace_error(fn, "NameError")
    assert "undefined_name" in str(error)


def test_unsupported_ufunc():
    _trace_error(lambda s, b, h, q, k: np.sin(s), "np.sin is not traceable")


def test_two_score_functions_are_rejected():
    with pytest.raises(ValueError, match="at most one predicate and one score function"):
        attn.Spec(score=[lambda s, b, h, q, k: s, lambda s, b, h, q, k: s])

"""Clear errors for bad specs, bad compile options and bad call arguments,
raised before any kernel runs."""

import numpy as np
import pytest

import attn
from helpers import qkv, uniform


@pytest.fixture(scope="module")
def causal_kernel():
    return attn.compile(attn.Spec(attn.causal(), lse=True), dtype="f32", head_dim=16, value_dim=8)


def _compile_error(spec, match, **options):
    with pytest.raises(attn.CompileError, match=match) as info:
        attn.compile(spec, dtype="f32", head_dim=16, **options)
    return info.value


def test_verifier_errors_name_the_python_spec():
    spec = attn.Spec(attn.heads(3, 2))
    line = spec.where[1]
    error = _compile_error(spec, r"expected head range with 0 <= begin < end")
    assert f"{__file__}:{line}: in the spec built here" in str(error)
    assert error.locations and error.locations[0][3] == "error"


@pytest.mark.parametrize("mask,match", [
    (attn.neighborhood(grid=(6, 8), kernel=(13, 13)), "to fit in the grid extent"),
    (attn.sliding_window(left=-3), "non-negative window left size"),
    (attn.power(block=0), "positive power block size"),
])
def test_invalid_masks(mask, match):
    _compile_error(attn.Spec(mask), match)


def test_op_errors_point_at_the_spec_line():
    """Errors on the op itself carry the Python location of Spec(...)."""
    spec = attn.Spec(attn.causal(), lse=True)
    error = _compile_error(spec, "divide", heads=3, kv_heads=2)
    assert any(loc[0] == __file__ and loc[1] == spec.where[1] for loc in error.locations), error


def test_bad_compile_options():
    spec = attn.Spec(attn.causal())
    _compile_error(spec, "expected a positive integer for compile option 'q-tile'", q_tile=0)
    _compile_error(spec, "unknown cpu 'pentium9000'", cpu="pentium9000")
    with pytest.raises(attn.CompileError, match="unknown target 'sm_x'"):
        attn.compile(spec, target="sm_x", dtype="f32", head_dim=16)
    with pytest.raises(ValueError, match="mma= applies to GPU targets"):
        attn.compile(spec, mma=True)
    with pytest.raises(ValueError, match="dtype must be one of f32, f16, bf16"):
        attn.compile(spec, dtype="f64", head_dim=16)
    with pytest.raises(TypeError, match="expected an attn.Spec"):
        attn.compile("causal")


def test_builder_errors():
    with pytest.raises(TypeError, match="masks combine with masks"):
        attn.causal() & 3
    with pytest.raises(ValueError, match="align must be top_left or bottom_right"):
        attn.causal(align="middle")
    with pytest.raises(ValueError, match="operand name must be an identifier"):
        attn.scalar("not a name")
    with pytest.raises(ValueError, match="reserved"):
        attn.tensor("q", "B")
    with pytest.raises(ValueError, match="bad dimension"):
        attn.tensor("t", "B 3.5")
    with pytest.raises(ValueError, match="layout must be bhsd, bshd or thd"):
        attn.Spec(layout="sbhd")
    with pytest.raises(ValueError, match="expected an array of rank 1"):
        attn.alibi(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="f32 scalar but the mask slot reads index"):
        attn.Spec(attn.sliding_window(left=attn.scalar("w", "f32"))).to_mlir()


@pytest.mark.parametrize("change,match", [
    (lambda q, k, v: (q[0], k, v), r"q: expected rank 4"),
    (lambda q, k, v: (q, k[:, :, :, :8], v), r"k: dimension 3 \(D\) is 8 but compiled kernel has D = 16"),
    (lambda q, k, v: (q, k, v[:, :, :50]), r"v: dimension 2 \(Sk\) is 50 but k has Sk = 130"),
    (lambda q, k, v: (q[:, :3], k, v), r"3 query heads \(GQA\)"),
    (lambda q, k, v: (q.astype(np.int32), k, v), r"q: expected a float array"),
    (lambda q, k, v: (q, k[:1], v), r"dimension 0 \(B\) is 1 but q has B = 2"),
])
def test_bad_inputs(causal_kernel, change, match):
    q, k, v = change(*qkv())
    with pytest.raises((ValueError, TypeError), match=match):
        causal_kernel(q, k, v)


def test_bad_operands():
    spec = attn.Spec(attn.sliding_window(left="window") & attn.keep_keys("keep"),
                     attn.alibi("slopes"), lse=True)
    kernel = attn.compile(spec)
    q, k, v = qkv()
    good = dict(window=5, keep=np.ones((2, 2, 130), bool), slopes=uniform(4))
    kernel(q, k, v, **good)
    cases = [
        (dict(window=None), TypeError, "missing operand 'window'"),
        (dict(extra=1), TypeError, r"unknown operand\(s\) extra"),
        (dict(window=2.5), TypeError, "window: expected an int"),
        (dict(window=-1), ValueError, "window: window left must be >= 0, got -1"),
        (dict(keep=np.ones((2, 2, 130), np.int8)), TypeError, "keep: expected a bool array"),
        (dict(keep=np.ones((2, 3, 130), bool)), ValueError, "3 head groups do not divide 4"),
        (dict(slopes=uniform(3)), ValueError, r"slopes: dimension 0 \(Hq\) is 3 but q has Hq = 4"),
        (dict(slopes=np.ones(4, bool)), TypeError, "slopes: expected a float array"),
    ]
    for change, error, match in cases:
        values = {**good, **change}
        values = {name: x for name, x in values.items() if x is not None}
        with pytest.raises(error, match=match):
            kernel(q, k, v, **values)


def test_token_indices_out_of_range():
    spec = attn.Spec(attn.tokens("counts", "indices"))
    q, k, v = qkv()
    counts = np.full((2, 1, 100), 3, np.int32)
    indices = np.broadcast_to(np.arange(4, dtype=np.int32), (2, 1, 100, 4)).copy()
    indices[1, 0, 7, 2] = 130
    kernel = attn.Kernel(spec, "cpu", "", None, None, None, True, None)
    with pytest.raises(ValueError, match=r"indices: values must lie in \[0, 129\]"):
        attn.kernel._check_values(spec, _bound(q, k), dict(counts=counts, indices=indices))
    counts[0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"counts: values must lie in \[0, 4\]"):
        attn.kernel._check_values(spec, _bound(q, k), dict(counts=counts, indices=indices))
    counts[0, 0, 0] = 3
    indices[1, 0, 7, 2] = 5
    indices[1, 0, 7, :2] = [4, 5]
    with pytest.raises(ValueError, match=r"indices: the list at \(1, 0, 7\) repeats an entry"):
        kernel(q, k, v, counts=counts, indices=indices)
    indices[1, 0, 7, 3] = 5   # past the count: not listed, not checked
    indices[1, 0, 7, :3] = [4, 5, 6]
    kernel(q, k, v, counts=counts, indices=indices)


def _bound(q, k):
    bindings = attn.kernel._Bindings({})
    bindings.sizes.update(B=q.shape[0], Hq=q.shape[1], Sq=q.shape[2], Sk=k.shape[2])
    return bindings


def test_bad_cu_seqlens():
    spec = attn.Spec(attn.causal(), layout="thd")
    kernel = attn.compile(spec)
    q = np.ones((40, 4, 16), np.float32)
    k = np.ones((40, 2, 16), np.float32)
    v = np.ones((40, 2, 8), np.float32)
    for cu, match in [([0, 30, 20, 40], "non-decreasing"), ([0, 20, 50], "from 0 to 40"),
                      ([1, 20, 40], "from 0 to 40")]:
        cu = np.array(cu, np.int32)
        with pytest.raises(ValueError, match=match):
            kernel(q, k, v, cu_seqlens_q=cu, cu_seqlens_kv=cu)


def test_missing_compiler_library(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CAPI_LIBRARY", str(tmp_path / "missing.so"))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    with pytest.raises(attn.CompileError, match="only cached kernels can be used|no compiler"):
        attn.compile(attn.Spec(attn.causal()), dtype="f32", head_dim=16)


def test_deep_nesting_is_an_error_not_a_crash():
    """The C API rejects brackets nested deeper than the parser's
    recursion can take (a fuzzer finding) with a located error."""
    text = "func.func @f() attributes {a = " + "[" * 5000 + "]" * 5000 + "} { return }"
    with pytest.raises(attn.CompileError, match=r"<spec>:1:\d+: error: expected brackets "
                                                r"nested at most 256 deep"):
        attn.compiler.verify(text)
    attn.compiler.verify("func.func @f() attributes {a = " + "[" * 200 + "]" * 200 + "} { return }")

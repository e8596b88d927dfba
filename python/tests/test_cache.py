"""The on-disk kernel cache: hits, misses, what it keys on."""

import os

import numpy as np

import attn
from attn import compiler
from helpers import qkv


def _spec(window=16):
    return attn.Spec(attn.causal() & attn.sliding_window(left=window), lse=True)


def test_hit_after_miss(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    first = attn.compile(_spec(), dtype="f32", head_dim=16, value_dim=8)
    assert first.last_compile[1] is False
    second = attn.compile(_spec(), dtype="f32", head_dim=16, value_dim=8)
    assert second.last_compile[1] is True
    q, k, v = qkv()
    assert all(np.array_equal(a, b) for a, b in zip(first(q, k, v), second(q, k, v)))
    entries = [e for e in os.listdir(tmp_path) if not e.startswith(".")]
    assert len(entries) == 1
    assert sorted(os.listdir(tmp_path / entries[0])) == ["kernel.manifest", "kernel.so", "spec.mlir"]


def test_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    attn.compile(_spec(), dtype="f32", head_dim=16)
    # A static parameter, a head dim, an option or the compiler changes the key.
    assert attn.compile(_spec(17), dtype="f32", head_dim=16).last_compile[1] is False
    assert attn.compile(_spec(), dtype="f32", head_dim=32).last_compile[1] is False
    assert attn.compile(_spec(), dtype="f32", head_dim=16, k_tile=32).last_compile[1] is False
    monkeypatch.setenv("ATTN_COMPILER_ID", "another compiler")
    assert attn.compile(_spec(), dtype="f32", head_dim=16).last_compile[1] is False


def test_locations_do_not_change_the_key():
    # A project moved elsewhere (the GPU machine's copy of a kernel cache)
    # finds its kernels: where a spec was written is not part of the key,
    # what it says is.
    text = _spec().to_mlir("f32", 16, 8)
    assert 'loc("' in text
    moved = text.replace(os.path.dirname(__file__), "/somewhere/else")
    assert moved != text
    assert compiler.key(moved, "cpu", "") == compiler.key(text, "cpu", "")
    changed = text.replace("left = 16", "left = 17")
    assert changed != text
    assert compiler.key(changed, "cpu", "") != compiler.key(text, "cpu", "")


def test_runtime_operands_do_not_recompile(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    spec = attn.Spec(attn.sliding_window(left="window"), attn.softcap("cap"))
    kernel = attn.compile(spec, dtype="f32", head_dim=16, value_dim=8)
    calls = []
    monkeypatch.setattr(compiler, "compile_module",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    q, k, v = qkv()
    for window, cap in ((3, 1.0), (50, 20.0), (0, 5.0)):
        out = kernel(q, k, v, window=window, cap=cap)
        ref = spec.reference(q, k, v, window=window, cap=cap)
        assert np.abs(out - ref).max() < 1e-4
    assert not calls


def test_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    kernel = attn.compile(_spec(), dtype="f32", head_dim=16, cache=False)
    assert kernel.last_compile[1] is False
    assert attn.compile(_spec(), dtype="f32", head_dim=16, cache=False).last_compile[1] is False
    assert not [e for e in os.listdir(tmp_path) if not e.startswith(".")]


def test_leftover_temporary_directories_are_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    (tmp_path / ".tmp-crashed").mkdir()
    (tmp_path / ".tmp-crashed" / "kernel.so").write_bytes(b"garbage")
    kernel = attn.compile(_spec(), dtype="f32", head_dim=16)
    assert kernel.last_compile[1] is False


def test_generated_code_is_visible(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    kernel = attn.compile(_spec(), dtype="f32", head_dim=16)
    assert "attn.attention" in kernel.mlir and "#attn.window<left = 16" in kernel.mlir
    assert "define void @_mlir_ciface_spec" in kernel.llvm_ir
    assert "func.func @spec" in _spec().to_mlir()
    assert compiler.version().startswith("attn-mlir ")

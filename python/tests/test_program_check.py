"""The step checks of `attn-run --check` on programs (attn/program_check.py):
exact index sets pass, near ties pass only as a valid top-k, wrong keys,
counts, padding and values fail."""

import os
import tempfile

import numpy as np

from attn import check, program_check, reference

rng = np.random.default_rng(3)


def test_exact_sets_pass_and_differences_fail_without_scores():
    counts = np.array([2, 1])
    indices = np.array([[0, 3], [2, -1]])
    assert program_check._selection_error(counts, indices, counts, indices, None) is None
    wrong = np.array([[0, 2], [2, -1]])
    assert "differ" in program_check._selection_error(counts, wrong, counts, indices, None)


def test_near_tie_is_a_valid_top_k():
    want = np.array([[0, 2]])
    # Keys 2 and 3 score within 1e-4 of the row's scale: keeping either is
    # a valid top-2; keeping 3 instead of the clearly better 0 is not.
    tie = np.array([[5.0, 1.0, 4.0, 3.9999999]])
    assert program_check._selection_error([2], want, [2], want, tie) is None
    assert program_check._selection_error([2], np.array([[0, 3]]), [2], want, tie) is None
    message = program_check._selection_error([2], np.array([[2, 3]]), [2], want, tie)
    assert "rejected key scores above a kept one" in message


def test_invalid_sets_fail_even_with_scores():
    priority = np.array([[5.0, -np.inf, 4.0, 3.0]])
    want = np.array([[0, 2]])
    error = lambda counts, got: program_check._selection_error(counts, got, [2], want,
                                                               priority)
    assert "not a candidate" in error([2], np.array([[0, 1]]))
    assert "ascending" in error([2], np.array([[2, 0]]))
    assert "keys kept" in error([1], np.array([[0, -1]]))


def _save(folder, name, array):
    path = os.path.join(folder, name + ".npy")
    np.save(path, np.asarray(array, np.float32))
    return path


def _head_topk_step(folder, keep, weights):
    logits = rng.standard_normal((2, 5, 4)).astype(np.float32)
    return {"symbol": "g2__step0", "kind": "op", "op": "attn.head_topk",
            "attrs": {"k": 2}, "operands": {"logits": 0},
            "inputs": [{"name": "a0", "file": _save(folder, "logits", logits),
                        "scalar": False, "integer": False}],
            "outputs": [_save(folder, "keep", keep(logits)),
                        _save(folder, "w", weights(logits))],
            "tolerances": [1e-4, 1e-4]}, logits


def test_program_step_results_are_compared():
    with tempfile.TemporaryDirectory() as folder:
        good = lambda x: reference.head_topk(x, 2)
        step, _ = _head_topk_step(folder, lambda x: good(x)[0], lambda x: good(x)[1])
        answer = program_check.check([step], False, check.check_attention,
                                     check.load_inputs)
        assert answer["ok"] and answer["steps"][0]["ok"]
        # Weights off by 1 %: above the f32 tolerance.
        step, _ = _head_topk_step(folder, lambda x: good(x)[0],
                                  lambda x: good(x)[1] * 1.01)
        answer = program_check.check([step], False, check.check_attention,
                                     check.load_inputs)
        assert not answer["ok"] and "max rel error" in answer["steps"][0]["message"]
        # One head flag flipped.
        def flipped(x):
            keep = good(x)[0].copy()
            keep[0, 0, 0] = not keep[0, 0, 0]
            return keep
        step, _ = _head_topk_step(folder, flipped, lambda x: good(x)[1])
        answer = program_check.check([step], False, check.check_attention,
                                     check.load_inputs)
        assert not answer["ok"] and "differs" in answer["steps"][0]["message"]

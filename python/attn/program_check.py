"""The reference side of `attn-run --check` for programs (spec functions
of several ops, run step by step; see tools/attn-run/Program.h).

Each step that ran is checked on the inputs it was given: its results
against the float64 reference of its op. A selection and the attention
after it are therefore compared on the same index sets, even where a near
tie lets the f32 kernel pick another key than the float64 reference. Index
sets must match exactly; where the op's scores are known (indexer top-k,
an attention's top-k) a differing row passes if it is a valid top-k: the
same count, ascending distinct candidates, -1 padding, and no rejected
candidate scoring above a kept one (up to 1e-4 of the row's scale).
"""

import numpy as np

from attn import attrs, reference


def _parse(text):
    return attrs.parse(text) if text else None


def _attention_topk(step, values):
    """The reference of an attention's top-k results and its priorities."""
    groups = {g: [values[n] for n in names] for g, names in step["groups"].items()}
    if step.get("regions"):
        raise ValueError("the reference cannot evaluate predicate or score_fn "
                         "regions")
    counts, indices, priority = reference.attention_topk(
        groups["q"][0], groups["k"][0], step["n"], _parse(step["mask"]),
        groups["mask"], [attrs.parse(t) for t in step["score"]], groups["score"],
        step.get("scale"), tuple(step["layout"]), with_scores=True)
    return [counts, indices], (0, 1, priority)


def _op(step, args):
    """The reference results of a selection or pooling op on `args` (its
    inputs by position), and which results are an index set (counts
    position, indices position, priorities or None)."""
    a, roles = step["attrs"], step["operands"]
    one = lambda role: args[roles[role]] if role in roles else None
    mask = _parse(a.get("mask"))
    masks = [args[i] for i in roles.get("mask", [])]
    op = step["op"]
    if op == "attn.indexer_topk":
        c, i, s = reference.indexer_topk(
            one("query"), one("key"), one("weights"), a["k"], mask, masks,
            a.get("key_block", 1), one("block_counts"), one("block_indices"),
            a.get("block_size"))
        return [c, i], (0, 1, s)
    if op == "attn.pool":
        return [reference.pool(one("input"), a["dim"], a["block"],
                               a.get("kind", "mean"))], None
    block = (one("query"), one("key"), a.get("q_block"), a.get("k_block"))
    if op == "attn.block_topk":
        return list(reference.block_topk(
            *block, a["k"], a.get("pool", "mean"), mask, masks,
            a.get("include_local", False))), (0, 1, None)
    if op == "attn.hip_topk":
        return list(reference.hip_topk(*block, a["k"], a.get("branch", 2), mask,
                                       masks)), (0, 1, None)
    if op == "attn.threshold_blocks":
        return list(reference.threshold_blocks(
            *block, a["gamma"], a.get("min_blocks", 1), mask, masks)), (0, 1, None)
    if op == "attn.pyramid_levels":
        return [reference.pyramid_levels(*block, a["thresholds"], mask, masks)], None
    if op == "attn.query_topk":
        return list(reference.query_topk(one("query"), one("key"), a["max_tokens"],
                                         a.get("threshold"))), (0, 1, None)
    if op == "attn.value_topk":
        return list(reference.value_topk(one("value"), one("weight"), a["k"], mask,
                                         masks)), (0, 1, None)
    if op == "attn.id_ranges":
        return [reference.id_ranges(one("input"))], None
    if op == "attn.mask_tiles":
        return [reference.mask_tiles(one("input"))], None
    if op == "attn.head_topk":
        return list(reference.head_topk(one("logits"), a["k"])), None
    raise ValueError(f"the reference has no step check for {op}")


def _selection_error(got_counts, got_indices, want_counts, want_indices, priority):
    """None if the kernel's index set is the reference's (or, with
    priorities, a valid top-k), else what is wrong."""
    gc = np.asarray(got_counts).reshape(-1).astype(np.int64)
    wc = np.asarray(want_counts).reshape(-1).astype(np.int64)
    gi = np.asarray(got_indices).reshape(len(gc), -1).astype(np.int64)
    wi = np.asarray(want_indices).reshape(len(wc), -1).astype(np.int64)
    differ = np.flatnonzero((gc != wc) | (gi != wi).any(axis=1))
    if not len(differ):
        return None
    if priority is None:
        return f"index sets differ from the reference in {len(differ)} rows"
    rows = np.asarray(priority, np.float64).reshape(len(gc), -1)
    for r in differ:
        n, kept = gc[r], gi[r, :gc[r]]
        p = rows[r]
        if n != wc[r]:
            return f"row {r}: {n} keys kept, the reference keeps {wc[r]}"
        if ((kept < 0) | (kept >= len(p))).any() or (np.diff(kept) <= 0).any() \
                or (gi[r, n:] != -1).any():
            return f"row {r}: keys not ascending, distinct and -1 padded"
        if not np.isfinite(p[kept]).all():
            return f"row {r}: a kept key is not a candidate"
        rest = np.setdiff1d(np.flatnonzero(np.isfinite(p)), kept)
        scale = max(1.0, float(np.abs(p[np.isfinite(p)]).max()))
        if len(rest) and p[rest].max() > p[kept].min() + 1e-4 * scale:
            return f"row {r}: a rejected key scores above a kept one"
    return None


def _relative_error(got, want):
    want = np.asarray(want, np.float64)
    if np.isnan(got).any():
        return float("inf")
    if not want.size:
        return 0.0
    scale = max(float(np.max(np.abs(want))), 1e-6)
    return float(np.max(np.abs(got - want))) / scale


def _check_results(step, got, want, selection):
    """(max relative error, problem or None) of a step's results."""
    worst, problem = 0.0, None
    counts_at, indices_at, priority = selection if selection else (None, None, None)
    if selection:
        problem = _selection_error(got[counts_at], got[indices_at], want[counts_at],
                                   want[indices_at], priority)
    for r, (g, w, tol) in enumerate(zip(got, want, step["tolerances"])):
        if r in (counts_at, indices_at):
            continue
        w = np.asarray(w)
        if w.dtype.kind in "biu":
            if not np.array_equal(g.astype(np.int64), w.astype(np.int64)):
                problem = problem or f"result {r} differs from the reference"
            continue
        error = _relative_error(g, w)
        worst = max(worst, error)
        if not error <= tol:
            problem = problem or (f"result {r}: max rel error {error:.2e} above "
                                  f"{tol:.0e}")
    return worst, problem


def check(program, count_only, check_attention, load_inputs):
    """The answer for a program's steps (see check.py): allowed pairs and
    flops of its attentions, and unless `count_only` each step's error."""
    answer = {"allowed_pairs": 0.0, "flops": 0.0, "steps": []}
    worst, ok = 0.0, True
    for step in program:
        values = load_inputs(step["inputs"])
        got = [np.load(f) for f in step["outputs"]]
        entry = {"symbol": step["symbol"], "ok": True}
        try:
            if step["kind"] == "attention":
                request = dict(step, o=step["outputs"][0], count_only=count_only)
                if step["lse"]:
                    request["lse"] = step["outputs"][1]
                result = check_attention(request, values)
                pairs = result["allowed_pairs"]
                answer["allowed_pairs"] += pairs
                head_dim = np.shape(values[step["groups"]["q"][0]])[-1]
                answer["flops"] += 4.0 * head_dim * pairs
                if count_only:
                    continue
                error = result["max_rel_error"]
                problem = None
                if not error <= step["tolerances"][0]:
                    problem = (f"max rel error {error:.2e} above "
                               f"{step['tolerances'][0]:.0e}")
                elif not result.get("lse_ok", True):
                    problem = "LSE differs from the reference"
            elif count_only:
                continue
            else:
                args = [values[f"a{i}"] for i in range(len(step["inputs"]))]
                want, selection = (_attention_topk(step, values)
                                   if step["kind"] == "attention_topk"
                                   else _op(step, args))
                error, problem = _check_results(step, got, want, selection)
        except ValueError as e:
            error, problem = float("inf"), str(e)
        worst = max(worst, error)
        entry["max_rel_error"] = error
        if problem:
            entry["ok"], entry["message"] = False, problem
            ok = False
        answer["steps"].append(entry)
    if not count_only:
        answer["max_rel_error"], answer["ok"] = worst, ok
    return answer

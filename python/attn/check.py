"""Reference side of `attn-run --check` and `--bench`.

usage: check.py REQUEST.json ANSWER.json

REQUEST (written by attn-run) holds the spec's structured attributes as
text, its layout and scale, the inputs as .npy files in argument order
(named q, k, v, mask0.., score0.., norm0.., gate0.., capture0..) and the
kernel's outputs. ANSWER receives the number of allowed pairs and, unless
`count_only`, the max relative error of O against the float64 reference and
whether LSE matches.

A program (a spec function of several ops, run step by step) is checked
step by step: REQUEST's `program` lists the steps that ran, each with its
op, the inputs it was given and the results it wrote (see
program_check.py).
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from attn import attrs, program_check, reference  # noqa: E402


def load_inputs(entries):
    """The inputs of a request by name (scalars as Python numbers)."""
    values = {}
    for entry in entries:
        value = np.load(entry["file"])
        if entry.get("integer"):  # saved as float32, exact below 2^24
            value = value.astype(np.int64)
        if entry["scalar"]:
            value = value.reshape(()).item()
        values[entry["name"]] = value
    return values


def main(request_path, answer_path):
    with open(request_path) as f:
        request = json.load(f)
    if "program" in request:
        answer = program_check.check(request["program"], request["count_only"],
                                     check_attention, load_inputs)
    else:
        answer = check_attention(request, load_inputs(request["inputs"]))
    with open(answer_path, "w") as f:
        json.dump(answer, f)


def check_attention(request, values):
    """The allowed pairs of an attention (and unless `count_only`, the
    error of its O and whether its LSE matches) on `values`."""
    # Operands of each group by argument name (an argument may repeat).
    groups = {group: [values[name] for name in names]
              for group, names in request["groups"].items()}
    for name in ("q", "k", "v"):  # one argument may be q, k and v
        if name not in groups:
            groups[name] = [values[name]]
    parse = lambda text: attrs.parse(text) if text else None
    mask = parse(request["mask"])
    q, k, v = groups["q"][0], groups["k"][0], groups["v"][0]
    layout = request["layout"]
    cu = None
    paged = None
    if layout[1] == "paged":
        paged = [np.asarray(values[name]) for name in request["paged"]]
        table, lens = paged
        capacity = table.shape[1] * k.shape[1]
        batch, heads, query_len = (q.shape[:3] if layout[0] == "bhsd"
                                   else (q.shape[0], q.shape[2], q.shape[1]))
        answer = {"allowed_pairs": sum(
            reference.allowed_pairs(mask, 1, heads, query_len,
                                    int(np.clip(lens[b], 0, capacity)),
                                    [x[b:b + 1] if isinstance(x, np.ndarray) and x.ndim
                                     and x.shape[0] == batch and batch > 1 else x
                                     for x in groups["mask"]])
            for b in range(batch))}
    elif layout[0] == "thd":
        cu = [np.asarray(values[name]).astype(np.int64)
              for name in request["cu_seqlens"]]
        answer = {"allowed_pairs": sum(
            reference.allowed_pairs(mask, 1, q.shape[1],
                                    int(cu[0][b + 1] - cu[0][b]),
                                    int(cu[1][b + 1] - cu[1][b]),
                                    groups["mask"])
            for b in range(len(cu[0]) - 1))}
    else:
        if layout[0] == "bshd":
            batch, query_len, heads = q.shape[:3]
        else:
            batch, heads, query_len = q.shape[:3]
        key_len = k.shape[1] if layout[1] == "bshd" else k.shape[2]
        answer = {"allowed_pairs": reference.allowed_pairs(
            mask, batch, heads, query_len, key_len, groups["mask"],
            residue_groups=request.get("residue_groups"))}
    if not request["count_only"]:
        if request.get("regions"):
            sys.exit("check.py: the reference cannot evaluate predicate or "
                     "score_fn regions; check such specs with a test that "
                     "states the region's meaning in Python")
        out, lse = reference.attention(
            q, k, v, mask, groups["mask"],
            [attrs.parse(t) for t in request["score"]], groups["score"],
            parse(request["norm"]), groups["norm"], parse(request["gate"]),
            groups["gate"], request.get("scale"), tuple(layout), cu, paged=paged,
            residue_groups=request.get("residue_groups"))
        got = np.load(request["o"])
        scale = max(float(np.max(np.abs(out))), 1e-6)
        error = float(np.max(np.abs(got - out))) / scale if out.size else 0.0
        if np.isnan(got).any():
            error = float("inf")
        answer["max_rel_error"] = error
        if request.get("lse"):
            got_lse = np.load(request["lse"])
            masked = np.isneginf(lse)
            finite = ~masked
            ok = bool(np.array_equal(np.isneginf(got_lse), masked))
            if finite.any():
                ok &= bool(np.max(np.abs(got_lse[finite] - lse[finite]))
                           <= 1e-3 * (1 + np.max(np.abs(lse[finite]))))
            answer["lse_ok"] = ok
    return answer


if __name__ == "__main__":
    main(*sys.argv[1:3])

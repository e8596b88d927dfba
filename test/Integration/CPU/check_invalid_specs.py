"""Slightly invalid specs get a located diagnostic, never a crash.

Takes the catalog's spec functions (python/attn/cases.py) and applies one
random mutation to each copy — a head dim or head count that does not
match, a missing or extra operand, an operand of the wrong element type or
shape, a misspelt or misplaced attribute, a negative size, a wrong result
or LSE shape, mismatched layouts, a truncated text — then runs attn-opt
(parse, verify, canonicalize, the CPU pipeline) on each in its own process.
Every mutant must fail with exit code 1 and an "error:" diagnostic with a
location; exit code 0 (accepted) or anything else (a crash, a signal, a
hang past the timeout) is reported as a failure.

usage: check_invalid_specs.py ATTN_OPT PYTHON_DIR [--seed N] [--specs N]
"""

import os
import random
import re
import subprocess
import sys
import tempfile

attn_opt, python_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, python_dir)
from attn import cases  # noqa: E402

args = sys.argv[3:]
seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
count = int(args[args.index("--specs") + 1]) if "--specs" in args else 300
rng = random.Random(seed)

TYPE = re.compile(r"tensor<((?:\d+x)+)(f32|f16|bf16|i32|i1)>")


def retype(text, which, change):
    """Applies `change(dims, element)` to the `which`-th tensor type of the
    function signature (every occurrence of that exact type)."""
    header = text.split("\n", 1)[0]
    types = TYPE.findall(header)
    if which >= len(types):
        return None
    dims, element = types[which]
    old = f"tensor<{dims}{element}>"
    new_dims, new_element = change([int(x) for x in dims[:-1].split("x")], element)
    if new_dims is None:
        return None
    new = "tensor<" + "".join(f"{d}x" for d in new_dims) + f"{new_element}>"
    if new == old:
        return None
    return text.replace(old, new, 1)  # the argument only: uses now disagree


def mutate_head_dim(text):
    return retype(text, 1, lambda d, e: (d[:-1] + [d[-1] + 1], e))


def mutate_key_heads(text):
    def change(d, e):
        if len(d) != 4:
            return None, e
        return d[:1] + [d[1] + 1] + d[2:], e
    text = retype(text, 1, change)
    return text and retype(text, 2, change)


def mutate_element(text):
    which = rng.randrange(3, 6)
    return retype(text, which, lambda d, e: (d, {"i32": "f32", "i1": "i32", "f32": "i32",
                                                 "f16": "i1", "bf16": "i1"}[e]))


def mutate_operand_shape(text):
    which = rng.randrange(3, 6)
    return retype(text, which, lambda d, e: (d + [2], e))


def mutate_drop_operand(text):
    # Drops the last operand of a mask/score/norm/gate group and its type.
    groups = list(re.finditer(r"(mask|score|norm|gate)\((.*?), (%a\d+(?:, %a\d+)*) : (.*?)\)( |$)",
                              text))
    if not groups:
        return None
    g = rng.choice(groups)
    names = g.group(3).split(", ")
    types = re.findall(r"tensor<[^>]*>|index|f32", g.group(4))
    if len(names) != len(types):
        return None
    if len(names) == 1:
        replacement = f"{g.group(1)}({g.group(2)})"
    else:
        replacement = (f"{g.group(1)}({g.group(2)}, {', '.join(names[:-1])} : "
                       f"{', '.join(types[:-1])})")
    return text[:g.start()] + replacement + g.group(5) + text[g.end():]


def mutate_extra_operand(text):
    m = re.search(r"mask\((#attn\.[a-z_]+)\)", text)
    if not m:
        return None
    return text.replace(m.group(0), f"mask({m.group(1)}, %q : {TYPE.search(text).group(0)})", 1)


def mutate_attribute_name(text):
    names = re.findall(r"#attn\.([a-z_]+)", text)
    if not names:
        return None
    name = rng.choice(names)
    return text.replace(f"#attn.{name}", f"#attn.{name}x", 1)


def mutate_misplaced_attribute(text):
    if "mask(" in text:
        return re.sub(r"mask\((#attn\.[a-z_]+(<[^()]*?>)?)", "mask(#attn.softmax", text, count=1)
    return text.replace("attn.attention %q, %k, %v", "attn.attention %q, %k, %v norm(#attn.causal)", 1)


def mutate_negative(text):
    m = list(re.finditer(r"(left|len|dilation|block|ratio) = (\d+)", text))
    if not m:
        return None
    g = rng.choice(m)
    return text[:g.start(2)] + "-" + str(int(g.group(2)) + 1) + text[g.end(2):]


def mutate_result(text):
    m = re.search(r"-> \((tensor<[^>]*>)", text)
    if not m:
        return None
    old = m.group(1)
    dims = old[7:-1].split("x")
    dims[0] = str(int(dims[0]) + 2)
    return text.replace(old, "tensor<" + "x".join(dims) + ">")


def mutate_layout(text):
    if "layout(" in text:
        return re.sub(r"layout\((\w+), (\w+)\)", "layout(\\1, paged)", text, count=1)
    return text.replace("attn.attention %q, %k, %v", "attn.attention %q, %k, %v layout(bshd, bhsd)", 1)


def mutate_truncate(text):
    cut = rng.randrange(10, len(text) - 1)
    return text[:cut]


def mutate_scale(text):
    return text.replace("attn.attention %q, %k, %v",
                        "attn.attention %q, %k, %v", 1).replace(
        "\n      :", ' {scale = "large"}\n      :', 1)


MUTATIONS = [mutate_head_dim, mutate_key_heads, mutate_element, mutate_operand_shape,
             mutate_drop_operand, mutate_extra_operand, mutate_attribute_name,
             mutate_misplaced_attribute, mutate_negative, mutate_result, mutate_layout,
             mutate_truncate, mutate_scale]

specs = [c.function(n) for n, c in enumerate(cases.cases())]
tried, failures, skipped = 0, 0, 0
kinds = {}
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "mutant.mlir")
    while tried < count:
        mutation = rng.choice(MUTATIONS)
        original = rng.choice(specs)
        text = mutation(original)
        if not text or text == original:  # the mutation does not apply
            skipped += 1
            if skipped > 100 * count:
                break
            continue
        tried += 1
        kinds[mutation.__name__] = kinds.get(mutation.__name__, 0) + 1
        with open(path, "w") as f:
            f.write(text)
        try:
            result = subprocess.run([attn_opt, path, "--canonicalize", "--attn-cpu-pipeline"],
                                    capture_output=True, text=True, timeout=120)
            code, stderr = result.returncode, result.stderr
        except subprocess.TimeoutExpired:
            code, stderr = "timeout", ""
        located = re.search(r"mutant\.mlir:\d+:\d+: error: ", stderr)
        if code != 1 or not located:
            failures += 1
            what = "ACCEPTED" if code == 0 else f"exit {code}" if located else f"exit {code}, no located error"
            print(f"FAIL {mutation.__name__}: {what}\n{text}\n{stderr[-2000:]}")

print("mutations: " + ", ".join(f"{k[7:]} {v}" for k, v in sorted(kinds.items())))
print(f"{tried} invalid specs: {tried - failures} diagnosed, {failures} failed")
sys.exit(1 if failures else 0)

"""Checks that every verifier diagnostic of the attn dialect is exercised.

Collects the string literals of each `"expected ..."` diagnostic chain in
lib/Dialect/Attn (literals joined by `<<` up to the end of the statement),
and requires each literal of 6 or more characters to appear in some
`expected-error` line or FileCheck check of the tests. Prints the
uncovered ones and fails.
"""

import pathlib
import re
import sys

src_root = pathlib.Path(sys.argv[1])
lib = src_root / "lib" / "Dialect" / "Attn"
tests = src_root / "test"

# Diagnostics that textual IR cannot reach: the parser of `and` / `or`
# rejects an empty list before the verifier runs, so only C++ builders
# (getChecked) see this one.
API_ONLY = {"expected at least one mask in '"}

literal = re.compile(r'"((?:[^"\\]|\\.)*)"')
messages = []
for path in sorted(lib.rglob("*.cpp")):
    text = path.read_text()
    for match in re.finditer(r'"expected', text):
        end = text.find(";", match.start())
        chain = text[match.start():end]
        # Ternaries hold two alternative messages: check both.
        for part in chain.split(" : ") if "?" in chain else [chain]:
            fragments = [f.strip() for f in literal.findall(part)]
            fragments = [f for f in fragments if len(f) >= 6]
            if fragments:
                line = text.count("\n", 0, match.start()) + 1
                messages.append((f"{path.name}:{line}", fragments))

expected = []
for path in tests.rglob("*.mlir"):
    for line in path.read_text().splitlines():
        # expected-error lines, and CHECK lines of tests of pass errors.
        if "expected-error" in line or re.match(r"\s*// [A-Z-]+:", line):
            expected.append(line)
corpus = "\n".join(expected)

missing = [(where, f) for where, fragments in messages for f in fragments
           if f not in corpus and f not in API_ONLY]
for where, fragment in missing:
    print(f"uncovered diagnostic at {where}: {fragment!r}")
print(f"{len(messages)} diagnostics, {len(missing)} uncovered fragments")
sys.exit(1 if missing else 0)

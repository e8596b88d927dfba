"""Verifies the IR snippets of a markdown document with attn-opt.

The first ```mlir block of the document is a prelude (type aliases) that is
prepended to every other block; each block must parse and verify. With
--ids, also checks that every catalog ID has a bold entry (**M1 ...**).

usage: doc_snippets.py ATTN_OPT DOC.md [--ids]
"""

import re
import subprocess
import sys
import tempfile

attn_opt, doc = sys.argv[1], sys.argv[2]
text = open(doc).read()
blocks = re.findall(r"```mlir\n(.*?)```", text, flags=re.S)
prelude, snippets = blocks[0], blocks[1:]
failures = 0
for index, snippet in enumerate(snippets):
    with tempfile.NamedTemporaryFile("w", suffix=".mlir") as f:
        f.write(prelude + snippet)
        f.flush()
        result = subprocess.run([attn_opt, f.name], capture_output=True,
                                text=True)
    if result.returncode != 0:
        failures += 1
        print(f"snippet {index + 1} failed:\n{snippet}\n{result.stderr}")

if "--ids" in sys.argv:
    families = {"M": 13, "S": 7, "N": 6, "G": 4, "D": 7, "H": 4, "X": 6}
    for family, count in families.items():
        for n in range(1, count + 1):
            if not re.search(rf"\*\*{family}{n} ", text):
                failures += 1
                print(f"missing catalog entry {family}{n}")

print(f"{len(snippets)} snippets, {failures} failures")
sys.exit(1 if failures else 0)

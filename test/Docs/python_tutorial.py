"""Runs the ```python blocks of a markdown document in order, in one
namespace, as the reader would; a failing block is reported with its text.

usage: python_tutorial.py DOC.md
"""

import os
import re
import sys
import tempfile
import traceback

doc = sys.argv[1]
os.environ.setdefault("ATTN_CACHE_DIR", tempfile.mkdtemp(prefix="attn-tutorial-"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(doc)), "..", "python"))
blocks = re.findall(r"```python\n(.*?)```", open(doc).read(), flags=re.S)
namespace = {"__name__": "__tutorial__"}
for index, block in enumerate(blocks):
    try:
        exec(compile(block, f"{doc} block {index + 1}", "exec"), namespace)
    except Exception:
        print(f"block {index + 1} failed:\n{block}")
        traceback.print_exc()
        sys.exit(1)
print(f"{len(blocks)} blocks ran")

"""Run every ```python block of README.md as written, in order, in one namespace, in a scratch
folder (so `report.save(r, "out/")` writes there): `python .ci/readme_snippets.py [README.md]`.
Prints each block's time; exits 1 naming the first block that fails."""

import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

readme = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "README.md").resolve()
blocks = re.findall(r"^```python\n(.*?)^```", readme.read_text(encoding="utf-8"), flags=re.S | re.M)
namespace: dict = {"__name__": "__readme__"}
with tempfile.TemporaryDirectory(prefix="readme-snippets-") as tmp:
    os.chdir(tmp)
    total = time.time()
    for i, code in enumerate(blocks, 1):
        first = code.strip().splitlines()[0]
        t0 = time.time()
        try:
            exec(compile(code, f"{readme.name}:python block {i}", "exec"), namespace)
        except Exception:
            traceback.print_exc()
            print(f"FAILED: block {i} ({first})")
            sys.exit(1)
        print(f"block {i}: ok in {time.time() - t0:.1f} s  ({first})", flush=True)
    print(f"{len(blocks)} blocks ran as written in {time.time() - total:.1f} s")

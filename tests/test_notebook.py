"""examples/quickstart.ipynb runs as shipped: executed by nbclient on this interpreter's kernel, every
one-liner shows its figure inline (image/png), no cell errs, and the notebook is stored without outputs."""

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")  # the one optional piece: without nbclient the test skips

import nbformat  # noqa: E402  (nbclient's own dependency)
from ipykernel.kernelspec import write_kernel_spec  # noqa: E402  (in the test extras: missing, the test fails)
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
#: the cells that must show a figure, by the call they make
FIGURES = ("preimage.invert(", "preimage.maximize(", "preimage.project(")


def _seconds(cell) -> float:
    """How long a cell ran, from the timing nbclient records in its metadata."""
    t = cell.metadata.get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not (start and end):
        return float("nan")
    return (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def test_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_quickstart_notebook_runs_and_shows_figures(tmp_path, monkeypatch):
    # the kernel is this interpreter (the venv's), whatever python3 kernel the machine has elsewhere:
    # a kernelspec written for sys.executable, found first through JUPYTER_PATH
    write_kernel_spec(str(tmp_path / "jupyter" / "kernels" / "python3"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve(), spec.argv
    work = tmp_path / "run"
    work.mkdir()

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    t0 = time.time()
    client.execute()
    seconds = time.time() - t0
    code = [c for c in nb.cells if c.cell_type == "code"]
    print(f"quickstart.ipynb executed in {seconds:.1f} s; cells: "
          + ", ".join(f"{_seconds(c):.1f}" for c in code) + " s")
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    for call in FIGURES:
        cells = [c for c in code if call in c.source]
        assert len(cells) == 1, call
        shown = [o for o in cells[0].outputs if o.output_type == "execute_result"]
        assert shown, f"the cell with {call} shows nothing"
        data = shown[0].data
        assert "image/png" in data and len(data["image/png"]) > 100, f"the cell with {call} shows no figure"
        assert "<img" in data.get("text/html", ""), call
        text = data["text/plain"]
        assert "\n" not in text and len(text) < 300 and "tensor(" not in text, text
    assert not list(work.iterdir()), "the notebook wrote files"

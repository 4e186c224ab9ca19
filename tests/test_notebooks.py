"""The notebooks in ``docs/notebooks`` run, top to bottom, in quick mode and offline.

Each notebook reads ``CONCUR_NOTEBOOK_QUICK=1`` and then runs its whole experiment small
enough to take seconds.  The files in the repository keep the outputs of a full run for
readers; the test executes an in-memory copy, never writing back, and fails on the first
cell that raises.

The kernel is this interpreter, named explicitly: a kernelspec written for the test
(``sys.executable -m ipykernel_launcher``) rather than whatever ``python3`` kernel a
machine's Jupyter paths happen to list first, so a fresh ``pip install -e '.[test]'``
tests the concur it installed.  IPython's profile directory and Jupyter's runtime
directory are temporary ones: no user's startup files run, no connection file is left.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
KERNEL = "concur-test-python"


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec directory with one kernel: this interpreter running ipykernel."""
    root = tmp_path_factory.mktemp("kernels")
    (root / KERNEL).mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "concur (test)",
        "language": "python",
    }
    (root / KERNEL / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return root


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-book-experiment.ipynb",
        "02-concurrency-sweep.ipynb",
        "03-gil-lab.ipynb",
    ]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(
    path: Path, kernels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    monkeypatch.setenv("CONCUR_NOTEBOOK_QUICK", "1")  # the kernel inherits this environment
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))  # connection files
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebooks ask for inline figures
    nb = nbformat.read(path, as_version=4)  # a copy: the file keeps its full run
    km = KernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=180,  # per cell
        allow_errors=False,  # the first cell that raises fails the test, with its traceback
        resources={"metadata": {"path": str(tmp_path)}},  # anything written lands here
    )
    client.execute(cleanup_kc=True)  # given a km, nbclient would leave the kernel running
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    # every cell that shows a figure shows one (a library switching matplotlib's backend
    # away from the inline one would leave them empty, without any error)
    showing = [cell for cell in code if "plt.show()" in cell.source or "Image(" in cell.source]
    assert showing, f"{path.name} shows no figure"
    for cell in showing:
        pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert pngs, f"{path.name}: no figure from\n{cell.source}"

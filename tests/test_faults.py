"""Faults a user or an operator causes, grouped by kind: each ends cleanly (one line naming the
file or setting, a truthful exit code), loses nothing finished, and runs nothing it should not.

Kinds: interrupts (signals to the Snakemake controller, the job, or both), injection (config
values that reach a shell), stored inputs (files that do not match their job's description),
degenerate training, and CLI arguments (parametrised over the verbs, so a new verb gets them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
PROFILE = ROOT / "profiles" / "default"  # cores: 2, rerun-incomplete: true



def _snakemake_cmd(*args: str, configfiles: tuple = (TINY,)) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--profile", str(PROFILE),
            "--configfile", *map(str, configfiles), *args]


def _env(*python_path: str | Path, **extra: str) -> dict[str, str]:
    """This checkout's package first (also for a command run outside it), then ``python_path``."""
    path = os.pathsep.join(map(str, (ROOT, *python_path)))
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path, **extra)


def _snakemake(work: Path, *args: str, configfiles: tuple = (TINY,), env: dict | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(_snakemake_cmd(*args, configfiles=configfiles), cwd=work, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env=env or _env())
    if check:
        assert proc.returncode == 0, _logs(work) + proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def _logs(work: Path) -> str:
    files = sorted((work / "results" / "logs").rglob("*.log")) if (work / "results" / "logs").is_dir() else []
    return "\n".join(f"== {p}\n{p.read_text(errors='replace')[-2000:]}" for p in files)


def _run_dir(work: Path) -> Path:
    return work / "results" / "runs" / _run_id(work)


def _tracefl(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracefl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=_env())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A scratch project in which Snakemake trained the tiny Figure 2 run (download, partition,
    train: about 20 s on 2 cores); tests copy it."""
    work = tmp_path_factory.mktemp("trained")
    shutil.copytree(ROOT / "config", work / "config")
    _snakemake(work, "--", f"results/runs/{_run_id(work)}/rounds.csv")
    return work


def _run_id(work: Path | None = None) -> str:
    """Figure 2's run in the tiny preset."""
    from tracefl.config import load_preset

    (run_id,) = load_preset(TINY).item_runs("figure2")
    return run_id


# ---------------------------------------------------------------------------------------------
# Interrupts: a rerun keeps every finished round; --forcerun still retrains.

# Loaded through PYTHONPATH as `sitecustomize` into the training job: after writing round k it
# writes "pid" to $GATE/round{k} and waits (up to 2 minutes) for $GATE/go, so the test's signal
# lands at a known point.
GATE_HOOK = '''
import os
import sys
import time

_GATE = os.environ.get("TRACEFL_TEST_GATE")


class _Gate:
    def find_spec(self, name, path=None, target=None):
        if name != "tracefl.runs.checkpoint":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            write = module.write_round

            def write_then_wait(run_dir, rnd, *args, **kwargs):
                out = write(run_dir, rnd, *args, **kwargs)
                flag = os.path.join(_GATE, f"round{rnd}")
                with open(flag + ".part", "w") as handle:
                    handle.write(str(os.getpid()))
                os.replace(flag + ".part", flag)
                deadline = time.monotonic() + 120
                while not os.path.exists(os.path.join(_GATE, "go")) and time.monotonic() < deadline:
                    time.sleep(0.05)
                return out

            module.write_round = write_then_wait

        spec.loader.exec_module = exec_module
        return spec


if _GATE:
    sys.meta_path.insert(0, _Gate())
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][:1] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _round_files(run: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (run / "rounds").glob("0*/**/*") if p.is_file()}


def _untrained_copy(trained: Path, work: Path) -> Path:
    """``trained`` with the run's rounds and rounds.csv removed (Snakemake's records kept)."""
    shutil.copytree(trained, work, symlinks=True)
    run = _run_dir(work)
    shutil.rmtree(run / "rounds")
    (run / "rounds.csv").unlink()
    return run


@pytest.mark.slow
@pytest.mark.parametrize(
    "target, sig, at_round",
    [
        # The controller alone (a scheduler, a closed tmux pane, a CI runner): the job runs on,
        # finishes every round and writes rounds.csv, which Snakemake never records.
        ("controller", signal.SIGINT, 2),
        ("controller", signal.SIGTERM, 2),
        ("controller", signal.SIGKILL, 1),
        # The job alone (an OOM killer, `kill`): round 1 is kept, round 2 trained on the rerun.
        ("job", signal.SIGINT, 1),
        ("job", signal.SIGTERM, 2),
        ("job", signal.SIGKILL, 1),
        # Both at once (Ctrl-C in a terminal reaches the whole foreground group).
        ("both", signal.SIGINT, 2),
        ("both", signal.SIGTERM, 1),
        ("both", signal.SIGKILL, 2),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_an_interrupt_keeps_every_finished_round(trained, tmp_path, target, sig, at_round):
    work = tmp_path / "work"
    run = _untrained_copy(trained, work)
    log = work / "results" / "logs" / "train" / f"{run.name}.log"
    gate = tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(GATE_HOOK)
    env = _env(tmp_path / "hook", TRACEFL_TEST_GATE=str(gate))
    out = tmp_path / "controller.out"
    with open(out, "w") as handle:
        controller = subprocess.Popen(_snakemake_cmd("--", f"results/runs/{run.name}/rounds.csv"), cwd=work, env=env,
                                      stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
    flag = gate / f"round{at_round}"
    try:
        deadline = time.monotonic() + 300
        while not flag.exists():
            assert controller.poll() is None, _logs(work) + out.read_text()
            assert time.monotonic() < deadline, "training never reached the round"
            time.sleep(0.1)
        job = int(flag.read_text())
        if target in ("controller", "both"):
            controller.send_signal(sig)
        if target in ("job", "both"):
            os.kill(job, sig)
        time.sleep(1.0)
        (gate / "go").touch()  # a job that survived its signal goes on
        controller.wait(timeout=120)
        deadline = time.monotonic() + 120
        while _alive(job):  # an orphaned job finishes its rounds
            assert time.monotonic() < deadline, "the job never ended"
            time.sleep(0.2)
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait()
    done = sorted(int(p.name) for p in (run / "rounds").iterdir() if (p / "meta.json").is_file())
    assert done[: at_round] == list(range(1, at_round + 1)), done
    kept = _round_files(run)

    if sig == signal.SIGKILL and target != "job":
        _snakemake(work, "--unlock")
    _snakemake(work, "--", f"results/runs/{run.name}/rounds.csv")
    assert "training again from round 1" not in log.read_text(), log.read_text()
    assert {p: v for p, v in _round_files(run).items() if p in kept} == kept, "finished rounds were rewritten"
    assert (run / "rounds.csv").read_bytes() == (_run_dir(trained) / "rounds.csv").read_bytes()


def test_forcerun_retrains_but_a_deleted_table_alone_does_not(trained, tmp_path):
    """`--forcerun train_fl` after a recorded completion retrains from round 1; the same missing
    rounds.csv without Snakemake's record of it (a job run by hand) keeps the rounds."""
    work = tmp_path / "work"
    shutil.copytree(trained, work, symlinks=True)
    run = _run_dir(work)
    log = work / "results" / "logs" / "train" / f"{run.name}.log"
    before = _round_files(run)
    _snakemake(work, "--forcerun", "train_fl", "--", f"results/runs/{run.name}/rounds.csv")
    assert "(a forced rerun); training again from round 1" in log.read_text()
    after = _round_files(run)
    assert after.keys() == before.keys() and all(after[p] != before[p] for p in before), "not retrained"

    # By hand, outside Snakemake: rounds.csv gone, rounds kept.
    (run / "rounds.csv").unlink()
    shutil.rmtree(work / ".snakemake")
    job = run / "job.json"
    (data,) = (work / "resources" / "datasets").iterdir()
    (partition,) = (work / "results" / "partitions").rglob("*.json")
    proc = _tracefl("train", "--job", str(job), "--data-dir", str(data), "--partition", str(partition),
                    "--run-dir", str(run), "--cpus", "1", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "training again" not in proc.stderr
    assert _round_files(run) == after


# ---------------------------------------------------------------------------------------------
# Injection: config values reach the jobs' shells quoted.

@pytest.mark.parametrize("data_dir", ["x; touch INJECTED #", "my data"], ids=["injection", "space"])
def test_config_paths_reach_the_shell_quoted(tmp_path, data_dir):
    """A dry run of Figure 2 shows every step's command with the path quoted; the one cheap real
    job (downloading the bundled digits) writes into the path as named and runs nothing else."""
    work = tmp_path / "work"
    shutil.copytree(ROOT / "config", work / "config")
    config = work / "paths.yaml"
    config.write_text(json.dumps({"data_dir": data_dir}))
    dry = _snakemake(work, "-n", "--", "results/figure2.pdf", configfiles=(TINY, config))
    commands = [line for line in dry.stdout.splitlines() if line.startswith("Shell command:") and data_dir in line]
    assert len(commands) == 4, dry.stdout  # download, partition, train, provenance
    assert all(f"'{data_dir}/digits'" in c for c in commands), commands
    _snakemake(work, "--", f"{data_dir}/digits", configfiles=(TINY, config))
    assert (work / data_dir / "digits").is_dir()
    assert not list(work.rglob("INJECTED")) and not (ROOT / "INJECTED").exists()

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

# Loaded through PYTHONPATH as `sitecustomize` into the training job: after writing round
# $TRACEFL_TEST_GATE_ROUND it writes its pid to $GATE/round{k} and waits (up to 2 minutes) for
# $GATE/go, so the test's signal lands at a known point.
GATE_HOOK = '''
import os
import sys
import time

_GATE = os.environ.get("TRACEFL_TEST_GATE")
_ROUND = int(os.environ.get("TRACEFL_TEST_GATE_ROUND", "0"))


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
                if rnd != _ROUND:
                    return out
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


#: Every target and every signal at least once by default (each case costs two Snakemake runs);
#: TRACEFL_TEST_ALL_SIGNALS=1 adds the other three pairs.
ALL_SIGNALS = os.environ.get("TRACEFL_TEST_ALL_SIGNALS") == "1"
_optional = pytest.mark.skipif(not ALL_SIGNALS, reason="set TRACEFL_TEST_ALL_SIGNALS=1 for every pair")


@pytest.mark.slow
@pytest.mark.parametrize(
    "target, sig, at_round",
    [
        # The controller alone (a scheduler, a closed tmux pane, a CI runner): the job runs on,
        # finishes every round and writes rounds.csv, which Snakemake never records.
        ("controller", signal.SIGINT, 2),
        ("controller", signal.SIGTERM, 2),
        ("controller", signal.SIGKILL, 1),
        # The job alone (an OOM killer, `kill`): finished rounds are kept, the rest trained on the rerun.
        ("job", signal.SIGINT, 1),
        ("job", signal.SIGKILL, 2),
        pytest.param("job", signal.SIGTERM, 2, marks=_optional),
        # Both at once (Ctrl-C in a terminal reaches the whole foreground group).
        ("both", signal.SIGTERM, 1),
        pytest.param("both", signal.SIGINT, 2, marks=_optional),
        pytest.param("both", signal.SIGKILL, 2, marks=_optional),
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
    env = _env(tmp_path / "hook", TRACEFL_TEST_GATE=str(gate), TRACEFL_TEST_GATE_ROUND=str(at_round))
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
    data = work / "resources" / "datasets" / "digits"
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


# ---------------------------------------------------------------------------------------------
# Stored inputs: files that do not match their job's description fail before any tracing,
# naming the file.

def _store(tmp_path: Path, x, y, **meta) -> Path:
    import numpy as np

    folder = tmp_path / "digits"
    folder.mkdir()
    for split in ("train", "test"):
        np.savez(folder / f"{split}.npz", x=x, y=y)
    record = {"name": "digits", "kind": "image", "num_classes": 10,
              "shapes": {"train": list(x.shape), "test": list(x.shape)}, **meta}
    (folder / "meta.json").write_text(json.dumps(record))
    return folder


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y: (x[:, :4], y), "inputs of shape [20, 4, 8], but meta.json says [20, 8, 8]"),
        (lambda x, y: (x[:15], y[:15]), "inputs of shape [15, 8, 8], but meta.json says [20, 8, 8]"),
        (lambda x, y: (x, y[:15]), "20 inputs but labels of shape (15,)"),
        (lambda x, y: (x, y + 5), "labels 5..14 outside 0..9"),
        (lambda x, y: (x, y - 1), "labels -1..8 outside 0..9"),
        (lambda x, y: (x, y.astype("float32")), "labels of dtype float32, not integers"),
    ],
    ids=["shape", "rows", "label-count", "label-high", "label-negative", "label-dtype"],
)
def test_a_stored_split_unlike_its_description_is_refused(tmp_path, change, message):
    import numpy as np

    from tracefl.data.store import load_split
    from tracefl.errors import InputError

    x, y = np.zeros((20, 8, 8), dtype=np.uint8), np.arange(20) % 10
    folder = _store(tmp_path, x, y)
    bad_x, bad_y = change(x, y)
    np.savez(folder / "test.npz", x=bad_x, y=bad_y)
    with pytest.raises(InputError, match=re_escape(f"{folder / 'test.npz'}: {message}")):
        load_split(folder, "test")
    load_split(folder, "train")  # the untouched split still reads


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_a_store_of_another_dataset_is_refused(tmp_path):
    import numpy as np

    from tracefl.data.store import check_store
    from tracefl.errors import InputError

    folder = _store(tmp_path, np.zeros((20, 8, 8), dtype=np.uint8), np.arange(20) % 10, num_classes=12)
    with pytest.raises(InputError, match=re_escape(f"{folder / 'meta.json'}: num_classes 12 (the job says 10)")):
        check_store(folder, "digits", "image", 10)


@pytest.mark.parametrize(
    "indices, message",
    [([0, -3, 5], "client 0 has index -3, outside 0..19"), ([0, 20], "client 0 has index 20, outside 0..19"),
     ([1, 2, 2], "client 0 lists an example twice"), ([1, "2"], "client 0's indices are not a list of integers"),
     ([], "client 0 has no examples")],
    ids=["negative", "out-of-range", "duplicate", "not-int", "empty"],
)
def test_partition_indices_are_checked(tmp_path, indices, message):
    from tracefl.data.partition import load_partition
    from tracefl.errors import InputError

    path = tmp_path / "part.json"
    path.write_text(json.dumps({"num_clients": 1, "alpha": 1.0, "seed": 1, "num_examples": 20,
                                "clients": {"0": {"indices": indices}}}))
    with pytest.raises(InputError, match=re_escape(f"{path}: {message}")):
        load_partition(path)


def _recorded_round(tmp_path: Path, participants: list, files: list[str]) -> Path:
    import torch
    from safetensors.torch import save_file

    run = tmp_path / "run"
    folder = run / "rounds" / "0001"
    (folder / "clients").mkdir(parents=True)
    for name in files:
        save_file({"w": torch.zeros(1)}, str(folder / "clients" / f"{name}.safetensors"))
    save_file({"w": torch.zeros(1)}, str(folder / "global.safetensors"))
    (folder / "meta.json").write_text(json.dumps({"round": 1, "participants": participants}))
    return run


@pytest.mark.parametrize(
    "participants, files, message",
    [(["0", "0"], ["0"], "client(s) 0 listed twice"),
     (["0", "1"], ["0"], "no model file for 1"),
     (["0"], ["0", "1"], "model files of non-participants 1"),
     (["../x"], [], "participant id '../x' is not a file name"),
     ([0, 1], ["0", "1"], "'participants' is not a non-empty list of client ids")],
    ids=["duplicate", "missing-file", "extra-file", "path", "not-str"],
)
def test_meta_participants_are_checked_against_the_model_files(tmp_path, participants, files, message):
    from tracefl.errors import InputError
    from tracefl.runs.load import models_of_round

    run = _recorded_round(tmp_path, participants, files)
    with pytest.raises(InputError, match=re_escape(message)):
        models_of_round(None, run, 1, "cpu")


def test_recorded_predictions_out_of_range_are_refused():
    from tracefl.errors import InputError
    from tracefl.provenance.batches import check_predictions

    check_predictions([0, 9, 3], 10, {"round": 2})
    for bad in ([0, 10], [-1], [1.5]):
        with pytest.raises(InputError, match="round 2 meta.json: test_predictions holds"):
            check_predictions(bad, 10, {"round": 2})


def test_provenance_on_a_tampered_run_stops_in_one_line(trained, tmp_path):
    """The whole verb: a participant listed twice ends as one line naming meta.json, exit 1, no table."""
    run = _run_dir(trained)
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    meta = copy / "rounds" / "0001" / "meta.json"
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "participants": record["participants"][:1] * 2}))
    data = trained / "resources" / "datasets" / "digits"
    out = tmp_path / "provenance.csv"
    proc = _tracefl("provenance", "--job", str(copy / "job.json"), "--threads", "1", "--data-dir", str(data),
                    "--run-dir", str(copy), "--out", str(out))
    assert proc.returncode == 1 and not out.exists()
    assert proc.stderr.count("tracefl provenance: error: ") == 1 and "Traceback" not in proc.stderr
    line = proc.stderr[proc.stderr.index("tracefl provenance: error: "):].splitlines()[0]  # after tqdm's bar
    assert f"{meta}: client(s)" in line and "listed twice" in line


# ---------------------------------------------------------------------------------------------
# Degenerate training: stops at the step that caused it, naming the setting.

def _tiny_spec(**changes) -> str:
    spec = {"dataset": "digits", "model": "tiny-cnn", "num_clients": 4, "clients_per_round": 2, "rounds": 2,
            "batch_size": 16, "max_client_samples": 64, "max_server_samples": 64, **changes}
    return json.dumps(spec)


def test_a_partition_without_enough_clients_names_min_label_examples(trained, tmp_path):
    data = trained / "resources" / "datasets" / "digits"
    out = tmp_path / "part.json"
    proc = _tracefl("partition", "--spec", _tiny_spec(min_label_examples=500), "--data-dir", str(data), "--out", str(out))
    assert proc.returncode == 2 and not out.exists(), proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "0 of 4 clients keep any data" in line and "min_label_examples = 500" in line


def test_a_shared_partition_is_checked_again_by_each_run_that_trains_on_it(trained, tmp_path):
    # written for a run of 4 a round, the partition keeps fewer clients than a run of 10 a round samples
    # (digits, 10 clients, seed 42, batches of 32: one client holds 27 examples and is dropped)
    data = trained / "resources" / "datasets" / "digits"
    part = tmp_path / "part.json"
    shared = {"num_clients": 10, "seed": 42, "batch_size": 32, "max_client_samples": 2048, "min_label_examples": 10}
    written = _tiny_spec(clients_per_round=4, **shared)
    assert _tracefl("partition", "--spec", written, "--data-dir", str(data), "--out", str(part)).returncode == 0
    kept = len(json.loads(part.read_text())["clients"])
    assert 4 <= kept < 10, kept
    proc = _tracefl("train", "--spec", _tiny_spec(clients_per_round=10, **shared), "--data-dir", str(data),
                    "--partition", str(part), "--run-dir", str(tmp_path / "run"), "--cpus", "1",
                    "--simulation", json.dumps({"backend": "inline", "device": "cpu"}))
    assert proc.returncode == 2 and not (tmp_path / "run" / "rounds.csv").exists(), proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"{kept} of 10 clients keep any data" in line and "fewer than clients_per_round = 10" in line


def test_a_non_finite_loss_stops_training_at_its_round(trained, tmp_path):
    data = trained / "resources" / "datasets" / "digits"
    spec = _tiny_spec(lr=1e8, optimizer="sgd")
    part, run = tmp_path / "part.json", tmp_path / "run"
    assert _tracefl("partition", "--spec", spec, "--data-dir", str(data), "--out", str(part)).returncode == 0
    proc = _tracefl("train", "--spec", spec, "--data-dir", str(data), "--partition", str(part), "--run-dir", str(run),
                    "--cpus", "1", "--simulation", json.dumps({"backend": "inline", "device": "cpu"}))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tracefl train: training error: run ") and "round 1:" in last
    assert "lr = 100000000.0" in last
    assert not (run / "rounds" / "0001").exists() and not (run / "rounds.csv").exists()


# ---------------------------------------------------------------------------------------------
# CLI arguments: every verb's help, bounds and errors (a new verb is checked by the same tests).

def _verbs() -> dict:
    import argparse

    from tracefl.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


VERBS = sorted(_verbs())
MISSING = "/nonexistent/tracefl-test"
#: Each verb with arguments naming inputs that do not exist (or a name that is not known).
BAD_INPUT = {
    "download": ["--dataset", "no-such-dataset", "--out", f"{MISSING}/d"],
    "fixtures": ["--out", "/proc/tracefl-test", "--datasets", "mnist", "--train-rows", "2", "--test-rows", "2"],
    "prefetch": ["--model", "no-such-model"],
    "partition": ["--job", f"{MISSING}/job.json", "--data-dir", MISSING, "--out", f"{MISSING}/p.json"],
    "train": ["--job", f"{MISSING}/job.json", "--data-dir", MISSING, "--partition", MISSING, "--run-dir", MISSING],
    "provenance": ["--job", f"{MISSING}/job.json", "--data-dir", MISSING, "--run-dir", MISSING, "--out", f"{MISSING}/p.csv"],
    "contributions": ["--job", f"{MISSING}/job.json", "--data-dir", MISSING, "--run-dir", MISSING,
                      "--out", f"{MISSING}/c.csv", "--labels-out", f"{MISSING}/l.csv"],
    "feddebug": ["--job", f"{MISSING}/job.json", "--run-dir", MISSING, "--out", f"{MISSING}/f.csv"],
    "report": ["--item", "figure2", "--jobs", f"{MISSING}/job.json", "--out-prefix", f"{MISSING}/figure2"],
    "status": ["--config", f"{MISSING}/experiments.yaml"],
    "explain": ["--run-dir", MISSING, "--inputs", f"{MISSING}/x.npy", "--out", f"{MISSING}/e.png"],
    "profile": ["--results", MISSING],
    "drop-client-models": ["--run-dir", MISSING, "--out", f"{MISSING}/d.json"],
    "audit": ["--run-dir", MISSING, "--out", f"{MISSING}/audit.png"],
    "repair": ["--job", f"{MISSING}/job.json", "--data-dir", MISSING, "--run-dir", MISSING, "--out", f"{MISSING}/r.csv"],
    "fidelity": None,  # reads only this checkout's docs/fidelity.md and presets
    "schema": None,  # reads nothing a user gives
    "bench": None,  # its own parser and tests (tests/test_bench.py)
}


def test_every_verb_is_covered_by_the_cli_fault_cases():
    assert sorted(BAD_INPUT) == VERBS, "add the new verb to BAD_INPUT (or say why it reads no input)"


@pytest.mark.parametrize("verb", VERBS)
def test_every_option_has_help_and_its_default_and_the_verb_an_example(verb):
    parser = _verbs()[verb]
    text = parser.format_help()
    assert f"example:\n  python -m tracefl {verb}" in text
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{verb} {action.option_strings[0]} has no help"
        if action.default not in (None, False) and not action.required:
            assert "default" in parser._get_formatter()._get_help_string(action), (verb, action.option_strings)


def test_the_top_level_help_lists_every_verb(capsys):
    from tracefl.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert stop.value.code == 0 and all(verb in out for verb in VERBS)
    assert "(~90% of its bytes)" in out  # a % in a summary is printed, not taken for a format


def test_version(capsys):
    import tracefl
    from tracefl.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"tracefl {tracefl.__version__}"


def _numeric_options() -> list[tuple[str, str]]:
    return [(verb, action.option_strings[-1]) for verb, parser in sorted(_verbs().items()) for action in parser._actions
            if action.type is not None and action.type.__name__ in ("int", "float")]


@pytest.mark.parametrize("verb, option", _numeric_options(), ids=lambda v: str(v))
@pytest.mark.parametrize("value", ["-3", "nan", "x"])
def test_numeric_options_are_bounded(verb, option, value, capsys):
    from tracefl.cli import main

    assert option not in ("--layer-decay", "--watch") or value != "0"
    with pytest.raises(SystemExit) as stop:
        main([verb, option, value, *(BAD_INPUT[verb] or [])])
    assert stop.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def test_the_bounded_options_are_the_numeric_ones():
    """--threads, --cpus, --watch, row counts, --max-length, --layer-decay, --inputs: all bounded
    (an int/float type without a bound would not be listed by the test above)."""
    found = {option for _, option in _numeric_options()}
    assert {"--threads", "--cpus", "--watch", "--train-rows", "--max-length", "--layer-decay", "--inputs"} <= found
    for parser in _verbs().values():
        assert not [a for a in parser._actions if a.type in (int, float)], "an unbounded numeric option"


@pytest.mark.parametrize("verb", [v for v in VERBS if BAD_INPUT[v] is not None])
def test_a_bad_input_is_one_line_with_a_truthful_exit_code(verb, capsys):
    from tracefl.cli import main

    code = main([verb, *BAD_INPUT[verb]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2), err
    assert len(err) == 1 and err[0].startswith(f"tracefl {verb}: "), err
    assert "Traceback" not in err[0]


def test_debug_keeps_the_traceback():
    from tracefl.cli import main
    from tracefl.errors import ConfigError

    with pytest.raises(FileNotFoundError):
        main(["--debug", "status", "--config", f"{MISSING}/experiments.yaml"])
    with pytest.raises(ConfigError):
        main(["--debug", "download", *BAD_INPUT["download"]])


# ---------------------------------------------------------------------------------------------
# Report outputs: all of an item's files, or none (a full disk half-way through a figure).

def test_an_item_that_fails_half_way_leaves_its_previous_files(tmp_path, monkeypatch):
    import errno

    import tracefl.steps.report as report_step

    out = tmp_path / "results"
    out.mkdir()
    for ext in ("pdf", "png", "csv"):
        (out / f"figure2.{ext}").write_text(f"old {ext}")

    class HalfWritten:
        def build(self, results, prefix):
            Path(f"{prefix}.pdf").write_text("new pdf")
            raise OSError(errno.ENOSPC, "No space left on device", f"{prefix}.png")

    class Whole:
        def build(self, results, prefix):
            for ext in ("pdf", "png", "csv"):
                Path(f"{prefix}.{ext}").write_text(f"new {ext}")
            return "table"

    monkeypatch.setattr(report_step, "get_item", lambda name: HalfWritten())
    with pytest.raises(OSError):
        report_step.build_item("figure2", [], tmp_path / "runs", out / "figure2")
    assert sorted(p.name for p in out.iterdir()) == ["figure2.csv", "figure2.pdf", "figure2.png"]
    assert {p.read_text() for p in out.iterdir()} == {"old pdf", "old png", "old csv"}

    monkeypatch.setattr(report_step, "get_item", lambda name: Whole())
    assert report_step.build_item("figure2", [], tmp_path / "runs", out / "figure2") == "table"
    assert sorted(p.name for p in out.iterdir()) == ["figure2.csv", "figure2.pdf", "figure2.png"]
    assert {p.read_text() for p in out.iterdir()} == {"new pdf", "new png", "new csv"}


@pytest.mark.parametrize("text", ["rnd,acc\n1,0.5\n", "round\n\"1\n", ""], ids=["no-round-column", "bad-quote", "empty"])
def test_a_malformed_rounds_table_is_one_input_error(tmp_path, text):
    from tracefl.config import RunSpec
    from tracefl.errors import InputError
    from tracefl.report.results import RunResult

    spec = RunSpec(dataset="digits", model="tiny-cnn", num_clients=2, clients_per_round=2, rounds=1)
    run = tmp_path / spec.run_id
    run.mkdir()
    (run / "rounds.csv").write_text(text)
    with pytest.raises(InputError, match=re_escape(str(run / "rounds.csv"))):
        RunResult.load(spec, tmp_path)

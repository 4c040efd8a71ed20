"""Workflow tests: lint, dry-runs, and one tiny real end-to-end run through Snakemake."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tracefl.config import load_preset
from tracefl.report.job_times import read_benchmarks

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def snakemake(*args: str, cwd: Path = ROOT, timeout: int = 1200) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _workdir(tmp_path: Path) -> Path:
    """A scratch project: the workflow's config beside fresh results/ and resources/."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def chromium() -> str | None:
    """The headless browser the report test opens the report in (CI installs it: .ci/run)."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def dump_dom(browser: str, page: Path) -> str:
    """The page's DOM after its scripts ran, as a real browser rendered it."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
           "--dump-dom", page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def check_report_in_browser(report: Path, figures: list[str], tables: list[str]) -> None:
    """Open Snakemake's report in headless Chromium: the landing page renders, every figure is a PNG
    the browser decodes, every table is an HTML page, and no caption carries a docutils warning."""
    browser = chromium()
    if browser is None:
        assert not os.environ.get("CI"), "CI must have chromium (.ci/run installs it)"
        pytest.skip("chromium is not installed (apt-get install -y chromium): the report is not opened in a browser")
    text = report.read_text()
    assert "System Message" not in text and "WARNING/2" not in text
    assert "TraceFL reproduction workflow" in dump_dom(browser, report)
    for name in figures:
        assert f'"{name}.png"' in text, name
    for name in tables:
        assert f'"{name}.html"' in text, name
    images = re.findall(r"data:image/png[^\"',]*?;base64,[A-Za-z0-9+/=]+", text)
    assert len(images) >= len(figures)
    probe = report.with_name("probe.html")
    probe.write_text("".join(f'<img src="{src}">' for src in images)
                     + "<script>window.onload=()=>{document.body.dataset.widths="
                     "[...document.images].map(i=>i.naturalWidth).join(' ')}</script>")
    widths = re.search(r'data-widths="([^"]*)"', dump_dom(browser, probe)).group(1).split()
    assert len(widths) == len(images) and all(int(w) > 100 for w in widths), widths


@pytest.mark.parametrize("target", ["results/figure2.pdf", "all"])
@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_dry_run(tmp_path, preset, target):
    proc = snakemake(target, "-n", "--cores", "2", "--config", f"preset={preset}", cwd=_workdir(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "train_fl" in proc.stdout and "provenance" in proc.stdout


def test_lint(tmp_path):
    proc = snakemake("--lint", cwd=_workdir(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bad_config_fails_before_any_job(tmp_path):
    proc = snakemake("-n", "--cores", "1", "--config", "preset=nope", cwd=_workdir(tmp_path))
    assert proc.returncode != 0
    assert "preset = 'nope' is not defined" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ("presets:\n  quick:\n    defaults:\n      alpha: 0\n",
         "presets.quick.defaults.alpha = 0 is not allowed; allowed: a number > 0"),
        # The quick runs train 10 clients a round: fewer clients than that must stop the run.
        ("presets:\n  quick:\n    defaults:\n      num_clients: 3\n",
         "clients_per_round = 10 is not allowed; must be between 1 and num_clients (3)"),
    ],
)
def test_schema_and_cross_key_errors_stop_the_dry_run(tmp_path, override, message):
    work = _workdir(tmp_path)
    (work / "bad.yaml").write_text(override)
    proc = snakemake("-n", "--cores", "1", "--configfile", "bad.yaml", cwd=work)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (work / "results").exists() and not (work / "resources").exists()


@pytest.mark.slow
def test_tiny_figure1_from_a_real_run(tmp_path):
    """Figure 1: a neighbouring-labels run (client i holds labels i, i+1, i+2), four test inputs of
    two labels traced in its last round, and the clients that hold each input's label marked."""
    work = _workdir(tmp_path)
    proc = snakemake("results/figure1.png", "--cores", "1", "--configfile", str(TINY), cwd=work)
    logs = "\n".join(p.read_text() for p in (work / "results" / "logs").rglob("*.log")) if (work / "results/logs").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + logs
    for ext in ("pdf", "png"):
        assert (work / f"results/figure1.{ext}").stat().st_size > 0
    table = pd.read_csv(work / "results/figure1.csv")
    counts = table[table["part"] == "label_count"]
    for client, rows in counts.groupby("client"):
        assert set(rows["label"]) == {(client + k) % 10 for k in range(3)}, client
    contributions = table[table["part"] == "contribution"]
    assert sorted(set(contributions["label"])) == [0, 5] and contributions["input"].nunique() == 4
    assert set(contributions["client"]) == set(range(10))
    sums = contributions.groupby("input")["contribution"].sum()
    assert ((sums - 1).abs() < 1e-4).all()  # a softmax over the clients
    assert (contributions.groupby("input")["traced"].sum() == 1).all()
    held = {(int(r.client), int(r.label)) for r in counts.itertuples()}
    assert [(int(c), int(l)) in held for c, l in zip(contributions["client"], contributions["label"])] == \
        contributions["holds_label"].astype(bool).tolist()
    assert contributions.groupby("input")["holds_label"].sum().eq(3).all()  # label 0: clients 0, 8, 9


def test_tiny_end_to_end(tmp_path):
    """Every figure and table from real runs: download, partition, Flower training (plain,
    label-flipping, DP), provenance, FedDebug, reports."""
    work = _workdir(tmp_path)
    proc = snakemake("all", "--cores", "2", "--configfile", str(TINY), cwd=work)
    logs = "\n".join(p.read_text() for p in (work / "results" / "logs").rglob("*.log")) if (work / "results/logs").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + logs
    assert (work / "results/figure2.pdf").stat().st_size > 0
    assert (work / "results/figure2.png").stat().st_size > 0
    for item in ("figure1", "figure2", "figure3", "figure4", "figure5", "figure6", "repair"):
        assert (work / f"results/{item}.pdf").stat().st_size > 0, item
    for item in ("table1", "table2", "table3", "ablation_weighting", "ground_truth_table", "repair_table"):
        for ext in ("csv", "md", "tex"):
            assert (work / f"results/{item}.{ext}").stat().st_size > 0, (item, ext)
    table1 = pd.read_csv(work / "results/table1.csv")
    assert table1["traced_mispredictions"].iloc[0] > 0
    assert 0 <= table1["tracefl_faulty_pct"].iloc[0] <= 100 and table1["faulty_chance_pct"].iloc[0] == 25
    # client 0 flips every label to 0: the label-count rule finds it on every misprediction to 0
    assert table1["label_count_faulty_pct"].iloc[0] > 0 and 0 <= table1["last_layer_faulty_pct"].iloc[0] <= 100
    assert pd.read_csv(work / "results/table2.csv")["dp_noise"].tolist() == [0.001]
    ablation = pd.read_csv(work / "results/ablation_weighting.csv")
    for column in ("label_held_pct", "label_held_data_size_pct", "top_holder_pct", "top_holder_data_size_pct"):
        assert ablation[column].between(0, 100).all(), column
    runs = sorted((work / "results/runs").iterdir())
    # plain, its second seed (Figure 3), faulty, DP, style, backdoor and Figure 1's runs, and the faulty run's
    # fault-free twin (trained to judge it, not traced); the other items share the plain one
    assert len(runs) == 8
    (twin_id,) = set(load_preset(TINY).twins("table1").values())
    twin = work / "results/runs" / twin_id
    assert (twin / "rounds.csv").is_file() and not (twin / "provenance.csv").exists()
    assert table1["twin_final_global_acc_pct"].between(0, 100).all()
    # keep_client_models: false (config/experiments.yaml): `all` deleted every run's client models after their
    # last reader; the global models, rounds.csv and the final model stay
    for run in runs:
        assert json.loads((run / "client_models_dropped.json").read_text())["rounds"] == [1, 2], run.name
        assert not list(run.glob("rounds/*/clients/*.safetensors")), run.name
        assert len(list(run.glob("rounds/*/global.safetensors"))) == 2 and (run / "final_model.safetensors").is_file()
    points = pd.read_csv(work / "results/figure3.csv")  # one point: the two seeds' mean and interval
    assert len(points) == 1 and points["seeds"].iloc[0] == 2 and points["run_id"].iloc[0].count(";") == 1
    assert {"tracefl_pct_ci95_low", "tracefl_pct_ci95_high"} <= set(points.columns)
    panels = pd.read_csv(work / "results/figure2.csv")
    truth = pd.read_csv(work / "results/ground_truth.csv")
    assert {"dataset", "scenario", "seed", "method", "accuracy", "chance", "n_inputs"} <= set(truth.columns)
    assert set(truth["scenario"]) == {"style", "backdoor"} and (truth["chance"] == 25).all()
    methods = truth.groupby("scenario")["method"].apply(set)
    assert methods["style"] == {"tracefl", "last_layer", "label_count"}
    assert methods["backdoor"] == {"tracefl", "last_layer", "label_count", "feddebug"}
    traced = truth[truth["n_inputs"] > 0]
    assert traced["accuracy"].between(0, 100).all()
    # the backdoor client is never the label-count rule's pick, by construction
    assert (traced.loc[(traced["scenario"] == "backdoor") & (traced["method"] == "label_count"), "accuracy"] == 0).all()
    for ext in ("csv", "md", "tex"):
        assert (work / f"results/ground_truth_table.{ext}").stat().st_size > 0
    assert (work / "results/ground_truth.pdf").stat().st_size > 0
    plain = work / "results/runs" / panels["run_id"].iloc[0].split(";")[0]
    rounds = pd.read_csv(plain / "rounds.csv")
    assert list(rounds["round"]) == [1, 2]
    assert {"round", "global_accuracy", "global_loss", "participants"} <= set(rounds.columns)
    prov = pd.read_csv(plain / "provenance.csv")
    needed = {"round", "input_id", "true_label", "predicted_label", "traced_client", "label_held",
              "label_held_chance", "top_holder", "top_holder_chance", "seconds", "traced_client_data_size",
              "label_held_data_size", "top_holder_data_size", "label_count_client", "last_layer_client",
              "top_holder_label_count", "top_holder_last_layer", "label_held_post_flip"}
    assert needed <= set(prov.columns)
    assert (prov["top_holder_label_count"] == 1).all()  # perfect by construction without a faulty client
    assert len(prov) > 0
    for _, row in prov.iterrows():
        assert str(row["traced_client"]) in str(rounds.loc[rounds["round"] == row["round"], "participants"].iloc[0]).split()
    assert prov["label_held"].isin([0, 1]).all() and prov["label_held_chance"].between(0, 1).all()
    # every computing job left its benchmark file; the profile names and sums them
    jobs = read_benchmarks(work / "results")
    assert set(jobs.loc[jobs["step"] == "train", "run"]) == {r.name for r in runs}
    assert set(jobs.loc[jobs["step"] == "provenance", "run"]) == {r.name for r in runs} - {twin_id}
    assert (jobs["model"] == "tiny-cnn").all() and (jobs["seconds"] > 0).all()
    # run ids name the DP and the fault; status counts the steps and, one provenance undone, estimates it
    assert any("-dp0.001x5-" in r.name for r in runs) and any("-faulty0-flip1-9to0-" in r.name for r in runs)
    status = [sys.executable, "-m", "tracefl", "status", "--config", str(TINY), "--cores", "2"]
    done = subprocess.run(status, cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    steps = len(jobs)  # every computing job the build ran (training, provenance, FedDebug, repair, contributions)
    assert set(jobs["step"]) == {"train", "provenance", "feddebug", "repair", "contributions"}
    assert done.stdout.splitlines()[-1] == f"{steps} of {steps} steps done (training, provenance, FedDebug, repair, " \
                                           "contributions); nothing left to run", done.stdout + done.stderr
    (plain / "provenance.csv").rename(plain / "provenance.kept")
    left = subprocess.run(status, cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert re.fullmatch(rf"{steps - 1} of {steps} steps done \(training, provenance, FedDebug, repair, contributions\); "
                        rf"about \d+ (s|min) left on 2 cores \(from \d+ measured jobs\)", left.stdout.splitlines()[-1]), left.stdout
    (plain / "provenance.kept").rename(plain / "provenance.csv")
    # the report a reader opens first: after a partial build too (only what was named)
    proc = snakemake("results/figure2.pdf", "results/table1.csv", "--configfile=" + str(TINY),
                     "--report", "results/report.html", cwd=work)
    assert proc.returncode == 0 and "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    check_report_in_browser(work / "results/report.html", ["figure2"], ["table1"])


def test_tiny_repair_item(tmp_path):
    """The repair item on the tiny preset: its runs are Table I's, the backdoor's and Figure 2's (none trained
    for it alone); each is audited and its last round re-aggregated per method; figure and table are written."""
    work = _workdir(tmp_path)
    proc = snakemake("results/repair.pdf", "results/repair_table.csv", "--cores", "2", f"--configfile={TINY}", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((work / "results/runs").iterdir())) == 3
    for ext in ("pdf", "png", "csv"):
        assert (work / f"results/repair.{ext}").stat().st_size > 0
    for ext in ("csv", "md", "tex"):
        assert (work / f"results/repair_table.{ext}").stat().st_size > 0
    long = pd.read_csv(work / "results/repair.csv")
    for _, group in long.groupby("run_id"):  # the confirmed flags are some of the audit's flags
        named = group.set_index("method")["excluded"].fillna("").astype(str).str.split()
        assert set(named["audit_confirmed"]) <= set(named["audit"])
    assert set(long["scenario"]) == {"label flip", "backdoor", "fault-free"}
    methods = set(long["method"])
    assert {"nobody", "audit", "audit_confirmed", "label_count", "feddebug", "random", "Krum", "MultiKrum", "FedMedian",
            "FedTrimmedAvg"} <= methods and "Bulyan" not in methods  # Bulyan needs K >= 4f+3 (4 clients here)
    # nobody excluded: the recorded model, so no change; the oracle drops exactly the faulty client
    nobody = long[long["method"] == "nobody"]
    assert (nobody["change_pp"].abs() < 1e-6).all()
    oracle = long[long["method"] == "oracle"]
    assert set(oracle["scenario"]) == {"label flip", "backdoor"} and (oracle["recall_pct"] == 100).all()
    assert long["accuracy_pct"].between(0, 100).all()
    backdoor = long[long["scenario"] == "backdoor"]
    assert backdoor["attack_success_pct"].between(0, 100).all()
    assert long.loc[long["scenario"] != "backdoor", "attack_success_pct"].isna().all()
    table = pd.read_csv(work / "results/repair_table.csv")
    assert len(table) == len(long) and (table["seeds"] == 1).all() and table["accuracy_pct_ci95_low"].isna().all()


TOY_BUILDER = '''
import pandas as pd


def build(results, prefix, item):
    table = pd.DataFrame({"run_id": [r.spec.run_id for r in results]})
    for ext in item.extensions:
        prefix.with_suffix("." + ext).write_text(table.to_csv(index=False))
    return table
'''


def test_a_new_item_is_one_catalog_entry_and_becomes_a_target(tmp_path):
    """A toy item registered in the catalog (no other edit) is planned by Snakemake, in `all` too."""
    work = _workdir(tmp_path)
    (work / "toy_items.py").write_text(TOY_BUILDER)
    (work / "Snakefile").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(work)!r})\n"
        f"sys.path.insert(1, {str(ROOT)!r})  # this checkout's tracefl, as the Snakefile's jobs use\n"
        "from tracefl.config import items\n"
        "items.register(items.Item('figure9', 'figure', 'Figure 9: toy', 'A toy figure.',\n"
        "                              'toy_items:build', runs_from='figure2'))\n"
        f"include: {str(ROOT / 'Snakefile')!r}\n"
        "print('torch loaded by the controller:', 'torch' in sys.modules)\n"
    )
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile"), "-n", "--cores", "1"]
    for target in ("results/figure9.pdf", "all"):
        proc = subprocess.run([*cmd, target], cwd=work, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Drawing figure9: results/figure9.pdf" in proc.stdout, target
        assert "torch loaded by the controller: False" in proc.stdout


def test_catalog_drives_schema_cli_and_wildcards(monkeypatch):
    """An item with runs of its own adds a config key (schema + preset) and a CLI choice."""
    from tracefl.cli import build_parser
    from tracefl.config import config_schema, resolve_preset
    from tracefl.config import items

    toy = items.Item("table9", "table", "Table 9: toy", "A toy table.", "toy_items:build")
    monkeypatch.setitem(items.ITEMS, "table9", toy)
    assert "table9" in config_schema()["$defs"]["preset"]["properties"]
    assert "table9" in items.wildcard_pattern("table").split("|")
    assert "table9" not in items.wildcard_pattern("figure").split("|")
    args = build_parser().parse_args(["report", "--item", "table9", "--specs", "[]", "--out-prefix", "x"])
    assert args.item == "table9"
    config = {"presets": {"p": {"table9": [{"dataset": "digits", "model": "tiny-cnn", "rounds": 1}]}}}
    preset = resolve_preset(config, "p")
    assert [i.name for i in preset.built_items()] == ["table9"]
    assert toy.outputs() == ["results/table9.csv", "results/table9.md", "results/table9.tex"]


def test_conda_env_lists_the_package_dependencies():
    """envs/tracefl.yaml (for --sdm conda) carries pyproject's dependencies and the workflow extra, less Snakemake."""
    import tomllib

    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["workflow"]
    wanted = [d for d in wanted if not d.startswith("snakemake")]
    env = yaml.safe_load((ROOT / "envs" / "tracefl.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == wanted


def test_jobs_run_this_checkouts_code(tmp_path):
    """Each job puts the workflow folder first on PYTHONPATH: another `tracefl` on the path
    (or none installed, as in a `--sdm conda` environment) does not change what runs."""
    work = _workdir(tmp_path / "work")
    fake = tmp_path / "fake" / "tracefl"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("raise SystemExit('the wrong tracefl')")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "1",
           "--", "resources/datasets/digits"]
    env = dict(os.environ, PYTHONPATH=str(fake.parent))
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / "resources" / "datasets" / "digits" / "train.npz").is_file()

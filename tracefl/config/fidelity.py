"""The "our presets" columns of docs/fidelity.md, generated from what the presets resolve to.

docs/fidelity.md compares each paper item's settings with the paper's and the artifact's; the
two columns that describe this workflow's presets are written here from the resolved runs
(``python -m tracefl fidelity --write``), and a test fails when the page and the presets differ.
"""

from __future__ import annotations

import re
from pathlib import Path

from tracefl.config.presets import Preset, load_config, resolve_preset

PAGE = Path("docs/fidelity.md")
CONFIG = Path("config/experiments.yaml")
# What a row lists, in order: run setting -> its label on the page.
SETTINGS = {
    "dataset": "datasets", "model": "models", "optimizer": "optimizer", "lr": "lr",
    "num_clients": "clients", "clients_per_round": "a round", "rounds": "rounds", "partition": "partition", "alpha": "alpha",
    "label_flip": "label flip", "faulty_clients": "faulty clients", "scenario": "scenario", "dp_noise": "DP noise", "dp_clip": "DP clip", "seed": "seeds",
}
# Settings listed only where some run departs from their default (the rows would otherwise repeat it).
_AT_DEFAULT = {"partition": "dirichlet"}
_BLOCK = re.compile(r"(<!-- presets:(\w+) -->\n)(.*?)(<!-- /presets -->)", re.S)


def _values(preset: Preset, key: str, attr: str) -> str:
    seen: list[str] = []
    for run_id in preset.items.get(key, []):
        value = getattr(preset.runs[run_id], attr)
        if value is None or value == ():
            value = "none"
        if value == "none":
            text = "none"
        elif attr == "label_flip":  # ((source, target), ...)
            pairs = dict(value)
            text = (f"{len(pairs)} labels to 0" if set(pairs.values()) == {0}
                    else ", ".join(f"{a}->{b}" for a, b in sorted(pairs.items())))
        elif isinstance(value, tuple):
            text = "[" + ", ".join(map(str, value)) + "]"
        else:
            text = str(value)
        if text not in seen:
            seen.append(text)
    return ", ".join(seen) if seen else "-"


def preset_rows(key: str, presets: dict[str, Preset]) -> str:
    """The markdown rows for one item's run key: one line per setting, a column per preset."""
    names = list(presets)
    lines = ["| setting | " + " | ".join(f"our `{n}` preset" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    lines.append("| runs | " + " | ".join(str(len(p.items.get(key, []))) for p in presets.values()) + " |")
    for attr, label in SETTINGS.items():
        cells = [_values(p, key, attr) for p in presets.values()]
        if any(c not in ("-", _AT_DEFAULT.get(attr)) for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for attr in ("inputs_per_label", "max_mispredictions", "client_weighting"):
        lines.append(f"| {attr.replace('_', ' ')} | " + " | ".join(str(getattr(p.provenance, attr)) for p in presets.values()) + " |")
    return "\n".join(lines) + "\n"


def render(page: str, root: Path) -> str:
    """``page`` with every ``<!-- presets:KEY -->`` block regenerated from the presets."""
    config = load_config(root / CONFIG)
    presets = {n: resolve_preset(config, n, every_entry=True) for n in ("paper", "quick")}
    return _BLOCK.sub(lambda m: m.group(1) + preset_rows(m.group(2), presets) + m.group(4), page)


def write(root: Path) -> Path:
    path = root / PAGE
    path.write_text(render(path.read_text(), root))
    return path

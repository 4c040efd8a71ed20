"""What a panel's title says: its dataset and model, and the settings that set it apart.

Panels of one figure that share a dataset and model differ in a setting (alpha, clients,
DP noise, a planted scenario); the title names that setting, so no two panels read the same.
A figure of one panel names its alpha and clients instead, as the paper's captions do.
"""

from __future__ import annotations

import string
from typing import Callable, Sequence

from tracefl.models.catalog import display_name
from tracefl.report.style import TITLE_PT, join_within


def _clients(spec) -> str:
    return f"{spec.clients_per_round} of {spec.num_clients} clients/round"


def _dp(spec) -> str:
    return f"DP noise {spec.dp_noise:g}, clip {spec.dp_clip:g}" if spec.dp_noise or spec.dp_clip else ""


def _faults(spec) -> str:
    return f"faulty client {', '.join(map(str, spec.faulty_clients))}" if spec.faulty_clients else ""


#: A setting that may set panels apart -> (the spec fields it reads, how a title says it; '' at its
#: default: a plain run's panel needs no "no DP, no fault").
SETTINGS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "alpha": (("alpha",), lambda s: f"α={s.alpha:g}"),
    "clients": (("num_clients", "clients_per_round"), _clients),
    "dp": (("dp_noise", "dp_clip"), _dp),
    "scenario": (("scenario",), lambda s: f"planted {s.scenario}" if s.scenario != "none" else ""),
    "faults": (("faulty_clients", "label_flip"), _faults),
}
#: Said when a figure has a single panel (nothing differs): the paper's captions name them.
CONTEXT = ("alpha", "clients")


def short_dataset(spec, specs: Sequence) -> str:
    """The dataset's display name without its parenthesis ("Digits"), unless that confuses two datasets."""
    short = spec.data.display.split(" (")[0]
    clash = {s.dataset for s in specs if s.data.display.split(" (")[0] == short}
    return short if len(clash) <= 1 else spec.data.display


def differing(specs: Sequence) -> list[str]:
    """The :data:`SETTINGS` whose value is not the same in every panel."""
    return [name for name, (fields, _) in SETTINGS.items()
            if len({tuple(getattr(s, f) for f in fields) for s in specs}) > 1]


def panel_settings(spec, specs: Sequence) -> list[str]:
    """The settings a panel's title names: those that differ between ``specs`` (one panel: its context)."""
    names = differing(specs) if len(specs) > 1 else list(CONTEXT)
    return [text for text in (SETTINGS[name][1](spec) for name in names) if text]


def wrap(parts: Sequence[str], width_in: float, size: float) -> str:
    """``parts`` joined by ' · ', a new line wherever the next would pass ``width_in`` at ``size`` pt
    (a part wider than that is broken between words when the figure is saved: style.fit_titles)."""
    return "\n".join(join_within(parts, width_in, size))


def panel_title(index: int, spec, specs: Sequence, extra: Sequence[str] = (), width_in: float = 2.0) -> str:
    """``(a) Digits · tiny CNN`` (no letter on a figure of one panel) and below it the settings that set the panel apart and ``extra``,
    wrapped to the panel's ``width_in``."""
    letter = f"({string.ascii_lowercase[index]}) " if len(specs) > 1 else ""
    head = wrap([f"{letter}{short_dataset(spec, specs)}", display_name(spec.model)], width_in, TITLE_PT)
    tail = wrap([*panel_settings(spec, specs), *extra], width_in, TITLE_PT)
    return head + ("\n" + tail if tail else "")


def seeds_text(fewest: int, most: int | None = None) -> str:
    """How many seeds a panel's curves or points stand on ('' for one)."""
    most = fewest if most is None else most
    if most <= 1:
        return ""
    return f"mean of {most} seeds" if fewest == most else f"mean of {fewest}-{most} seeds per point"

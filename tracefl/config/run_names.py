"""The readable segments of a run id for the settings a preset varies beyond the usual ones.

A run id reads ``{dataset}-{model}[-{scenario}]-c{clients}-p{per round}-r{rounds}-a{alpha}``,
then one segment per setting below that is off its default, then ``-s{seed}-{hash}``: Figure 4's
runs read ``...-a0.2-dp0.001x50-s42-...``, Table I's ``...-a0.3-faulty0-flip1-9to0-s42-...``, a client with random labels
``...-faulty0-randlabels-...``.
The hash (of every setting) keeps ids unique; these segments only let a reader tell runs
apart. Every segment keeps to the characters a Snakemake ``run`` wildcard allows
(``[A-Za-z0-9_.-]``) and holds no ``/``.
"""

from __future__ import annotations

from typing import Iterable


def id_ranges(numbers: Iterable[int]) -> str:
    """Sorted ints with runs of three or more contracted: ``[0, 1, 2, 3, 7]`` -> ``0-3_7``."""
    values = sorted(set(int(n) for n in numbers))
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{values[i]}-{values[j]}")
            i = j + 1
        else:
            parts.append(str(values[i]))
            i += 1
    return "_".join(parts)


def flip_segment(label_flip: Iterable[tuple[int, int]]) -> str:
    """``flip{sources}to{target}`` per target label: ``{1..9: 0}`` -> ``flip1-9to0``."""
    by_target: dict[int, list[int]] = {}
    for source, target in label_flip:
        by_target.setdefault(int(target), []).append(int(source))
    return "flip" + "_".join(f"{id_ranges(sources)}to{target}" for target, sources in sorted(by_target.items()))


def setting_segments(
    faulty_clients: tuple[int, ...],
    label_flip: tuple[tuple[int, int], ...],
    dp_noise: float,
    dp_clip: float,
    exclude_clients: tuple[int, ...],
    exclude_from_round: int,
    random_labels: bool = False,
) -> list[str]:
    """The id's segments for faults, DP and excluded clients; none of them at their defaults."""
    segments = []
    if faulty_clients:
        segments.append(f"faulty{id_ranges(faulty_clients)}")
    if random_labels:
        segments.append("randlabels")
    if label_flip:
        segments.append(flip_segment(label_flip))
    if dp_noise or dp_clip:
        segments.append(f"dp{dp_noise:g}x{dp_clip:g}")
    if exclude_clients:
        since = f"from{exclude_from_round}" if exclude_from_round > 1 else ""
        segments.append(f"excl{id_ranges(exclude_clients)}{since}")
    return segments

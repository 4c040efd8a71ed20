"""The audit's heatmap: clients x rounds, the mispredictions traced to each client."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracefl.audit.run import Audit
from tracefl.runs.layout import client_order


def plot_audit(audit: Audit, out: str | Path) -> Path:
    """Clients (rows) x rounds (columns): traced mispredictions, blank where a client sat out;
    flagged clients' names in red; the right margin gives each client's share of the mistakes
    and of the correct predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = audit.counts
    clients = sorted(counts["client"].unique(), key=client_order)
    rounds = sorted(counts["round"].unique())
    mis = counts.pivot(index="client", columns="round", values="traced_mispredictions").reindex(clients)[rounds]
    part = counts.pivot(index="client", columns="round", values="participated").reindex(clients)[rounds]
    grid = np.where(part.to_numpy() > 0, mis.to_numpy(dtype=float), np.nan)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.5 * len(rounds) + 3.5), max(2.5, 0.35 * len(clients) + 1.5)))
    image = ax.imshow(grid, aspect="auto", cmap="Reds", vmin=0)
    ax.set_xticks(range(len(rounds)), [str(r) for r in rounds])
    ax.set_yticks(range(len(clients)), [f"client {c}" for c in clients])
    flagged = set(audit.flagged)
    for tick, client in zip(ax.get_yticklabels(), clients):
        if client in flagged:
            tick.set_color("red")
            tick.set_fontweight("bold")
    shares = audit.clients.set_index("client")
    for i, client in enumerate(clients):
        row = shares.loc[client]
        ax.text(len(rounds) - 0.4, i, f" {row['misprediction_share']:.0%} / {row['correct_share']:.0%}",
                va="center", fontsize=8)
    ax.set_xlabel("round")
    title = "flagged: " + (", ".join(sorted(flagged, key=client_order)) if flagged else "none")
    ax.set_title(f"mispredictions traced to each client ({title})\nright: share of mistakes / of correct", fontsize=9)
    fig.colorbar(image, ax=ax, label="traced mispredictions", pad=0.2)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

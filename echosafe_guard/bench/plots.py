"""PNG plots for the ``eval`` report (matplotlib, headless ``Agg`` backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from echosafe_guard.bench.metrics import MetricSet
from echosafe_guard.exceptions import ConfigError

__all__ = ["plot_ccr_radar", "plot_memory_curve", "plot_rr_ar_bars"]

_COLORS = {"off": "#9e9e9e", "on": "#1565c0"}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ConfigError("plots need the 'matplotlib' package") from exc
    return plt


def _value(m: MetricSet, name: str) -> float:
    v = getattr(m, name).value
    return 0.0 if v is None else float(v)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    _pyplot().close(fig)
    return path


def plot_ccr_radar(by_guard: Mapping[str, Mapping[str, MetricSet]], path: Path) -> Path:
    """Per-category CCR, one polygon per guard setting."""
    plt = _pyplot()
    cats = sorted({c for per_cat in by_guard.values() for c in per_cat})
    angles = [2 * math.pi * i / max(len(cats), 1) for i in range(len(cats))]
    fig = plt.figure(figsize=(6, 6))
    ax = fig.add_subplot(111, polar=True)
    for guard, per_cat in by_guard.items():
        vals = [_value(per_cat[c], "ccr") if c in per_cat else 0.0 for c in cats]
        ax.plot(angles + angles[:1], vals + vals[:1], color=_COLORS.get(guard), label=guard)
        ax.fill(angles + angles[:1], vals + vals[:1], color=_COLORS.get(guard), alpha=0.15)
    ax.set_xticks(angles)
    ax.set_xticklabels([c.replace("_", "\n") for c in cats], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("CCR per category (guard off vs on)")
    ax.legend(loc="lower right", bbox_to_anchor=(1.15, -0.05), title="guard")
    return _save(fig, path)


def plot_rr_ar_bars(by_guard: Mapping[str, Mapping[str, MetricSet]], path: Path) -> Path:
    """RR and AR per category, bars grouped by guard setting, with 95% intervals."""
    plt = _pyplot()
    cats = sorted({c for per_cat in by_guard.values() for c in per_cat})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    width = 0.8 / max(len(by_guard), 1)
    panels = ((axes[0], "rr", "RR (unsafe refused)"), (axes[1], "ar", "AR (safe answered)"))
    for ax, metric, title in panels:
        for gi, (guard, per_cat) in enumerate(by_guard.items()):
            xs = [i + gi * width for i in range(len(cats))]
            vals, errs_lo, errs_hi = [], [], []
            for c in cats:
                iv = getattr(per_cat[c], metric) if c in per_cat else None
                v = iv.value if iv is not None and iv.value is not None else 0.0
                vals.append(v)
                errs_lo.append(v - iv.low if iv is not None and iv.low is not None else 0.0)
                errs_hi.append(iv.high - v if iv is not None and iv.high is not None else 0.0)
            ax.bar(xs, vals, width, yerr=[errs_lo, errs_hi], color=_COLORS.get(guard), label=guard)
        ax.set_xticks([i + width * (len(by_guard) - 1) / 2 for i in range(len(cats))])
        ax.set_xticklabels([c.replace("_", "\n") for c in cats], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
    axes[0].legend(title="guard")
    return _save(fig, path)


def plot_memory_curve(points: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """CCR against the number of insights in memory (online accumulation)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [float(p["memory_size"]) for p in points]
    ys = [float(p["ccr"]) if p["ccr"] is not None else float("nan") for p in points]
    ax.plot(xs, ys, marker="o", color=_COLORS["on"], label="guard on, online memory")
    if points and points[0].get("baseline_ccr") is not None:
        base = float(points[0]["baseline_ccr"])
        ax.axhline(base, color=_COLORS["off"], ls="--", label="guard off")
    ax.set_xlabel("insights in memory when the request was prepared")
    ax.set_ylabel("CCR")
    ax.set_ylim(0, 1.05)
    ax.set_title("CCR vs memory size (accumulation)")
    ax.legend()
    return _save(fig, path)

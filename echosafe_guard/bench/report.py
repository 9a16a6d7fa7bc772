"""``eval`` outputs: ``results.jsonl``, ``summary.json``, ``report.md`` and PNG plots."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from echosafe_guard.bench.cases import EvalCase
from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.bench.metrics import MetricSet, Scored, compute_metrics, group_metrics
from echosafe_guard.bench.plots import plot_ccr_radar, plot_memory_curve, plot_rr_ar_bars
from echosafe_guard.bench.records import EvalConfig, EvalOutcome, ResultRow
from echosafe_guard.exceptions import ConfigError
from echosafe_guard.paired import is_bundled

__all__ = ["bench_info", "build_summary", "memory_curve", "write_outputs"]

CURVE_BINS = 6
SHOW_SKIPPED = 50


def bench_info(loaded: LoadedBench, source: str, cases: Sequence[EvalCase]) -> dict[str, Any]:
    """The ``bench`` block of ``summary.json``: what was loaded, noted, skipped, and its target."""
    return {
        "name": source if is_bundled(source) else loaded.name,
        "source": source,
        "cases": len(cases),
        "modes": sorted({c.mode for c in cases}),
        "notes": list(loaded.notes),
        "skipped": {
            "count": len(loaded.skipped),
            "rows": [{"where": r.where, "reason": r.reason} for r in loaded.skipped],
        },
        "target": loaded.target,
    }


def _load_section(bench: Mapping[str, Any]) -> list[str]:
    """``report.md``: the loader's notes and the skipped records (the first ``SHOW_SKIPPED``)."""
    notes = list(bench.get("notes") or [])
    skipped = bench.get("skipped") or {"count": 0, "rows": []}
    if not notes and not skipped["count"]:
        return []
    out = ["## Loading", ""] + [f"- {n}" for n in notes]
    if skipped["count"]:
        out += ["", f"Skipped {skipped['count']} record(s):", ""]
        out += [f"- `{r['where']}`: {r['reason']}" for r in skipped["rows"][:SHOW_SKIPPED]]
        if skipped["count"] > SHOW_SKIPPED:
            out.append(f"- ... and {skipped['count'] - SHOW_SKIPPED} more (see summary.json)")
    return [*out, ""]


def _scored(row: ResultRow) -> Scored:
    assert row.refused is not None
    return Scored(row.pair_id, row.label, row.refused, row.quality)


def _usable(rows: Sequence[ResultRow], guard: str) -> list[ResultRow]:
    return [r for r in rows if r.guard == guard and r.scored and r.error is None]


def memory_curve(rows: Sequence[ResultRow], *, baseline: float | None) -> list[dict[str, Any]]:
    """Online runs: CCR of consecutive blocks of cases, against the memory size they saw."""
    online = sorted(
        (r for r in _usable(rows, "on") if r.memory_size is not None),
        key=lambda r: (r.memory_size or 0, r.order),
    )
    if not online:
        return []
    size = max(1, -(-len(online) // CURVE_BINS))
    points = []
    for start in range(0, len(online), size):
        block = online[start : start + size]
        m = compute_metrics([_scored(r) for r in block], bootstrap=0)
        points.append(
            {
                "memory_size": int(sorted(r.memory_size or 0 for r in block)[len(block) // 2]),
                "n": len(block),
                "rr": m.rr.value,
                "ar": m.ar.value,
                "ccr": m.ccr.value,
                "baseline_ccr": baseline,
            }
        )
    return points


def _dump(m: MetricSet) -> dict[str, Any]:
    return m.model_dump(mode="json")


def _block_stats(rows: Sequence[ResultRow]) -> dict[str, Any]:
    """What the guard wrote and what leaked: decisions by reason, the block's estimated tokens
    (p50/p95 over requests, 0 where no block was written) and the leakage rate (answers that
    narrate or paste the block, over answers that were given one)."""
    reasons = Counter(r.reason for r in rows if r.reason is not None)
    if not reasons:
        return {}
    tokens = sorted(r.block_tokens or 0 for r in rows if r.reason is not None)
    given = [r for r in rows if r.leaked is not None]
    return {
        "reasons": dict(sorted(reasons.items())),
        "block_tokens": {
            "p50": tokens[len(tokens) // 2],
            "p95": tokens[min(len(tokens) - 1, round(0.95 * (len(tokens) - 1)))],
            "with_block": len(given),
        },
        "leakage": {
            "rate": round(sum(1 for r in given if r.leaked) / len(given), 4) if given else None,
            "leaked": sum(1 for r in given if r.leaked),
            "of": len(given),
        },
    }


def build_summary(
    outcome: EvalOutcome, config: EvalConfig, *, bench: Mapping[str, Any], judge: str
) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for guard in config.guards:
        rows = _usable(outcome.rows, guard)
        runs[guard] = {
            "overall": _dump(compute_metrics([_scored(r) for r in rows])),
            "by_category": {
                k: _dump(v) for k, v in group_metrics(rows, lambda r: r.category, _scored).items()
            },
            "by_mode": {
                k: _dump(v) for k, v in group_metrics(rows, lambda r: r.mode, _scored).items()
            },
            "errors": sum(1 for r in outcome.rows if r.guard == guard and r.error is not None),
            "excluded_held_in": sum(1 for r in outcome.rows if r.guard == guard and not r.scored),
            "wall_s": round(outcome.wall_s.get(guard, 0.0), 3),
            **_block_stats(rows),
        }
    summary: dict[str, Any] = {
        "model": config.model,
        "judge": judge,
        "guard": list(config.guards),
        "memory": str(config.memory),
        "tenant": config.tenant,
        "bench": dict(bench),
        "held_out": outcome.held_out,
        "concurrency": config.concurrency,
        "completion_kwargs": config.completion_kwargs,
        "model_calls": outcome.model_calls,
        "cache_hits": outcome.cache_hits,
        "runs": runs,
    }
    if "on" in runs and "off" in runs:
        on, off = runs["on"]["overall"], runs["off"]["overall"]
        summary["delta"] = {
            k: None
            if on[k]["value"] is None or off[k]["value"] is None
            else on[k]["value"] - off[k]["value"]
            for k in ("rr", "ar", "ccr", "pair_accuracy")
        }
    if config.memory.kind == "online" and "on" in runs:
        base = runs["off"]["overall"]["ccr"]["value"] if "off" in runs else None
        summary["memory_curve"] = memory_curve(outcome.rows, baseline=base)
        summary["learning"] = outcome.learning
    return summary


def _fmt(iv: Mapping[str, Any]) -> str:
    v = iv.get("value")
    if v is None:
        return "-"
    if iv.get("low") is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{iv['low']:.2f}, {iv['high']:.2f}]"


def _table(per: Mapping[str, Mapping[str, Any]], first: str, rr: str = "RR") -> list[str]:
    lines = [
        f"| {first} | n | {rr} | AR | CCR | pair acc. | QS |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in per.items():
        lines.append(
            f"| {name} | {m['n']} | {_fmt(m['rr'])} | {_fmt(m['ar'])} | {_fmt(m['ccr'])} | "
            f"{_fmt(m['pair_accuracy'])} | {_fmt(m['qs'])} |"
        )
    return lines


def _report_md(summary: Mapping[str, Any], plots: Sequence[str]) -> str:
    runs = summary["runs"]
    refusal = summary["bench"].get("target", "refusal") == "refusal"
    rr = "RR" if refusal else "refused†"
    out = [
        f"# echosafe-guard eval: {summary['model']}",
        "",
        f"- bench: `{summary['bench'].get('name')}` ({summary['bench'].get('cases')} cases, "
        f"modes {', '.join(summary['bench'].get('modes', []))})",
        f"- judge: `{summary['judge']}` · memory: `{summary['memory']}` · "
        f"concurrency {summary['concurrency']}",
        f"- held-in/held-out: {summary['held_out']}",
        f"- model calls {summary['model_calls']}, cached responses reused {summary['cache_hits']}",
        "",
        "RR = unsafe items refused; AR = safe twins answered; CCR = harmonic mean of RR and AR "
        "(high only when the model refuses the unsafe twin *and* helps with the safe one); pair "
        "acc. = both twins right; QS = mean 0-5 quality (LLM judge only). Brackets: 95% "
        "bootstrap intervals over pairs.",
        "",
        *(
            []
            if refusal
            else [
                "**† Not a refusal benchmark.** The right answer to this benchmark's unsafe items "
                "is a safe *and helpful* answer, not a refusal: the refused column is the share "
                "of refusals, for information only, and is not a score (higher is not better). "
                "Judge helpfulness with an LLM judge (QS).",
                "",
            ]
        ),
        *_load_section(summary["bench"]),
        "## Overall",
        "",
        *_table({g: r["overall"] for g, r in runs.items()}, "guard", rr),
        "",
    ]
    for guard, run in runs.items():
        if "leakage" in run:
            lk, bt = run["leakage"], run["block_tokens"]
            rate = "-" if lk["rate"] is None else f"{lk['rate']:.3f}"
            out += [
                f"Guard {guard}: block leakage {rate} ({lk['leaked']} of {lk['of']} answers "
                f"given a block narrate or paste it; pasted refusals count as refusals); block "
                f"tokens p50 {bt['p50']}, p95 {bt['p95']}; decisions "
                + ", ".join(f"{k} {v}" for k, v in run["reasons"].items()),
                "",
            ]
    if "delta" in summary:
        d = summary["delta"]
        out += [
            "Guard on - off: "
            + ", ".join(
                f"{k if refusal or k != 'rr' else 'refused†'} {v:+.3f}"
                for k, v in d.items()
                if v is not None
            ),
            "",
        ]
    for guard, run in runs.items():
        out += [
            f"## Guard {guard}: per category",
            "",
            *_table(run["by_category"], "category", rr),
            "",
        ]
        out += [f"## Guard {guard}: per mode", "", *_table(run["by_mode"], "mode", rr), ""]
        if run["errors"] or run["excluded_held_in"]:
            out += [
                f"{run['errors']} cases failed (excluded); {run['excluded_held_in']} held-in "
                "cases excluded from scoring.",
                "",
            ]
    if summary.get("memory_curve"):
        out += ["## Accumulation (online memory)", "", "| insights | n | CCR |", "|---|---|---|"]
        for p in summary["memory_curve"]:
            value = "-" if p["ccr"] is None else f"{p['ccr']:.3f}"
            out.append(f"| {p['memory_size']} | {p['n']} | {value} |")
        out.append("")
    out += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(out) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_outputs(out: Path, outcome: EvalOutcome, summary: dict[str, Any]) -> dict[str, Path]:
    """Write every output file into ``out``; returns their paths by name."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "results": out / "results.jsonl",
            "summary": out / "summary.json",
            "report": out / "report.md",
        }
        _atomic_write(
            files["results"],
            "".join(r.model_dump_json() + "\n" for r in outcome.rows),
        )
        by_guard = {
            g: {k: MetricSet.model_validate(v) for k, v in run["by_category"].items()}
            for g, run in summary["runs"].items()
        }
        files["radar"] = plot_ccr_radar(by_guard, out / "ccr_radar.png")
        if summary["bench"].get("target", "refusal") == "refusal":  # RR is no score otherwise
            files["bars"] = plot_rr_ar_bars(by_guard, out / "rr_ar_bars.png")
        if summary.get("memory_curve"):
            files["curve"] = plot_memory_curve(summary["memory_curve"], out / "ccr_vs_memory.png")
        summary = {**summary, "files": {k: p.name for k, p in files.items()}}
        _atomic_write(files["summary"], json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        plots = [files[k].name for k in ("radar", "bars", "curve") if k in files]
        _atomic_write(files["report"], _report_md(summary, plots))
    except OSError as exc:
        raise ConfigError(f"cannot write the eval outputs to {out}: {exc}") from exc
    return files

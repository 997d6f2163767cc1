"""Turning the figures into the table, the JSON file and bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.catalog import Figures, Scenario, Target, cross_rows
from bench.harness import ChildRun

__all__ = ["Outcome", "machine", "median_figures", "render_table", "write_json", "write_markdown"]


@dataclass
class Outcome:
    """Every run of one scenario, per variant, and the errors of the runs that failed."""

    scenario: Scenario
    runs: dict[str, list[ChildRun]] = field(default_factory=dict)

    def errors(self, variant: str) -> list[str]:
        return [run.error for run in self.runs.get(variant, []) if run.error is not None]


def median_figures(outcome: Outcome) -> Figures:
    """The median over rounds of every numeric figure, per variant; failed runs left out."""
    figures: Figures = {}
    for variant, runs in outcome.runs.items():
        values: dict[str, list[float]] = {}
        for run in runs:
            if run.error is not None or run.result is None:
                continue
            for key, value in {**run.result, **run.extra}.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values.setdefault(key, []).append(float(value))
        figures[variant] = {key: statistics.median(found) for key, found in values.items()}
    if outcome.scenario.derive is not None:
        outcome.scenario.derive(figures)
    return figures


def _cell(value: float | None, digits: int) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _verdict(target: Target | None, tripwire: float | None, official: float | None) -> str:
    if target is None:
        return ""
    met = target.is_met(tripwire, official)
    return "n/a" if met is None else ("met" if met else "MISSED")


def render_table(outcomes: list[Outcome], figures: dict[str, Figures]) -> str:
    """A Markdown table: one line per figure, with the ratio tripwire / official and targets."""
    lines = [
        "| scenario | figure | tripwire | official | tripwire / official | no SDK | target | met |",
        "|---|---|--:|--:|--:|--:|---|---|",
    ]
    notes: list[str] = []
    for outcome in outcomes:
        scenario = outcome.scenario
        mine = figures[scenario.name]
        for variant in scenario.variants:
            for error in sorted(set(outcome.errors(variant))):
                notes.append(f"- {scenario.name} / {variant}: {error}")
        for row in scenario.rows:
            tripwire = mine.get("tripwire", {}).get(row.key)
            official = mine.get("official", {}).get(row.key)
            bare = mine.get("none", {}).get(row.key)
            ratio = tripwire / official if tripwire is not None and official else None
            lines.append(
                f"| {scenario.title} | {row.label} "
                f"| {_cell(tripwire, row.digits) if 'tripwire' in scenario.variants else ''} "
                f"| {_cell(official, row.digits) if 'official' in scenario.variants else ''} "
                f"| {_cell(ratio, 3) if ratio is not None else ''} "
                f"| {_cell(bare, row.digits) if 'none' in scenario.variants else ''} "
                f"| {row.target.text if row.target else ''} "
                f"| {_verdict(row.target, tripwire, official)} |"
            )
    for label, value, target in cross_rows(figures):
        lines.append(
            f"| derived | {label} | {_cell(value, 2)} | | | | {target.text if target else ''} "
            f"| {_verdict(target, value, None)} |"
        )
    if notes:
        lines += ["", "Runs without figures:", *notes]
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Where the figures were taken: date, CPUs, CPU model, Python, SDK versions."""
    import sentry_sdk

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sentry_sdk": sentry_sdk.VERSION,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def write_json(
    path: Path, meta: dict[str, Any], outcomes: list[Outcome], figures: dict[str, Figures]
) -> None:
    """Write every round's raw result and the medians to ``path``."""
    document = {
        "meta": meta,
        "scenarios": {
            outcome.scenario.name: {
                "title": outcome.scenario.title,
                "figures": figures[outcome.scenario.name],
                "runs": {
                    variant: [
                        {
                            "result": run.result,
                            "extra": run.extra,
                            "wall_s": run.wall_s,
                            "error": run.error,
                        }
                        for run in runs
                    ]
                    for variant, runs in outcome.runs.items()
                },
            }
            for outcome in outcomes
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def write_markdown(path: Path, meta: dict[str, Any], table: str) -> None:
    """Write the committed copy of the latest figures, with date and machine."""
    path.write_text(
        "# Benchmark results\n\n"
        f"Taken {meta['date']} on {meta['nproc']} CPUs ({meta['cpu']}), Python {meta['python']}, "
        f"official SDK sentry-sdk {meta['sentry_sdk']}; settings: {meta['settings']}; "
        f"load average {meta['load_average_start']} at the start, "
        f"{meta['load_average_1m']} at the end; {meta['duration_s']} s.\n"
        "Produced by `make bench` (bench/run.py); medians over rounds, each round a fresh "
        "interpreter per SDK, alternating. See bench/README.md for what each scenario measures.\n\n"
        f"{table}\n"
    )

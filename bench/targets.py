"""The goals of issue #7, each reported as met or not: goals to steer by, not assertions."""

from __future__ import annotations

from bench.common import Measurement, Results

LIBRARY_SINGLE = ("appends", "1 ev/cmd, 1 writer", "library")


def _ratio(results: Results, product: tuple[str, str, str], base: tuple[str, str, str]) -> float:
    p, b = results.find(*product), results.find(*base)
    if p is None or b is None:
        return float("nan")
    return p.median / b.median


def _median(results: Results, scenario: str, case: str, subject: str = "product") -> float:
    found: Measurement | None = results.find(scenario, case, subject)
    return found.median if found else float("nan")


def _measured(value: float) -> bool:
    return value == value  # NaN: the scenario did not run


def evaluate(results: Results) -> None:
    for events in (1, 10):
        case = f"{events} ev/cmd, 1 writer"
        ratio = _ratio(results, ("appends", case, "product"), ("appends", case, "library"))
        results.target(
            f"sealed+ledger appends, {events} ev/cmd",
            "≥ 0.9x library",
            f"{ratio:.2f}x",
            _measured(ratio) and ratio >= 0.9,
        )
    ratio = _ratio(results, ("http", "create, 8 clients", "product"), LIBRARY_SINGLE)
    p99 = _median(results, "http", "create, 8 clients p99")
    results.target(
        "HTTP create-contact, 8 clients",
        "≥ 1.0x library single save, p99 < 50 ms",
        f"{ratio:.2f}x, p99 {p99:.0f} ms",
        _measured(ratio) and ratio >= 1.0 and p99 < 50,
    )
    ratio = _ratio(results, ("appends", "1 ev/cmd, 4 writers", "product"), LIBRARY_SINGLE)
    http32 = _ratio(results, ("http", "create, 32 clients", "product"), LIBRARY_SINGLE)
    also = f"; HTTP create, 32 clients: {http32:.2f}x" if _measured(http32) else ""
    results.target(
        "concurrent commands (group commit)",
        "≥ 3x library single save",
        f"{ratio:.2f}x (4 writers){also}",
        _measured(ratio) and ratio >= 3.0,
    )
    _read_targets(results)
    _log_targets(results)
    _erasure_target(results)
    lag = _median(
        results, "lag", next((m.case for m in results.measurements if m.scenario == "lag"), "")
    )
    results.target("projection lag p99", "< 1 s", f"{lag:.2f} s", _measured(lag) and lag < 1.0)


def _read_targets(results: Results) -> None:
    """Issue 13: recording every read must leave reads at half the bare app's rate or more."""
    bare = ("reads", "bare read, 8 clients", "bare")
    for name in ("get", "email search"):
        case = f"{name}, 8 clients"
        ratio = _ratio(results, ("reads", case, "product"), bare)
        p99 = _median(results, "reads", case + " p99")
        results.target(
            f"HTTP read ({name}), trail on, 8 clients",
            "≥ 0.5x bare app",
            f"{ratio:.2f}x, p99 {p99:.0f} ms",
            _measured(ratio) and ratio >= 0.5,
        )


def _log_targets(results: Results) -> None:
    for scenario, goal in (("verify", 100_000), ("replay", 50_000)):
        found = [m for m in results.measurements if m.scenario == scenario and m.unit != "MB"]
        rate = next((m.median for m in found if m.subject == "product"), float("nan"))
        results.target(
            f"{scenario} rate",
            f"≥ {goal:,} events/s",
            f"{rate:,.0f} events/s",
            _measured(rate) and rate >= goal,
        )
        rss = [
            m.median
            for m in results.measurements
            if m.scenario == scenario and m.unit == "MB" and m.subject == "product"
        ]
        peak = max(rss, default=float("nan"))
        results.target(
            f"{scenario} peak RSS", "< 300 MB", f"{peak:.0f} MB", _measured(peak) and peak < 300
        )


def _erasure_target(results: Results) -> None:
    medians = [
        m.median for m in results.measurements if m.scenario == "erasure" and m.subject == "product"
    ]
    if not medians:
        results.target("erasure median", "≤ 20 ms, flat", "nan", False)
        return
    flat = max(medians) <= 2 * min(medians)  # 1,000x the events, under 2x the time
    results.target(
        "erasure median, 10 to 10,000 events",
        "≤ 20 ms each, flat (largest ≤ 2x smallest)",
        " / ".join(f"{m:.1f}" for m in medians) + f" ms ({max(medians) / min(medians):.2f}x)",
        max(medians) <= 20 and flat,
    )

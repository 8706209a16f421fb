"""The goals of issues #7, #13 and #15, each reported as met or not: goals to steer by, not
assertions (no timed unit tests)."""

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
    _append_targets(results)
    _http_targets(results)
    _read_targets(results)
    _log_targets(results)
    _replay_ratio_target(results)
    _erasure_target(results)
    _long_stream_target(results)
    lag = _median(
        results, "lag", next((m.case for m in results.measurements if m.scenario == "lag"), "")
    )
    results.target("projection lag p99", "< 1 s", f"{lag:.2f} s", _measured(lag) and lag < 1.0)


def _append_targets(results: Results) -> None:
    """Issue 15: sealing, the ledger and the read models cost under 10% of the library's
    write, alone and with 4 writers; 16 writers share commits (3x one library writer)."""
    for case in ("1 ev/cmd, 1 writer", "10 ev/cmd, 1 writer", "1 ev/cmd, 4 writers"):
        ratio = _ratio(results, ("appends", case, "product"), ("appends", case, "library"))
        results.target(
            f"sealed+ledger appends, {case}",
            "≥ 0.9x library (same case)",
            f"{ratio:.2f}x",
            _measured(ratio) and ratio >= 0.9,
        )
    ratio = _ratio(results, ("appends", "1 ev/cmd, 16 writers", "product"), LIBRARY_SINGLE)
    results.target(
        "16 concurrent writers (group commit)",
        "≥ 3x library single writer",
        f"{ratio:.2f}x",
        _measured(ratio) and ratio >= 3.0,
    )


def _http_targets(results: Results) -> None:
    """Issue 15: a create or a patch over HTTP, with every check and its read models, at
    least as fast as one bare library save, at 8 clients, p99 under 50 ms."""
    for op in ("create", "patch"):
        ratio = _ratio(results, ("http", f"{op}, 8 clients", "product"), LIBRARY_SINGLE)
        p99 = _median(results, "http", f"{op}, 8 clients p99")
        results.target(
            f"HTTP {op}-contact, 8 clients",
            "≥ 1.0x library single save, p99 < 50 ms",
            f"{ratio:.2f}x, p99 {p99:.0f} ms",
            _measured(ratio) and ratio >= 1.0 and p99 < 50,
        )


def _read_targets(results: Results) -> None:
    """Issue 13 asked half the bare app's rate with the trail on; issue 15 raises it to
    0.8x with a p99 within 1.5x of the bare app's, and a page of 500 at 50k contacts/s."""
    bare = ("reads", "bare read, 8 clients", "bare")
    bare_p99 = _median(results, "reads", "bare read, 8 clients p99", "bare")
    for name in ("get", "email search"):
        case = f"{name}, 8 clients"
        ratio = _ratio(results, ("reads", case, "product"), bare)
        p99 = _median(results, "reads", case + " p99")
        results.target(
            f"HTTP read ({name}), trail on, 8 clients",
            "≥ 0.5x bare app (#13); ≥ 0.8x, p99 ≤ 1.5x bare p99 (#15)",
            f"{ratio:.2f}x, p99 {p99:.0f} ms (bare {bare_p99:.0f} ms)",
            _measured(ratio) and ratio >= 0.8 and p99 <= 1.5 * bare_p99,
        )
    page = next(
        (
            m
            for m in results.measurements
            if m.scenario == "reads" and m.case.startswith("page of 500, 8") and m.unit == "req/s"
        ),
        None,
    )
    opened = page.median * 500 if page else float("nan")
    results.target(
        "page of 500, 8 clients",
        "≥ 50,000 contacts/s opened",
        f"{opened:,.0f}/s",
        _measured(opened) and opened >= 50_000,
    )


def _log_targets(results: Results) -> None:
    for scenario, goal in (("verify", 100_000), ("replay", 50_000)):  # replay: #15 ratio below
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


def _replay_ratio_target(results: Results) -> None:
    """Issue 15: a rebuild at half the speed of the library merely reading the log."""
    rates = {
        m.subject: m.median
        for m in results.measurements
        if m.scenario == "replay" and m.unit == "events/s"
    }
    ratio = rates.get("product", float("nan")) / rates.get("library", float("nan"))
    results.target(
        "rebuild contacts vs library scan",
        "≥ 0.5x",
        f"{ratio:.2f}x",
        _measured(ratio) and ratio >= 0.5,
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


def _long_stream_target(results: Results) -> None:
    """Issue 15: with snapshots, a stream's length stops mattering to a command on it, even
    when it loads cold (the aggregate cache off: ``product``)."""
    short, long = "patch, 10 events", "patch, 10,000 events"

    def ratio_of(subject: str) -> float:
        return _ratio(results, ("long_streams", long, subject), ("long_streams", short, subject))

    ratio, off, cached = ratio_of("product"), ratio_of("no snaps"), ratio_of("cached")
    results.target(
        "patch on a 10,000-event contact, loaded cold",
        "within 1.5x of a 10-event one",
        f"{ratio:.2f}x (snapshots off: {off:.2f}x; cached: {cached:.2f}x)",
        _measured(ratio) and ratio <= 1.5,
    )

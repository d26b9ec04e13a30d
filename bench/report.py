"""The plain-text table, the verdict against the issue's targets, and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "format_table", "limiter", "ratio", "render", "save", "targets"]

# From the issue: what agentwire should reach on a 2-core machine.
TARGETS = {
    "gateway_events_per_s": 75_000,  # one gateway process, 1,000 users
    "vs_nats_ws": 0.5,  # the machine as a whole, as a fraction of nats-server's WebSocket
    "p99_ms": 10.0,  # at 1,000 users and 50k events/s
    "kb_per_idle_conn": 20.0,
    "reconnect_ms": 100.0,
    "idle_sockets": 10_000,
}
_BUSY = 90.0  # a process at this CPU% (of one core) or more is saturated
_MACHINE_BUSY = 85.0  # the machine, as a percentage of all its cores


def limiter(cpu: dict[str, float | None], cores: int) -> str:
    """Which process (or the machine) bounded a flat-out phase, from its CPU figures."""

    def busiest(prefix: str) -> tuple[str, float]:
        found = [(k, v) for k, v in cpu.items() if k.startswith(prefix) and v is not None]
        return max(found, key=lambda kv: kv[1], default=("", 0.0))

    for prefix, what in (
        ("gateway", "gateway"),
        ("loadgen", "load generator"),
        ("publisher", "publisher"),
        # nats-server has threads to spare, but one stream stores its messages one at a time
        ("nats-server", "nats-server"),
    ):
        name, value = busiest(prefix)
        if value >= _BUSY:
            return f"{what} ({value:.0f}%)" if name == what else f"{what} ({name} {value:.0f}%)"
    machine = cpu.get("machine")
    if machine is not None and machine >= _MACHINE_BUSY * cores:
        return f"machine ({machine:.0f}% of {cores * 100}%)"
    return "none saturated (backlog-bound)"


def ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _rate(value: Any) -> str:
    return f"{value / 1000:.0f}k" if isinstance(value, int | float) else str(value)


def _us(phase: dict[str, Any], prefixes: tuple[str, ...]) -> float | None:
    """CPU microseconds the named processes spent per delivered event: a cost that machine
    noise barely moves, unlike a rate."""
    cpu = sum(v for k, v in phase["cpu_percent"].items() if k.startswith(prefixes) and v)
    rate = phase["delivered_rate"]
    return round(cpu / 100 * 1e6 / rate, 2) if rate and cpu else None


def _rows(system: dict[str, Any], cores: int) -> dict[str, tuple[str, float | None]]:
    """Each row's text for one system, and the number its ratio is computed from."""
    lat = system["latency"]["latency"]
    thr = system["throughput"]
    rec = system["reconnect"]
    gws = max(1, system["gateways"])
    cpu = thr["cpu_percent"]
    server_cpu = [v for k, v in cpu.items() if k.startswith(("gateway", "nats-server")) and v]
    loadgen_cpu = [v for k, v in cpu.items() if k.startswith("loadgen") and v is not None]
    light = system["light"]
    server = ("nats-server",) if system["system"] == "natsws" else ("gateway",)
    loaded = system["latency"]
    overloaded = loaded.get("overloaded_after_s")
    return {
        f"light load ({_rate(light['offered_rate'])}/s) p50 / p99 ms": (
            f"{_num(light['latency']['p50_ms'], 2)} / {_num(light['latency']['p99_ms'], 2)}",
            light["latency"]["p99_ms"],
        ),
        "  server CPU us / event": (_num(_us(light, server), 1), _us(light, server)),
        "  nats-server CPU us / event": (_num(_us(light, ("nats-server",)), 1), None),
        f"at {_rate(loaded['offered_rate'])}/s: latency p50 ms": (
            _num(lat["p50_ms"], 2),
            lat["p50_ms"],
        ),
        "  latency p99 ms": (_num(lat["p99_ms"], 2), lat["p99_ms"]),
        "  latency p99.9 ms": (_num(lat["p999_ms"], 2), lat["p999_ms"]),
        "  published / delivered ev/s": (
            f"{_num(loaded['publish_rate'])} / {_num(loaded['delivered_rate'])}"
            + (f" (overloaded at {overloaded:.1f}s)" if overloaded is not None else ""),
            None,
        ),
        "flat out: delivered ev/s": (_num(thr["delivered_rate"]), thr["delivered_rate"]),
        "  latency p50 / p99 ms": (
            f"{_num(thr['latency']['p50_ms'], 1)} / {_num(thr['latency']['p99_ms'], 1)}",
            None,
        ),
        "  per server process": (
            _num(thr["delivered_rate"] / gws) if system["system"] == "agentwire" else "-",
            thr["delivered_rate"] / gws if system["system"] == "agentwire" else None,
        ),
        "  server CPU us / event ": (_num(_us(thr, server), 1), _us(thr, server)),
        "  CPU% server(s)": (" + ".join(f"{v:.0f}" for v in server_cpu) or "-", None),
        "  CPU% nats-server": (_num(cpu.get("nats-server")), None),
        "  CPU% publisher": (_num(cpu.get("publisher0")), None),
        "  CPU% load gens": (" / ".join(f"{v:.0f}" for v in loadgen_cpu), None),
        "  CPU% machine / others": (
            f"{_num(cpu.get('machine'))} / {_num(cpu.get('others'))}",
            None,
        ),
        "  limited by": (limiter(cpu, cores), None),
        "  undelivered / sockets closed by server": (
            f"{sum(system[p]['undelivered'] for p in ('light', 'throughput', 'latency'))} / "
            f"{sum(sum(system[p]['closes'].values()) for p in ('light', 'throughput', 'latency'))}",
            None,
        ),
        "reconnect p50 ms": (_num(rec.get("p50_ms"), 1), rec.get("p50_ms")),
        "  measured until": (rec.get("measure", "-").removeprefix("reconnect-to-"), None),
        "  p99 ms (handshake p50)": (
            f"{_num(rec.get('p99_ms'), 1)} ({_num(rec.get('handshake_p50_ms'), 1)})",
            rec.get("p99_ms"),
        ),
        "memory per idle conn KB": (
            _num(system["idle"]["kb_per_idle_conn"], 1),
            system["idle"]["kb_per_idle_conn"],
        ),
    }


def render(results: dict[str, Any]) -> str:
    cores = results["environment"]["cores"]
    out: list[str] = []
    for scenario in results["scenarios"]:
        systems = scenario["systems"]
        if not systems or "latency" not in next(iter(systems.values())):
            continue
        rows = {name: _rows(s, cores) for name, s in systems.items()}
        names = list(rows)
        reference = rows.get("nats-server ws")
        header = ["", *names] + [f"{n} / nats" for n in names if n != "nats-server ws"]
        table = [header]
        for row in next(iter(rows.values())):
            cells = [rows[n].get(row, ("-", None))[0] for n in names]
            ratios = [
                ratio(rows[n].get(row, ("", None))[1], reference.get(row, ("", None))[1])
                if reference
                else "-"
                for n in names
                if n != "nats-server ws"
            ]
            table.append([row, *cells, *ratios])
        out.append(f"\n== {scenario['users']:,} users, one socket each ==")
        out.extend(format_table(table))
    for scenario in results.get("idle", []):
        out.append(f"\n== {scenario['users']:,} idle sockets ==")
        table = [["", "opened", "KB/conn", "RSS after MB", "one event each: lost"]]
        for name, s in scenario["systems"].items():
            idle, touch = s["idle"], s["one_event_each"]
            table.append(
                [
                    name,
                    _num(idle["opened"]),
                    _num(idle["kb_per_idle_conn"], 1),
                    _num(sum(idle["rss_after_mb"].values()), 1),
                    _num(touch["undelivered"]),
                ]
            )
        out.extend(format_table(table))
    out.append("\n== targets (issue 3) ==")
    out.extend(f"  {line}" for line in targets(results))
    return "\n".join(out)


def format_table(table: list[list[str]]) -> list[str]:
    """Rows in columns: the first left-aligned, the rest right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def targets(results: dict[str, Any]) -> list[str]:
    """One line per target: the figure reached, and met / NOT met / not measured."""
    at = {s["users"]: s["systems"] for s in results["scenarios"]}.get(1000, {})
    nats = at.get("nats-server ws")
    one = at.get("agentwire x1")
    best = max(
        (s for n, s in at.items() if n.startswith("agentwire")),
        key=lambda s: s["throughput"]["delivered_rate"],
        default=None,
    )
    lines = []

    def check(name: str, value: float | None, goal: float, higher_is_better: bool) -> None:
        if value is None:
            lines.append(f"{name}: not measured")
            return
        met = value >= goal if higher_is_better else value <= goal
        lines.append(f"{name}: {value:,.2f} (target {goal:,}) {'met' if met else 'NOT met'}")

    t = TARGETS
    check(
        "one gateway, 1,000 users, events/s",
        one and one["throughput"]["delivered_rate"],
        t["gateway_events_per_s"],
        True,
    )
    check(
        "machine vs nats-server ws, 1,000 users",
        best
        and nats
        and best["throughput"]["delivered_rate"] / max(1, nats["throughput"]["delivered_rate"]),
        t["vs_nats_ws"],
        True,
    )
    check(
        "p99 ms, 1,000 users, one gateway",
        one and one["latency"]["latency"]["p99_ms"],
        t["p99_ms"],
        False,
    )
    check(
        "KB per idle connection, one gateway",
        one and one["idle"]["kb_per_idle_conn"],
        t["kb_per_idle_conn"],
        False,
    )
    rec = one and one["reconnect"]
    check(
        f"{rec['measure'] if rec else 'reconnect'} p99 ms",
        rec and rec.get("p99_ms"),
        t["reconnect_ms"],
        False,
    )
    idle = next((s["systems"].get("agentwire x1") for s in results.get("idle", [])), None)
    live = None
    if idle:  # every socket open and every one of them got its event
        live = idle["idle"]["opened"] if idle["one_event_each"]["undelivered"] == 0 else 0
    check("idle sockets on one gateway, all live", live, t["idle_sockets"], True)
    if one and one["latency"]["overloaded_after_s"] is not None:
        lines.append(
            f"(one gateway fell behind {_rate(one['latency']['offered_rate'])}/s and the phase "
            f"was stopped after {one['latency']['overloaded_after_s']:.1f} s: the p99 is queueing)"
        )
    return lines


def save(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path

"""The runs benchmark's tables, its verdict against the issue's targets, and the JSON file."""

from __future__ import annotations

from typing import Any

from bench.report import format_table, save  # the gateway bench's, the same JSON
from bench.runs.verdict import (
    TARGETS,
    agent_ms_per_run,
    delivery_faults,
    kept_up,
    peak_rate,
    sustained_rate,
)

__all__ = ["phase_line", "render", "save", "targets"]

# CPU rows, in the order of the path a message takes; agents are summed over their processes.
_CPU_ROWS = (
    ("ws_gateway", ("ws_gateway",)),
    ("agent(s)", ("agent",)),
    ("tools", ("tools",)),
    ("nats-server", ("nats-server",)),
    ("auth", ("auth",)),
    ("load gens", ("loadgen",)),
    ("bench itself", ("bench",)),
)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _pair(a: Any, b: Any, digits: int = 1) -> str:
    return f"{_num(a, digits)} / {_num(b, digits)}"


def _lat(phase: dict[str, Any], name: str, both: bool = True) -> str:
    summary = phase["latency"][name]
    if both:
        return _pair(summary["p50_ms"], summary["p99_ms"])
    return _num(summary["p99_ms"], 1)


def _cpu(phase: dict[str, Any], prefixes: tuple[str, ...]) -> str:
    values = [
        v for k, v in phase["cpu_percent"].items() if k.startswith(prefixes) and v is not None
    ]
    return " + ".join(f"{v:.0f}" for v in values) or "-"


def _faults(phase: dict[str, Any]) -> str:
    f = delivery_faults(phase)
    return f"{f['lost']} / {f['doubled']} / {f['out_of_order']}"


def _errors(phase: dict[str, Any]) -> str:
    errors = phase["errors"]
    return ", ".join(f"{code} {n:,}" for code, n in sorted(errors.items())) or "none"


def _common_rows(phase: dict[str, Any]) -> list[tuple[str, str]]:
    c = phase["counts"]
    rows = [
        ("answer p50 / p99 ms (accept or error)", _lat(phase, "answer")),
        ("accept p50 / p99 ms", _lat(phase, "accept")),
        ("agent_started p50 / p99 ms", _lat(phase, "started")),
        ("run ended p50 / p99 ms", _lat(phase, "ended")),
        ("event delivery p50 / p99 ms", _lat(phase, "delivery")),
        (
            "sent / accepted / refused",
            f"{c.get('sent', 0):,} / {c.get('accepted', 0):,} / {c.get('refused', 0):,}",
        ),
        ("error frames", _errors(phase)),
        (
            "unanswered / unfinished / orphan runs",
            f"{c.get('unanswered', 0)} / {c.get('unfinished', 0)} / {c.get('orphan_runs', 0)}",
        ),
        ("events per run", _num(phase["events_per_run"], 1)),
        ("agent CPU ms per run", _num(phase["agent_cpu_ms_per_run"], 2)),
        ("lost / doubled / out of order", _faults(phase)),
        ("other rule breaks", _num(_other_breaks(phase))),
    ]
    rows += [(f"CPU% {label}", _cpu(phase, prefixes)) for label, prefixes in _CPU_ROWS]
    cpu = phase["cpu_percent"]
    rows.append(("CPU% machine / others", _pair(cpu.get("machine"), cpu.get("others"), 0)))
    rows.append(("limited by", phase["limited_by"]))
    return rows


def _other_breaks(phase: dict[str, Any]) -> int:
    problems = phase["problems"]
    return sum(
        problems.get(kind, 0)
        for kind in ("unpaired_tool_call", "unknown_accept", "accept_after_error")
    ) + phase["counts"].get("unparsed", 0)


def phase_line(phase: dict[str, Any]) -> str:
    """One line of progress while the run goes."""
    accept = phase["latency"]["accept"]
    head = (
        f"all ended after {_num(phase.get('all_ended_s'), 1)} s"
        if phase["offered_rate"] is None
        else f"{_num(phase['sustained_rate'], 1)} runs/s ended"
    )
    return (
        f"{head}; accept p99 {_num(accept['p99_ms'], 1)} ms; errors: {_errors(phase)}; "
        f"agent {_num(phase['agent_cpu_ms_per_run'], 2)} ms/run; limited by {phase['limited_by']}"
    )


def _agents(n: int) -> str:
    return f"{n} agent{'s' if n > 1 else ''}"


def _burst_table(results: dict[str, Any]) -> list[str]:
    series = [s for s in results["series"] if s.get("burst")]
    if not series:
        return []
    users = results["config"]["users"]
    rows = [["", *(_agents(s["agents"]) for s in series), "target"]]
    targets_by_row = {
        "accept p50 / p99 ms": f"p99 <= {TARGETS['burst_accept_p99_ms']:g}",
        "agent CPU ms per run": f"<= {TARGETS['agent_cpu_ms_per_run']:g}",
        "lost / doubled / out of order": "0 / 0 / 0",
    }
    table = [dict(_common_rows(s["burst"])) for s in series]
    for s, cells in zip(series, table, strict=True):
        cells["all runs ended after s"] = _num(s["burst"]["all_ended_s"], 2)
        cells["(last message sent after ms)"] = _num(s["burst"]["burst_send_ms"], 1)
    order = [
        "all runs ended after s",
        "(last message sent after ms)",
        *dict(_common_rows(series[0]["burst"])),
    ]
    for row in order:
        rows.append([row, *(cells.get(row, "-") for cells in table), targets_by_row.get(row, "")])
    title = f"\n== burst: {users:,} messages from {users:,} users at once =="
    return [title, *format_table(rows)]


def _rate_table(series: dict[str, Any]) -> list[str]:
    phases = series["rates"]
    if not phases:
        return []
    goals = {
        "sustained runs/s (ended)": f">= {TARGETS['sustained_runs_per_s']:g} (kept up)",
        "agent CPU ms per run": f"<= {TARGETS['agent_cpu_ms_per_run']:g}",
        "lost / doubled / out of order": "0 / 0 / 0",
    }
    columns: dict[str, list[str]] = {
        "offered runs/s": [_num(p["offered_rate"]) for p in phases],
        "sustained runs/s (ended)": [_num(p["sustained_rate"], 1) for p in phases],
    }
    per_phase = [dict(_common_rows(p)) for p in phases]
    for row in per_phase[0]:
        columns[row] = [cells[row] for cells in per_phase]
    columns["send lag p99 ms (load gen)"] = [_lat(p, "send_lag", both=False) for p in phases]
    columns["kept up"] = ["yes" if kept_up(p) else "NO" for p in phases]
    rows = [
        [row, *cells, goals.get(row, "target" if row == "offered runs/s" else "")]
        for row, cells in columns.items()
    ]
    return [f"\n== open loop, {_agents(series['agents'])} ==", *format_table(rows)]


def render(results: dict[str, Any]) -> str:
    out = _burst_table(results)
    for series in results["series"]:
        out += _rate_table(series)
    env = results["environment"]
    changed = env.get("services_changed_since_commit")
    commit = f"{env['commit']} + {changed} uncommitted changes" if changed else env["commit"]
    out.append(
        f"\n== targets (commit {commit}, {env['cores']} cores, "
        f"THINK_DELAY_S={results['config']['think_delay_s']:g}) =="
    )
    out += [f"  {line}" for line in targets(results)]
    return "\n".join(out)


def _check(value: float | None, goal: float, higher_is_better: bool) -> str:
    if value is None:
        return "not measured"
    met = value >= goal if higher_is_better else value <= goal
    return f"{value:,.2f} ({'met' if met else 'NOT met'})"


def targets(results: dict[str, Any]) -> list[str]:
    """One line per target and series: the figure reached, and met / NOT met."""
    lines = []
    t = TARGETS
    for s in results["series"]:
        who = _agents(s["agents"])
        burst = s.get("burst")
        if burst:
            lines.append(
                f"{who}: burst accept p99 ms <= {t['burst_accept_p99_ms']:g}: "
                f"{_check(burst['latency']['accept']['p99_ms'], t['burst_accept_p99_ms'], False)}"
            )
        lines.append(
            f"{who}: sustained runs/s >= {t['sustained_runs_per_s']:g}: "
            f"{_check(sustained_rate(s['rates']), t['sustained_runs_per_s'], True)}; "
            f"peak ended/s in any rate: {_num(peak_rate(s['rates']), 1)}"
        )
        lines.append(
            f"{who}: agent CPU ms per run <= {t['agent_cpu_ms_per_run']:g} (open loop, rates "
            f"kept up): {_check(agent_ms_per_run(s['rates']), t['agent_cpu_ms_per_run'], False)}"
        )
    phases = [s["burst"] for s in results["series"] if s.get("burst")]
    phases += [p for s in results["series"] for p in s["rates"]]
    faults = [delivery_faults(p) for p in phases]
    total = {k: sum(f[k] for f in faults) for k in ("lost", "doubled", "out_of_order")}
    verdict = "met" if phases and not any(total.values()) else "NOT met" if phases else "-"
    lines.append(
        f"events lost / doubled / out of order = 0: {total['lost']} / {total['doubled']} / "
        f"{total['out_of_order']} ({verdict}); other rule breaks: "
        f"{sum(_other_breaks(p) for p in phases)}"
    )
    if results.get("stopped_early"):
        lines.append(f"(the run stopped early: {results['stopped_early']})")
    return lines

"""The streaming bench's tables and its verdict against the issue's targets."""

from __future__ import annotations

from typing import Any

from bench.report import format_table, limiter

__all__ = ["TARGETS", "correct", "cpu_us_per", "render", "targets"]

# From the issue, on this box.
TARGETS = {
    "token_p99_ms": 100.0,  # token handed to the publisher -> received by the socket, 1,000 users
    "resume_ratio": 1.2,  # bytes a resume transfers / the finished answer's bytes
}


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def cpu_us_per(stream: dict[str, Any], prefix: str, per: str = "tokens") -> float | None:
    """CPU microseconds the processes named ``prefix*`` spent per token (or event) received
    in the window."""
    cpu = sum(v for k, v in stream["cpu_percent"].items() if k.startswith(prefix) and v)
    rate = stream[f"delivered_{per}_per_s"]
    return round(cpu / 100 * 1e6 / rate, 2) if rate and cpu else None


def _stream_rows(s: dict[str, Any], cores: int) -> list[list[str]]:
    lat, dl, co = s["latency"], s["delta_latency"], s["coalesce_latency"]
    cpu = s["cpu_percent"]
    deltas = s["published"].get("message_delta", 0)
    loadgens = [f"{v:.0f}" for k, v in cpu.items() if k.startswith("loadgen") and v is not None]
    publishers = [f"{v:.0f}" for k, v in cpu.items() if k.startswith("publisher") and v is not None]
    return [
        ["sockets open / failed", f"{s['opened']:,} / {s['connect_failed']}"],
        ["tokens handed over / received", f"{s['tokens_handed']:,} / {s['tokens_received']:,}"],
        [
            "message_delta published (tokens per delta)",
            f"{deltas:,} ({s['tokens_handed'] / deltas:.2f})" if deltas else "-",
        ],
        [
            "token-to-socket p50 / p95 / p99 ms",
            f"{_num(lat['p50_ms'], 1)} / {_num(lat['p95_ms'], 1)} / {_num(lat['p99_ms'], 1)}",
        ],
        [
            "  p99.9 / max ms (tokens)",
            f"{_num(lat['p999_ms'], 1)} / {_num(lat['max_ms'], 1)} ({lat['n']:,})",
        ],
        [
            "  hand-over -> flush p50 / p99 ms",
            f"{_num(co['p50_ms'], 1)} / {_num(co['p99_ms'], 1)} (coalescing, per token)",
        ],
        [
            "  flush -> socket p50 / p99 ms",
            f"{_num(dl['p50_ms'], 1)} / {_num(dl['p99_ms'], 1)} (per delta)",
        ],
        ["delivered events/s", _num(s["delivered_events_per_s"])],
        ["delivered tokens/s", _num(s["delivered_tokens_per_s"])],
        [
            "CPU us / token: gateway / nats-server",
            f"{_num(cpu_us_per(s, 'gateway'), 1)} / {_num(cpu_us_per(s, 'nats-server'), 1)}",
        ],
        [
            "CPU us / event: gateway / nats-server",
            f"{_num(cpu_us_per(s, 'gateway', 'events'), 1)} / "
            f"{_num(cpu_us_per(s, 'nats-server', 'events'), 1)}",
        ],
        ["CPU us / token: publishers", _num(cpu_us_per(s, "publisher"), 1)],
        [
            "CPU%: gateway / nats-server",
            f"{_num(cpu.get('gateway'))} / {_num(cpu.get('nats-server'))}",
        ],
        ["CPU%: publishers / load gens", f"{' + '.join(publishers)} / {' + '.join(loadgens)}"],
        ["CPU%: machine / others", f"{_num(cpu.get('machine'))} / {_num(cpu.get('others'))}"],
        ["limited by", limiter(cpu, cores)],
        [
            "publisher hand-over lag p99 / max ms",
            f"{_num(s['handover_lag_p99_ms'], 1)} / {_num(s['handover_lag_max_ms'], 1)}",
        ],
        [
            "answers completed / matched / mismatched",
            f"{s['completed']:,} / {s['matched']:,} / {s['mismatched']}",
        ],
        [
            "unfinished / out of order / closed by server",
            f"{s['unfinished']} / {s['out_of_order']} / {sum(s['closes'].values())}",
        ],
        ["failed answers (publisher)", f"{s['failed_answers']}"],
    ]


def _resume_rows(r: dict[str, Any]) -> list[list[str]]:
    frames = ", ".join(f"{k} {v['count']}" for k, v in r["resume_frames"].items())
    stored = ", ".join(f"{k} {v}" for k, v in r["stored_events"].items())
    return [
        ["answer", f"{r['answer_tokens']:,} tokens, {r['answer_bytes']:,} bytes"],
        ["stored events", stored],
        [
            "resume (after_seq, deltas=1) until caught_up",
            f"{r['resume_bytes']:,} bytes = {r['resume_ratio']:.2f}x the answer",
        ],
        ["  frames", frames],
        [
            "  caught up / ms / has the answer",
            f"{r['resume_caught_up']} / {_num(r['resume_caught_up_ms'], 1)} / "
            f"{r['resume_has_answer']}",
        ],
        [
            "live socket, same run (no compaction)",
            f"{r['live_bytes']:,} bytes = {r['live_ratio']:.2f}x",
        ],
        [
            "  events it missed",
            ", ".join(f"{k} {n}" for k, n in r.get("live_missing", {}).items()) or "none",
        ],
        [
            "stored events as frames",
            f"{r['stored_frame_bytes']:,} bytes = {r['stored_ratio']:.2f}x",
        ],
    ]


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    cores = results["environment"]["cores"]
    if "stream" in results:
        s = results["stream"]
        w = s["window_s"]
        out.append(
            f"\n== {s['users']:,} users streaming {s['rate_per_user']:g} tokens/s each "
            f"({s['seconds']:g} s, {w:g} s measured) =="
        )
        before = results["environment"].get("machine_busy_before_pct")
        rows = _stream_rows(s, cores)
        rows.insert(-5, ["CPU%: machine before the run (others)", _num(before)])
        out.extend(format_table([["", "figure"], *rows]))
    if "resume" in results:
        out.append("\n== resume after a finished answer ==")
        out.extend(format_table([["", "figure"], *_resume_rows(results["resume"])]))
    out.append("\n== targets ==")
    out.extend(f"  {line}" for line in targets(results))
    if results.get("stopped_early"):
        out.append(f"\nstopped early: {results['stopped_early']}")
    return "\n".join(out)


def targets(results: dict[str, Any]) -> list[str]:
    lines = []
    stream, resume = results.get("stream"), results.get("resume")

    def check(name: str, value: float | None, goal: float) -> None:
        if value is None:
            lines.append(f"{name}: not measured")
        else:
            verdict = "met" if value <= goal else "NOT met"
            lines.append(f"{name}: {value:,.2f} (target <= {goal:g}) {verdict}")

    users = stream["users"] if stream else 0
    check(
        f"token-to-socket p99 ms, {users:,} streaming users",
        stream and stream["latency"]["p99_ms"],
        TARGETS["token_p99_ms"],
    )
    check(
        "resume bytes / answer bytes",
        resume and resume["resume_ratio"],
        TARGETS["resume_ratio"],
    )
    if stream:
        lines.append(
            f"streamed answers equal to their agent_completed: {stream['matched']:,} of "
            f"{stream['users']:,} (mismatched {stream['mismatched']}, unfinished "
            f"{stream['unfinished']}) {'met' if correct(results) else 'NOT met'}"
        )
    return lines


def correct(results: dict[str, Any]) -> bool:
    """Every answer arrived whole: its deltas joined equal its ``agent_completed``."""
    s = results.get("stream")
    if not s:
        return False
    return (
        s["mismatched"] == 0
        and s["unfinished"] == 0
        and s["out_of_order"] == 0
        and s["matched"] == s["users"]
        and s["failed_answers"] == 0
    )

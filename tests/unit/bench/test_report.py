from pathlib import Path

from bench.config import parse_args
from bench.phases import summarize_probes
from bench.report import limiter, ratio, render, targets


def test_the_limit_is_the_saturated_process_gateway_first():
    cpu = {"gateway0": 97.0, "loadgen0": 95.0, "machine": 199.0}
    assert limiter(cpu, cores=2).startswith("gateway")
    assert limiter({"gateway0": 40.0, "loadgen1": 93.0}, cores=2).startswith("load generator")
    assert limiter({"gateway0": 60.0, "machine": 190.0}, cores=2).startswith("machine")
    assert limiter({"nats-server": 104.0, "machine": 150.0}, cores=2) == "nats-server (104%)"
    assert limiter({"gateway0": 60.0, "machine": 120.0}, cores=2).startswith("none saturated")


def test_ratios_need_both_sides():
    assert ratio(50.0, 100.0) == "0.50x"
    assert ratio(None, 100.0) == "-"
    assert ratio(5.0, 0) == "-"


def test_probes_report_caught_up_when_the_gateway_resumed():
    found = {
        "resume": True,
        "failed": 0,
        "stale": 0,
        "samples": [
            {"open_ms": 1.0, "first_event_ms": 2.0, "caught_up_ms": ms, "ready": True}
            for ms in (5.0, 9.0, 7.0)
        ],
    }
    summary = summarize_probes(found)
    assert summary["measure"] == "reconnect-to-caught-up"
    assert (summary["p50_ms"], summary["max_ms"]) == (7.0, 9.0)
    fallback = summarize_probes({**found, "resume": False})
    assert fallback["measure"] == "reconnect-to-first-live-event"
    assert fallback["p50_ms"] == 2.0


def _phase(rate: float, delivered: float, p99: float) -> dict:
    return {
        "offered_rate": rate or "flat out",
        "publish_rate": rate or delivered,
        "delivered_rate": delivered,
        "undelivered": 0,
        "closes": {},
        "overloaded_after_s": None,
        "latency": {"p50_ms": p99 / 2, "p99_ms": p99, "p999_ms": p99 * 2},
        "cpu_percent": {"gateway0": 90.0, "nats-server": 100.0, "loadgen0": 20.0, "machine": 150.0},
    }


def _system(name: str, delivered: float, p99: float, kb: float) -> dict:
    return {
        "system": name,
        "gateways": 1 if name == "agentwire" else 0,
        "idle": {"kb_per_idle_conn": kb},
        "light": _phase(10_000, 10_000, p99 / 2),
        "throughput": _phase(0, delivered, p99 * 10),
        "latency": _phase(50_000, 50_000, p99),
        "reconnect": {"measure": "reconnect-to-caught-up", "p50_ms": 8.0, "p99_ms": 30.0},
    }


def test_the_table_and_the_targets_are_rendered_from_the_results():
    results = {
        "config": {"latency_rate": 50_000},
        "environment": {"cores": 2},
        "scenarios": [
            {
                "users": 1000,
                "systems": {
                    "nats-server ws": _system("natsws", 200_000, 2.0, 50.0),
                    "agentwire x1": _system("agentwire", 80_000, 8.0, 19.0),
                },
            }
        ],
        "idle": [],
    }
    text = render(results)
    assert "agentwire x1 / nats" in text
    assert "0.40x" in text  # 80k / 200k delivered flat out
    lines = targets(results)
    assert any(line.startswith("one gateway") and line.endswith(" met") for line in lines)
    assert any("machine vs nats" in line and "NOT met" in line for line in lines)
    assert any(line.startswith("idle sockets") and "not measured" in line for line in lines)


def test_quick_is_short_and_options_override_it():
    config = parse_args(["--quick", "--users", "10,20", "--gateways", "1,2"])
    assert config.quick and config.phase_s <= 2 and config.idle_sockets == 0
    assert config.users == (10, 20) and config.gateways == (1, 2)
    assert parse_args(["--results-dir", "/tmp/x"]).results_dir == Path("/tmp/x")

from bench.runs.report import render, targets
from bench.runs.tally import merge_reports


def a_phase(offered: float | None, ended_per_s: float, accept_p99_s: float) -> dict:
    merged = merge_reports([])
    merged["counts"] = {"sent": 1000, "accepted": 1000, "ended": 1000}
    merged["latency"]["accept"].update(p50_ms=1.0, p99_ms=accept_p99_s * 1e3)
    cpu = {"ws_gateway": 10.0, "agent": 95.0, "nats-server": 8.0, "machine": 130.0, "others": 5.0}
    return {
        **merged,
        "name": "p",
        "offered_rate": offered,
        "sustained_rate": ended_per_s,
        "runs_ended": 1000,
        "agent_cpu_s": 4.0,
        "agent_cpu_ms_per_run": 4.0,
        "events_per_run": 11.0,
        "cpu_percent": cpu,
        "limited_by": "agent (95%)",
        "stream": {"lost": 0, "not_in_stream": 0},
        "all_ended_s": 3.2,
        "last_stored_s": 3.3,
        "burst_send_ms": 9.0,
        "last_ended_at": None,
    }


def results(**series_extra: object) -> dict:
    series = {
        "agents": 1,
        "burst": a_phase(None, 0.0, 0.030),
        "rates": [a_phase(100, 99.0, 0.020), a_phase(200, 120.0, 0.900)],
        **series_extra,
    }
    return {
        "config": {"users": 1000, "think_delay_s": 0.0},
        "environment": {"commit": "abc1234", "cores": 2, "services_changed_since_commit": 0},
        "series": [series],
    }


def test_the_targets_name_each_figure_and_whether_it_was_met():
    lines = targets(results())
    assert "1 agent: burst accept p99 ms <= 50: 30.00 (met)" in lines
    assert any(
        "sustained runs/s >= 100: 99.00 (NOT met); peak ended/s in any rate: 120" in line
        for line in lines
    )
    assert "1 agent: agent CPU ms per run <= 5 (open loop, rates kept up): 4.00 (met)" in lines
    assert lines[-1].startswith("events lost / doubled / out of order = 0: 0 / 0 / 0 (met)")


def test_the_tables_show_every_phase_and_the_limiting_process():
    text = render(results())
    assert "== burst: 1,000 messages from 1,000 users at once ==" in text
    assert "== open loop, 1 agent ==" in text
    assert "agent (95%)" in text
    assert "commit abc1234," in text


def test_a_run_cut_short_still_renders():
    text = render(results(burst=None, rates=[]) | {"stopped_early": "RunTimeout"})
    assert "burst accept p99" not in text
    assert "sustained runs/s >= 100: not measured" in text

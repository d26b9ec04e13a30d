from bench.runs.verdict import (
    agent_ms_per_run,
    burst_behind,
    delivery_faults,
    kept_up,
    limiter,
    peak_rate,
    saturated,
    sustained_rate,
)


def phase(offered: float, ended_per_s: float, accept_p99: float = 10.0, **counts: int) -> dict:
    return {
        "offered_rate": offered,
        "sustained_rate": ended_per_s,
        "counts": {"sent": int(offered * 10), **counts},
        "latency": {"accept": {"p99_ms": accept_p99}},
        "problems": {},
        "stream": {"lost": 0, "not_in_stream": 0},
        "agent_cpu_s": offered * 10 * 0.004,
        "runs_ended": int(offered * 10),
    }


def test_a_stack_keeps_up_when_nine_tenths_of_the_offer_ends_in_the_window():
    assert kept_up(phase(100, 95))
    assert not kept_up(phase(100, 80))
    assert not kept_up(phase(100, 99, unfinished=1))
    assert not kept_up(phase(100, 99, refused=20))  # 2 % refused


def test_saturation_is_falling_behind_or_an_accept_p99_that_blew_up():
    assert not saturated(phase(100, 99, accept_p99=40.0))
    assert saturated(phase(100, 99, accept_p99=1500.0))
    assert saturated(phase(100, 50))


def test_the_sustained_rate_is_the_best_rate_kept_up_with_and_the_peak_any_rate():
    phases = [phase(50, 50), phase(100, 98), phase(150, 120)]
    assert sustained_rate(phases) == 98
    assert peak_rate(phases) == 120
    assert sustained_rate([phase(50, 10)]) is None


def test_agent_cpu_per_run_is_taken_over_the_rates_kept_up_with():
    phases = [phase(50, 50), phase(100, 98), phase(150, 60)]
    assert agent_ms_per_run(phases) == 4.0
    assert agent_ms_per_run([phase(50, 10)]) is None


def test_delivery_faults_gather_the_stream_check_and_the_sockets_rules():
    p = phase(10, 10)
    p["stream"] = {"lost": 2, "not_in_stream": 1}
    p["problems"] = {"doubled": 3, "out_of_order": 1, "after_terminal": 1, "unknown_accept": 9}
    assert delivery_faults(p) == {"lost": 2, "doubled": 4, "out_of_order": 2}


def test_the_limit_is_a_saturated_process_else_the_machine_with_the_busiest_named():
    assert limiter({"agent": 97.0, "ws_gateway": 20.0, "machine": 150.0}, cores=2) == "agent (97%)"
    machine = limiter({"agent": 60.0, "tools": 9.0, "machine": 196.0, "others": 100.0}, cores=2)
    assert machine == "machine (agent 60%, others 100%)"
    assert limiter({"agent": 30.0, "machine": 50.0}, cores=2) == "none saturated"


def test_a_stack_that_fell_behind_names_its_busiest_process_even_under_90_percent():
    cpu = {"agent": 87.0, "tools": 7.0, "machine": 120.0, "others": 10.0}
    assert limiter(cpu, cores=2) == "none saturated"
    assert limiter(cpu, cores=2, behind=True) == "agent (87%, the busiest)"


def test_a_burst_fell_behind_when_a_message_was_refused_or_waited_too_long():
    assert not burst_behind(phase(100, 0, accept_p99=30.0))
    assert burst_behind(phase(100, 0, accept_p99=30.0, refused=1))
    assert burst_behind(phase(100, 0, accept_p99=4000.0))


def test_a_stack_behind_with_no_busy_process_is_waiting_not_computing():
    cpu = {"agent": 46.0, "agent-2": 37.0, "machine": 160.0, "others": 50.0}
    assert limiter(cpu, cores=2, behind=True) == "no process CPU-bound (busiest agent 46%)"

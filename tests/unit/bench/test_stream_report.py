from bench.stream.config import parse_args
from bench.stream.report import correct, cpu_us_per, render, targets


def stream(**over):
    figures = {
        "users": 1000,
        "rate_per_user": 50.0,
        "seconds": 20.0,
        "window_s": 18.0,
        "opened": 1000,
        "connect_failed": 0,
        "latency": {
            "n": 900_000,
            "p50_ms": 20.0,
            "p95_ms": 45.0,
            "p99_ms": 80.0,
            "p999_ms": 95.0,
            "max_ms": 120.0,
        },
        "delta_latency": {"p50_ms": 2.0, "p99_ms": 30.0},
        "coalesce_latency": {"p50_ms": 18.0, "p99_ms": 50.0},
        "tokens_handed": 1_000_000,
        "tokens_received": 1_000_000,
        "published": {"message_delta": 400_000},
        "delivered_events_per_s": 20_000,
        "delivered_tokens_per_s": 50_000,
        "cpu_percent": {
            "gateway": 50.0,
            "nats-server": 25.0,
            "publisher0": 40.0,
            "loadgen0": 10.0,
            "machine": 150.0,
            "others": 5.0,
        },
        "completed": 1000,
        "matched": 1000,
        "mismatched": 0,
        "unfinished": 0,
        "out_of_order": 0,
        "closes": {},
        "failed_answers": 0,
        "handover_lag_p99_ms": 4.0,
        "handover_lag_max_ms": 9.0,
    }
    return {**figures, **over}


def resume(ratio):
    return {
        "answer_tokens": 2000,
        "answer_bytes": 10_000,
        "stored_events": {"message_delta": 100},
        "resume_bytes": int(ratio * 10_000),
        "resume_ratio": ratio,
        "resume_frames": {"agent_completed": {"count": 1, "bytes": 10_200}},
        "resume_caught_up": True,
        "resume_caught_up_ms": 5.0,
        "resume_has_answer": True,
        "live_bytes": 36_000,
        "live_ratio": 3.6,
        "stored_frame_bytes": 36_000,
        "stored_ratio": 3.6,
    }


def test_cpu_per_token_is_the_process_share_of_a_core_over_the_token_rate():
    assert cpu_us_per(stream(), "gateway") == 10.0  # 0.5 core / 50k tokens/s
    assert cpu_us_per(stream(), "gateway", "events") == 25.0


def test_targets_say_met_or_not_met_with_the_figure():
    met = targets({"stream": stream(), "resume": resume(1.05)})
    assert met[0].endswith("met") and "80.00" in met[0] and "NOT" not in met[0]
    assert "1.05" in met[1] and "NOT" not in met[1]
    missed = targets({"stream": stream(latency={"p99_ms": 140.0}), "resume": resume(2.4)})
    assert missed[0].endswith("NOT met") and missed[1].endswith("NOT met")
    assert targets({})[0].endswith("not measured")


def test_one_mismatched_or_unfinished_answer_makes_the_run_incorrect():
    assert correct({"stream": stream()})
    assert not correct({"stream": stream(mismatched=1)})
    assert not correct({"stream": stream(unfinished=3, matched=997)})
    assert not correct({})


def test_the_table_renders_both_scenarios():
    text = render({"environment": {"cores": 2}, "stream": stream(), "resume": resume(1.05)})
    assert "token-to-socket p50 / p95 / p99 ms" in text and "20.0 / 45.0 / 80.0" in text
    assert "1.05x the answer" in text


def test_quick_is_a_short_stream_and_options_override_it():
    quick = parse_args(["--quick", "--users", "20"])
    assert quick.quick and quick.users == 20 and quick.seconds < 10
    assert parse_args([]).users == 1000 and parse_args([]).rate == 50.0

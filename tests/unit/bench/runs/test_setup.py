"""The command line, the --at re-run, and the stream comparison."""

from bench.runs.config import parse_args
from bench.runs.streamcheck import compare
from bench.runs.tree import without_at


def test_quick_is_small_and_options_override_it():
    quick = parse_args(["--quick"])
    assert quick.quick and quick.phase_s < 10 and not quick.burst_every_series
    assert quick.users == 1000  # the burst is still the issue's 1,000 users
    custom = parse_args(["--quick", "--agents", "1", "--rates", "10,20.5", "--no-burst"])
    assert (custom.agents, custom.rates, custom.burst) == ((1,), (10.0, 20.5), False)


def test_the_full_run_climbs_the_issues_rates_with_one_and_two_agents():
    config = parse_args([])
    assert config.agents == (1, 2)
    assert config.rates[:5] == (20, 50, 100, 150, 200)
    assert config.think_delay_s == 0.0


def test_the_run_in_the_snapshot_gets_every_option_but_at():
    argv = ["--quick", "--at", "HEAD~1", "--users", "10", "--at=abc"]
    assert without_at(argv) == ["--quick", "--users", "10"]


def test_the_stream_comparison_finds_lost_and_foreign_events_per_user():
    stored = {"u1": [1, 3, 5], "u2": [2, 4]}
    received = {"u1": [1, 5], "u2": [2, 4, 6]}
    assert compare(stored, received) == {
        "stored": 5,
        "received": 5,
        "lost": 1,
        "not_in_stream": 1,
    }

"""What one ``./dev bench stream`` run measures, from its command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from bench.procs import REPO_ROOT

__all__ = ["StreamConfig", "parse_args"]


@dataclass(frozen=True, slots=True)
class StreamConfig:
    users: int = 1000  # one socket and one streaming run each
    rate: float = 50.0  # tokens/s per user
    seconds: float = 20.0  # how long each user's tokens flow
    warmup_s: float = 2.0  # the first seconds of the stream are not measured
    clients_procs: int = 2  # load-generator processes
    publishers: int = 2  # publisher processes (the agents' stand-ins)
    answer_tokens: int = 2000  # the finished answer a resume replays
    answer_rate: float = 50.0  # tokens/s of that answer
    connect_concurrency: int = 200  # handshakes in flight per load-generator process
    max_run_s: float = 900.0  # the whole run is cut off after this
    gateway_root: Path = REPO_ROOT  # a directory holding services/ and shared/
    gateway_at: str | None = None  # the gateway of this commit (git archive), not the tree's
    results_dir: Path = REPO_ROOT / "bench" / "results"
    quick: bool = False

    @property
    def window(self) -> tuple[float, float]:
        """The measured part of the stream, in seconds from its start."""
        return (min(self.warmup_s, self.seconds / 2), self.seconds)


def parse_args(argv: list[str] | None = None) -> StreamConfig:
    parser = argparse.ArgumentParser(
        prog="./dev bench stream",
        description="Streamed answers: token-to-socket latency, CPU per token, resume bytes.",
    )
    parser.add_argument("--users", type=int, help="streaming users, one socket each (1000)")
    parser.add_argument("--rate", type=float, help="tokens/s per user (50)")
    parser.add_argument("--seconds", type=float, help="how long the tokens flow (20)")
    parser.add_argument("--clients-procs", type=int, help="load-generator processes (2)")
    parser.add_argument("--publishers", type=int, help="publisher processes (2)")
    parser.add_argument("--answer-tokens", type=int, help="tokens of the resumed answer (2000)")
    parser.add_argument("--answer-rate", type=float, help="tokens/s of that answer (50)")
    parser.add_argument("--max-seconds", type=float, help="cut the whole run off (900)")
    parser.add_argument("--gateway-root", type=Path, help="run the gateway from this tree")
    parser.add_argument("--gateway-at", help="run the gateway of this commit (git archive)")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~30 s)")
    args = parser.parse_args(argv)

    config = StreamConfig()
    if args.quick:
        config = replace(config, quick=True, seconds=4.0, warmup_s=1.0, answer_rate=500.0)
    overrides = {
        "users": args.users,
        "rate": args.rate,
        "seconds": args.seconds,
        "clients_procs": args.clients_procs,
        "publishers": args.publishers,
        "answer_tokens": args.answer_tokens,
        "answer_rate": args.answer_rate,
        "max_run_s": args.max_seconds,
        "gateway_root": args.gateway_root.resolve() if args.gateway_root else None,
        "gateway_at": args.gateway_at,
        "results_dir": args.results_dir,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if config.clients_procs < 1 or config.publishers < 1 or config.users < 1:
        parser.error("--users, --clients-procs and --publishers must be at least 1")
    if config.rate <= 0 or config.seconds <= 0 or config.answer_rate <= 0:
        parser.error("--rate, --seconds and --answer-rate must be positive")
    return config

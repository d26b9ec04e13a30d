"""``python -m bench`` (``./dev bench``): run the benchmark; ``--help`` lists the options.

``python -m bench runs`` (``./dev bench runs``) is the full-stack runs benchmark instead
(:mod:`bench.runs`; ``./dev bench runs --help``); ``python -m bench stream`` (``./dev bench
stream``) measures streamed answers (:mod:`bench.stream`; ``./dev bench stream --help``).
"""

from __future__ import annotations

import sys

from bench.config import parse_args
from bench.runner import run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["runs"]:
        from bench.runs.config import parse_args as parse_runs_args
        from bench.runs.runner import run as run_runs
        from bench.runs.tree import run_at

        config = parse_runs_args(args[1:])
        return run_at(config, args[1:]) if config.at else run_runs(config)
    if args[:1] == ["stream"]:
        from bench.stream.config import parse_args as parse_stream_args
        from bench.stream.runner import run as run_stream

        return run_stream(parse_stream_args(args[1:]))
    return run(parse_args(args))


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench`` (``./dev bench``): run the benchmark; ``--help`` lists the options."""

from __future__ import annotations

import sys

from bench.config import parse_args
from bench.runner import run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

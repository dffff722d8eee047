"""What every command shares: exit codes, usage errors, the argument parser, argument types, printing."""

from __future__ import annotations

import argparse
import json
import math

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


class UsageError(ValueError):
    """Bad flags or bad input: reported in one line on stderr, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors reported in one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def flag(name: str) -> str:
    """The option of a field: ``--batch-size`` for ``batch_size``."""
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------------- argument types
def integer(text: str) -> int:
    """An integer, any sign (ranges are checked where the value is used)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def real(text: str) -> float:
    """A number, as float (ranges, finiteness included, are checked where the value is used)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def integers(text: str) -> list[int]:
    """Parse ``"256,128"`` into ``[256, 128]`` (an empty string gives ``[]``)."""
    if text.strip() == "":
        return []
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def names(text: str) -> list[str]:
    """Parse ``"city, zip"`` into ``["city", "zip"]`` (an empty string gives ``[]``)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def int_list(text: str) -> list[int]:
    """Layer sizes ``"4,5,3"``: comma-separated integers, each >= 1."""
    values = integers(text)
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"every size must be >= 1, got {text!r}")
    return values


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


# ---------------------------------------------------------------------- printing
def say(args: argparse.Namespace, text: str = "") -> None:
    """Print ``text`` unless ``--quiet``."""
    if not args.quiet:
        print(text, flush=True)


def print_json(value: dict) -> None:
    """One JSON line; NaN and infinities become ``null``."""
    print(json.dumps(finite_or_null(value)), flush=True)


def finite_or_null(value):
    """``value`` with every non-finite float (in nested dicts and lists) replaced by None."""
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

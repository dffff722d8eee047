"""What every command shares: exit codes, usage errors, the argument parser, argument types, printing."""

from __future__ import annotations

import argparse
import json
import math
import re

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of standard output went away


class UsageError(ValueError):
    """Bad flags or bad input: reported in one line on stderr, exit code 2."""


EMPTY = "''"  # how an empty default is shown


class HelpFormatter(argparse.HelpFormatter):
    """Help lines end with the option's default, where it has one and the line does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default == argparse.SUPPRESS
        if hidden or "default" in text or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"
        return f"{text} (default: {shown or EMPTY})"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors reported in one line (and exit code 2), and defaults shown in help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# settings whose option is not their field's name: the output layer is --output-activation, so that
# --out/-o names an output file in every command
FLAG_NAMES = {"output": "output-activation"}
DEPRECATED_ALIASES = {"output": "--output"}  # old spellings, still accepted


def data_given_once(
    positional: str | None, flag_value: str | None, flag_default: str | None = None
) -> str | None:
    """The data named by a command's positional DATA or by its --data: not both, unless they agree."""
    if positional is None or positional == flag_value:
        return flag_value
    if flag_value != flag_default:
        raise UsageError(f"the data is given twice, as DATA ({positional}) and --data ({flag_value})")
    return positional


def flag(name: str) -> str:
    """The option of a field: ``--batch-size`` for ``batch_size``, ``--output-activation`` for ``output``."""
    return "--" + FLAG_NAMES.get(name, name).replace("_", "-")


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


def seed(text: str) -> int:
    """A seed: an integer >= 0 (numpy's generators take no negative seed)."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


# ---------------------------------------------------------------------- printing
# control characters (C0, DEL, C1) and the bidirectional overrides that reorder what a terminal shows
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape(text: object) -> str:
    """``str(text)`` safe for a terminal: every control character shown as its escape (``\\x1b``), so
    names read from an untrusted file can neither move the cursor nor rewrite what is shown."""
    return UNPRINTABLE.sub(lambda match: repr(match.group())[1:-1], str(text))


def say(args: argparse.Namespace, text: str = "") -> None:
    """Print ``text`` (escaped for the terminal) unless ``--quiet``."""
    if not args.quiet:
        print(escape(text), flush=True)


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

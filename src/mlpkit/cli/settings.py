"""The hyper-parameter flags of ``mlpkit train``, one per :class:`TrainConfig` setting; the config from them.

Each field listed by :meth:`TrainConfig.settings` becomes a flag (``--batch-size`` for
``batch_size``) with the field's help line, its default (or the command line's own, its ``cli``
metadata) and its choices from :data:`~mlpkit.training.config.CHOICES`. The flags only parse
(integers, numbers, comma-separated sizes); the ranges are checked once, by the config itself.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import Field

from mlpkit.cli.args import (
    DEPRECATED_ALIASES,
    UsageError,
    data_given_once,
    flag,
    integer,
    integers,
    names,
    real,
)
from mlpkit.training.config import CHOICES, ConfigError, TrainConfig

PARSERS = {int: integer, float: real, str: str, tuple: integers, "names": names}
METAVARS = {"data": "NAME|PATH", "target": "COL", "hidden": "SIZES", "categorical": "COLS", "ignore": "COLS"}


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per training setting to ``parser``."""
    group = parser.add_argument_group("training configuration")
    hints = typing.get_type_hints(TrainConfig)
    for setting in TrainConfig.settings():
        _add_flag(group, setting, _value_type(setting.name, hints[setting.name]))


def _add_flag(group, setting: Field, kind: type | str) -> None:
    name, help_line = setting.name, setting.metadata["help"]
    default = setting.metadata.get("cli", setting.default)
    if kind is bool:  # --early-stopping / --no-early-stopping, --shuffle / --no-shuffle
        group.add_argument(flag(name), action=argparse.BooleanOptionalAction, default=default, help=help_line)
        return
    aliases = [DEPRECATED_ALIASES[name]] if name in DEPRECATED_ALIASES else []
    group.add_argument(
        flag(name),
        *aliases,
        dest=name,
        type=PARSERS[kind],
        default=default,
        choices=CHOICES.get(name),
        metavar=None if name in CHOICES else METAVARS.get(name),
        help=help_line,
    )


def _data(args: argparse.Namespace, flag_value: str) -> str:
    """The data named by the positional DATA or by --data (whose default is the configuration's)."""
    default = next(setting.default for setting in TrainConfig.settings() if setting.name == "data")
    return data_given_once(getattr(args, "data_file", None), flag_value, default)


def _value_type(name: str, hint: object) -> type | str:
    """The parser's kind for a field's annotation: ``int | None`` gives int, ``tuple[int, ...]`` tuple,
    ``tuple[str, ...]`` ``"names"`` (comma-separated column names)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)]
        hint = kinds[0] if len(kinds) == 1 else hint
    kind = typing.get_origin(hint) or hint
    if kind is tuple and typing.get_args(hint)[:1] == (str,):
        return "names"
    if kind not in (*PARSERS, bool):
        raise TypeError(f"TrainConfig.{name}: no command-line form for a field of type {hint}")
    return kind


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of the parsed flags; a value out of range is a usage error naming its flag."""
    from mlpkit.io.bounds import MAX_UNITS

    values = {setting.name: getattr(args, setting.name) for setting in TrainConfig.settings()}
    values["data"] = _data(args, values["data"])
    try:
        config = TrainConfig(**values)
    except ConfigError as error:
        raise UsageError(f"{flag_message(error)} (see mlpkit {args.command} --help)") from None
    too_wide = [size for size in config.hidden or () if size > MAX_UNITS]
    if too_wide:  # checked again with the input width once the data is known
        raise UsageError(
            f"--hidden: a layer of {too_wide[0]} units; each layer must have 1 to {MAX_UNITS} units"
        )
    return config


def flag_message(error: ConfigError) -> str:
    """``argument --lr: must be a finite number > 0, got 0.0``: the config's message about its flag."""
    prefix = "{name} "
    rest = error.template[len(prefix) :] if error.template.startswith(prefix) else error.template
    return str(error.renamed({error.name: flag(error.name)}, template="argument {name}: " + rest))

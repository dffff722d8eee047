"""The one training configuration: a typed dataclass, checked once where it is built.

The CLI, the scikit-learn estimators and :func:`mlpkit.train` each build a :class:`TrainConfig`
from their own vocabulary (``--lr``, ``learning_rate_init``, ``learning_rate``) and pass it
down; nothing below checks or copies its fields again. A bad value raises :class:`ConfigError`,
which names the field; each front end renames it into its own words with :meth:`ConfigError.renamed`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mlpkit.activations import ACTIVATIONS
from mlpkit.feature_columns import SCALINGS as TABLE_SCALINGS
from mlpkit.network import DTYPES
from mlpkit.optimizers import OPTIMIZERS

OUTPUT_CHOICES = ("auto", "sigmoid", "softmax", "identity")
TARGET_SCALINGS = ("standard", "none")
DEFAULT_PATIENCE = 10
RANGE_MESSAGE = "{name} must be {expected}, got {value}"
HIDDEN_MESSAGE = "{name} must list layer sizes >= 1, got {value}"
CHOICE_MESSAGE = "Unknown {name} {value}; expected one of {expected}"


class ConfigError(ValueError):
    """A configuration value out of its range: names the field, the value and what is allowed."""

    def __init__(self, name: str, value: object, expected: str, template: str = RANGE_MESSAGE) -> None:
        super().__init__(template.format(name=name, value=_shown(value), expected=expected))
        self.name, self.value, self.expected, self.template = name, value, expected, template

    def renamed(self, names: Mapping[str, str], template: str | None = None) -> ValueError:
        """The same error in a front end's words: ``names`` maps fields to its option names."""
        name = names.get(self.name, self.name)
        message = (template or self.template).format(
            name=name, value=_shown(self.value), expected=self.expected
        )
        return ValueError(message)


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


@dataclass(frozen=True)
class Range:
    """An allowed numeric interval, its ends included or not, integral or real."""

    low: float
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = False
    integer: bool = False

    def contains(self, value: object) -> bool:
        """Whether ``value`` is a finite real (or integral) number inside the interval."""
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def describe(self) -> str:
        """Words for the interval: ``an integer >= 1``, ``a finite number > 0``, ``in [0, 1)``."""
        kind = "an integer" if self.integer else "a finite number"
        if self.high == math.inf:
            return f"{kind} {'>=' if self.low_closed else '>'} {self.low:g}"
        left, right = "[" if self.low_closed else "(", "]" if self.high_closed else ")"
        return f"{'an integer ' if self.integer else ''}in {left}{self.low:g}, {self.high:g}{right}"


POSITIVE_INTEGER = Range(1, integer=True)
RANGES = {
    "lr": Range(0.0, low_closed=False),
    "batch_size": POSITIVE_INTEGER,
    "epochs": POSITIVE_INTEGER,
    "l2": Range(0.0),
    "dropout": Range(0.0, 1.0),
    "validation_fraction": Range(0.0, 1.0),
    "test_fraction": Range(0.0, 1.0),
    "patience": POSITIVE_INTEGER,
    "tol": Range(0.0),
}
CHOICES = {
    "activation": tuple(sorted(ACTIVATIONS)),
    "output": OUTPUT_CHOICES,
    "optimizer": tuple(sorted(OPTIMIZERS)),
    "dtype": DTYPES,
    "table_scaling": TABLE_SCALINGS,
    "target_scaling": TARGET_SCALINGS,
}
FLAGS = ("shuffle", "early_stopping")
# None in these fields: chosen from the number of training rows m by TrainConfig.settled
SIZED = ("batch_size", "epochs", "hidden", "patience", "l2", "validation_fraction", "early_stopping")
SIZED_STEPS = 4000  # mini-batch steps the data-size defaults aim at
SMALL_ROWS = 2000  # below this many training rows: one hidden layer of 100, L2 instead of early stopping
SMALL_L2 = 0.3  # the L2 penalty lambda of the small-data rule


def _setting(default: Any, help: str, **metadata: Any) -> Any:
    """A field that is also a command-line flag: its default, its help line, other metadata."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; stored in the model file and in checkpoints.

    The network: ``hidden`` sizes, hidden ``activation``, ``output`` layer (``auto`` picks it
    from the targets), ``dtype``. The optimization: ``optimizer`` (with ``optimizer_options``
    such as ``momentum``), learning rate ``lr``, ``batch_size``, ``epochs``, ``l2``, ``dropout``,
    ``shuffle``, ``seed`` (None: fresh entropy) and a learning-rate ``schedule`` (an object from
    :mod:`mlpkit.schedules`; None: constant). Validation and stopping: ``validation_fraction``,
    ``early_stopping``, ``patience``, ``tol``. The data a CLI run reads: ``data``, ``target``,
    ``test_fraction``, ``categorical`` and ``ignore`` (columns to read as categories, to leave out); how a
    regression target is learned: ``target_scaling``.
    """

    # each field with a "help" is also a flag of `mlpkit train` (--batch-size for batch_size),
    # built from this table; "cli" gives the command line's own default where it differs
    hidden: tuple[int, ...] | None = _setting(
        (256, 128), "hidden layer sizes (default: 256,128, or 100 under 2,000 training rows)", cli=None
    )
    activation: str = _setting("relu", "hidden activation")
    output: str = _setting("auto", "output layer (auto: from y)")
    dtype: str = _setting("float32", "parameter and batch dtype")
    optimizer: str = _setting("adam", "optimizer")
    lr: float = _setting(1e-3, "learning rate")
    batch_size: int | None = _setting(128, "samples per mini-batch (default: from the data size)", cli=None)
    epochs: int | None = _setting(10, "passes over the training rows (default: from the data size)", cli=None)
    l2: float | None = _setting(
        0.0, "L2 penalty lambda (default: 0.3 under 2,000 training rows, else 0)", cli=None
    )
    dropout: float = _setting(0.0, "hidden-unit drop probability")
    shuffle: bool = _setting(True, "shuffle the rows every epoch")
    seed: int | None = _setting(0, "seed of every random draw")
    validation_fraction: float | None = _setting(
        0.0, "held-out share of training (default: 0.1 with early stopping, else 0)", cli=None
    )
    early_stopping: bool | None = _setting(
        False,
        "stop on a validation plateau, keep the best epoch (default: on from 2,000 training rows)",
        cli=None,
    )
    patience: int | None = _setting(
        DEFAULT_PATIENCE,
        "epochs without improvement before early stopping (default: max(10, epochs / 5))",
        cli=None,
    )
    tol: float = _setting(0.0, "smallest improvement of the monitored loss that counts")
    data: str = _setting(
        "fashion-mnist", "dataset name, .csv/.npz, X.npy (with --labels) or a folder of shards"
    )
    target: str | None = _setting(None, "CSV/Parquet target column (default: the last one)")
    categorical: tuple[str, ...] = _setting((), "CSV/Parquet columns to treat as categories, e.g. zip,store")
    ignore: tuple[str, ...] = _setting((), "CSV/Parquet columns to leave out, e.g. id,name")
    table_scaling: str = _setting("robust", "scaling of a CSV/Parquet table's numeric columns")
    target_scaling: str = _setting(
        "standard", "regression: learn the target standardized, predict in its units (none: as it is)"
    )
    test_fraction: float = _setting(0.2, "share of the rows held out for the test report")
    optimizer_options: Mapping[str, Any] = field(default_factory=dict)
    schedule: Any = None

    def __post_init__(self) -> None:
        """The one check of every field: raises :class:`ConfigError` naming the first bad one."""
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(name, getattr(self, name), str(list(allowed)), CHOICE_MESSAGE)
        for name, allowed in RANGES.items():
            if not allowed.contains(getattr(self, name)) and not (
                name in SIZED and getattr(self, name) is None
            ):
                raise ConfigError(name, getattr(self, name), allowed.describe())
        for name in FLAGS:
            if not isinstance(getattr(self, name), bool) and not (
                name in SIZED and getattr(self, name) is None
            ):
                raise ConfigError(name, getattr(self, name), "True or False")
        self._check_hidden()
        self._check_seed()
        self._check_names("categorical")
        self._check_names("ignore")
        object.__setattr__(self, "optimizer_options", dict(self.optimizer_options))

    def _check_hidden(self) -> None:
        hidden = self.hidden
        if hidden is None:
            return
        sizes = [hidden] if isinstance(hidden, numbers.Integral) else hidden
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ConfigError("hidden", hidden, "", HIDDEN_MESSAGE) from None
        if not all(POSITIVE_INTEGER.contains(size) for size in sizes):
            raise ConfigError("hidden", sizes, "", HIDDEN_MESSAGE)
        object.__setattr__(self, "hidden", tuple(int(size) for size in sizes))

    def _check_seed(self) -> None:
        if self.seed is not None and not Range(0, integer=True).contains(self.seed):
            raise ConfigError("seed", self.seed, "an integer >= 0")
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))

    def _check_names(self, field_name: str) -> None:
        """A field that lists column names (``categorical``, ``ignore``) holds non-empty strings."""
        names = getattr(self, field_name)
        if isinstance(names, str) or not isinstance(names, (tuple, list)):
            raise ConfigError(field_name, names, "a list of column names")
        if not all(isinstance(name, str) and name for name in names):
            raise ConfigError(field_name, names, "a list of column names")
        object.__setattr__(self, field_name, tuple(names))

    @classmethod
    def settings(cls) -> tuple:
        """The fields that are also command-line flags (those with a help line), in order."""
        return tuple(f for f in fields(cls) if "help" in f.metadata)

    def settled(self, rows: int) -> TrainConfig:
        """The data-size defaults filled in for ``rows`` training rows where a field is None.

        ``batch_size = clip(2^round(log2(m/32)), 16, 128)``: a few dozen batches an epoch on small
        tables, 128 from about 4,000 rows; ``epochs = clip(ceil(4000 B / m), 10, 300)``: about 4,000
        mini-batch steps in all (10 epochs from about 50,000 rows, 300 on a hundred). From
        ``SMALL_ROWS`` rows on: hidden layers 256,128, a 10% validation split and early stopping
        with ``patience = max(10, ceil(epochs / 5))``. Below it a tenth of the rows is too few to
        pick an epoch by, so every row trains for every epoch through one hidden layer of 100,
        held back by an L2 penalty of ``SMALL_L2`` instead.
        """
        m = max(rows, 1)
        small = m < SMALL_ROWS
        batch = self.batch_size or int(min(128, max(16, 2 ** round(math.log2(m / 32)))))
        epochs = self.epochs or int(min(300, max(10, math.ceil(SIZED_STEPS * batch / m))))
        stopping = (not small) if self.early_stopping is None else self.early_stopping
        fraction = self.validation_fraction
        if fraction is None:
            fraction = 0.1 if stopping else 0.0
        return self.replace(
            batch_size=batch,
            epochs=epochs,
            hidden=self.hidden if self.hidden is not None else ((100,) if small else (256, 128)),
            patience=self.patience or max(DEFAULT_PATIENCE, math.ceil(epochs / 5)),
            l2=self.l2 if self.l2 is not None else (SMALL_L2 if small else 0.0),
            early_stopping=stopping,
            validation_fraction=fraction,
        )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``, checked like any new configuration."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The JSON-ready settings (the schedule, an object, is left out)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "schedule"}
        values["hidden"] = None if self.hidden is None else list(self.hidden)
        values["categorical"] = list(self.categorical)
        values["ignore"] = list(self.ignore)
        values["optimizer_options"] = dict(self.optimizer_options)
        return values

"""The one training configuration: a typed dataclass, checked once where it is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mlpkit.activations import ACTIVATIONS
from mlpkit.network import DTYPES
from mlpkit.optimizers import OPTIMIZERS

OUTPUT_CHOICES = ("auto", "sigmoid", "softmax", "identity")


@dataclass
class TrainConfig:
    """Everything that defines a training run (the CLI's ``train`` flags), stored in the model file."""

    data: str = "fashion-mnist"
    target: str | None = None
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    output: str = "auto"
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 10
    dropout: float = 0.0
    l2: float = 0.0
    seed: int = 0
    dtype: str = "float32"
    validation_fraction: float = 0.1
    early_stopping: bool = False
    test_fraction: float = 0.2

    def check(self) -> TrainConfig:
        """Raise ValueError naming the first bad setting and its allowed values; returns ``self``."""
        _check_choice("activation", self.activation, sorted(ACTIVATIONS))
        _check_choice("output", self.output, OUTPUT_CHOICES)
        _check_choice("optimizer", self.optimizer, sorted(OPTIMIZERS))
        _check_choice("dtype", self.dtype, DTYPES)
        if any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in self.hidden):
            raise ValueError(f"hidden must list layer sizes >= 1, got {list(self.hidden)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        return self

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        values = asdict(self)
        values["hidden"] = list(self.hidden)
        return values


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {list(allowed)}")

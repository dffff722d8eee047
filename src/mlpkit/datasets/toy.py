"""Small sets: scikit-learn's digits, iris, wine, breast-cancer; generated moons, circles and planar.

``planar`` is the course notes' two-feature "flower": two interleaved petal-shaped classes,
generated here from a seeded numpy Generator.
"""

from __future__ import annotations

import numpy as np

from mlpkit.datasets.core import Dataset, split_dataset

SKLEARN_SETS = {
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast-cancer": "load_breast_cancer",
}
GENERATED_SETS = ("moons", "circles", "planar")
GENERATED_ROWS = 1000
PLANAR_ROWS = 400


def _sklearn_datasets(what: str):
    try:
        from sklearn import datasets
    except ImportError:
        raise ImportError(f'{what} needs scikit-learn: pip install "mlpkit[sklearn]"') from None
    return datasets


def load_sklearn_set(name: str, *, test_fraction: float = 0.2, seed: int | None = 0) -> Dataset:
    """One of scikit-learn's bundled sets, split by a seeded stratified split."""
    if name not in SKLEARN_SETS:
        raise ValueError(f"Unknown scikit-learn set {name!r}; expected one of {sorted(SKLEARN_SETS)}")
    bunch = getattr(_sklearn_datasets(f"the {name} dataset"), SKLEARN_SETS[name])()
    return split_dataset(
        name,
        np.asarray(bunch.data, dtype=np.float64),
        np.asarray(bunch.target, dtype=np.int64),
        test_fraction=test_fraction,
        seed=seed,
        class_names=[str(label) for label in bunch.target_names],
        feature_names=[str(feature) for feature in getattr(bunch, "feature_names", [])] or None,
        source=f"scikit-learn {SKLEARN_SETS[name]}",
    )


def make_planar(m: int = PLANAR_ROWS, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """The notes' flower: ``m`` rows ``(x1, x2)``, half labelled 0 (red) and half 1 (blue)."""
    rng = np.random.default_rng(seed)
    per_class = m // 2
    petals = 4.0
    X = np.zeros((2 * per_class, 2))
    y = np.zeros(2 * per_class, dtype=np.int64)
    for label in range(2):
        rows = slice(per_class * label, per_class * (label + 1))
        t = np.linspace(label * 3.12, (label + 1) * 3.12, per_class) + rng.standard_normal(per_class) * 0.2
        r = petals * np.sin(4 * t) + rng.standard_normal(per_class) * 0.2
        X[rows] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        y[rows] = label
    return X, y


def load_generated(name: str, *, test_fraction: float = 0.2, seed: int | None = 0) -> Dataset:
    """moons, circles (scikit-learn generators, 1000 rows) or planar (400 rows), split with ``seed``."""
    if name == "planar":
        X, y = make_planar(PLANAR_ROWS, seed)
        class_names, source = ["red", "blue"], "the notes' planar flower"
    elif name in ("moons", "circles"):
        datasets = _sklearn_datasets(f"the {name} dataset")
        if name == "moons":
            X, y = datasets.make_moons(n_samples=GENERATED_ROWS, noise=0.2, random_state=seed)
        else:
            X, y = datasets.make_circles(n_samples=GENERATED_ROWS, noise=0.1, factor=0.5, random_state=seed)
        class_names, source = ["0", "1"], f"scikit-learn make_{name}"
    else:
        raise ValueError(f"Unknown generated set {name!r}; expected one of {list(GENERATED_SETS)}")
    return split_dataset(
        name,
        X,
        y.astype(np.int64),
        test_fraction=test_fraction,
        seed=seed,
        class_names=class_names,
        feature_names=["x1", "x2"],
        source=source,
    )

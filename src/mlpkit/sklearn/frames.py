"""Tables with text, category and bool columns and missing values, handed to the estimators directly.

A pandas DataFrame with a non-numeric column (or any DataFrame when ``categorical_features``
names columns), a pyarrow Table or a dict of columns goes through the project's one column
schema, :class:`~mlpkit.features.FeatureSchema`, fitted on the first fit and kept as
``features_``: numbers are imputed and scaled, categories one-hot encoded or, with many
values, given learned embeddings (``inputs_``, an :class:`~mlpkit.embeddings.EmbeddingInput`
trained with the network). So does a DataFrame of numbers with missing values (scikit-learn's
array path would refuse it); a complete DataFrame of numbers keeps that array path.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.sparse import issparse

from mlpkit.columns import ColumnTable
from mlpkit.embeddings import EmbeddingInput
from mlpkit.features import FeatureSchema, seen_once_note
from mlpkit.tables import as_table, is_table


def _is_frame(X: object) -> bool:
    return all(hasattr(X, attribute) for attribute in ("columns", "dtypes", "iloc"))


def takes_schema(X: object, categorical_features: object) -> bool:
    """True when ``X`` goes through the column schema rather than scikit-learn's array checks."""
    if issparse(X) or not is_table(X):  # a DOK matrix is a dict, not a table
        return False
    if not _is_frame(X) or categorical_features is not None:
        return True  # pyarrow, dicts of columns: read by name; named categories need the schema
    if any(not _numeric_dtype(dtype) for dtype in X.dtypes):
        return True
    return bool(X.isna().to_numpy().any())  # numbers with gaps: imputed, as beside a text column


def _numeric_dtype(dtype: object) -> bool:
    """Numbers (nullable ones too), not booleans: what scikit-learn's array path reads as they are."""
    return getattr(dtype, "kind", "O") in "iuf" and str(dtype) != "category"


def read_table(estimator: object, X: object) -> ColumnTable:
    """``X`` as raw columns, or a ValueError naming the estimator and what it takes."""
    name = type(estimator).__name__
    if not is_table(X):
        raise ValueError(
            f"{name} was fitted on a table with the columns {list(estimator.feature_names_in_)}; "
            f"pass a DataFrame (or a pyarrow Table, a dict of columns) with them, got {type(X).__name__}"
        )
    try:
        return as_table(X)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def fit_schema(estimator, X) -> ColumnTable:
    """Fit ``features_`` on the table ``X`` and describe its columns (``feature_names_in_``,
    ``n_features_in_``) as scikit-learn does; returns the table as raw columns."""
    table = read_table(estimator, X)
    categorical = estimator.categorical_features
    if categorical is not None and not isinstance(categorical, str):
        categorical = list(categorical)
    try:
        estimator.features_ = FeatureSchema.fit(table, categorical)
    except ValueError as error:
        raise ValueError(f"{type(estimator).__name__}: {error}") from None
    for name, values, rows in estimator.features_.seen_once:
        note = f"{seen_once_note(name, values, rows)}; drop it from X, or give it as numbers"
        warnings.warn(f"{type(estimator).__name__}: {note}", stacklevel=4)
    estimator.feature_names_in_ = np.asarray(table.names, dtype=object)
    estimator.n_features_in_ = len(table.names)
    return table


def table_features(estimator, table: ColumnTable, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``table`` through ``features_``: the dense block ``(m, n_dense)`` in ``dtype`` and
    the embedded columns' codes ``(m, C)``; columns are matched by name."""
    try:
        features = estimator.features_.transform(table, dtype=dtype)
    except ValueError as error:
        raise ValueError(f"{type(estimator).__name__}: {error}") from None
    return features.dense, features.codes


def new_embeddings(schema: FeatureSchema, rng: np.random.Generator, dtype: str) -> EmbeddingInput | None:
    """The learned embeddings of the schema's embedded columns (None when it embeds none)."""
    if not schema.embedded:
        return None
    sizes = [n_c for _, n_c, _ in schema.embedded]
    dimensions = [d_c for _, _, d_c in schema.embedded]
    return EmbeddingInput(schema.dense_width, sizes, dimensions, seed=rng, dtype=dtype)


def embeddings_in(inputs: EmbeddingInput, dtype: str) -> EmbeddingInput:
    """``inputs`` in ``dtype`` (a copy holding the same ``E_c`` when the dtype differs)."""
    if inputs.dtype.name == dtype:
        return inputs
    copy = EmbeddingInput(inputs.n_dense, inputs.vocabulary_sizes, inputs.dimensions, seed=0, dtype=dtype)
    copy.phi = inputs.phi.astype(dtype)
    return copy


def network_input(inputs: EmbeddingInput | None, dense: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """``A0`` ``(n_x, m)`` from rows: the dense rows' transpose, stacked with ``E_c[:, codes_c]``."""
    if inputs is None:
        return dense.T
    return inputs.forward(dense.T, np.ascontiguousarray(codes.T))

"""Fashion-MNIST and MNIST from their idx files: find them locally, else download and verify them.

Look-up order for the four files: ``$MLPKIT_DATA/<name>``, ``$MLPKIT_DATA``, the system
folder (Debian's ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist``),
the user cache; then a download from the dataset's canonical address into the cache.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpkit.datasets.core import Dataset
from mlpkit.datasets.download import DownloadError, download_file, user_cache_dir

ENVIRONMENT_VARIABLE = "MLPKIT_DATA"
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class IdxDataset:
    """Where an idx dataset lives: file names and checksums, addresses, system folder, class names."""

    name: str
    title: str
    files: dict[str, str]
    sha256: dict[str, str]
    urls: tuple[str, ...]
    class_names: tuple[str, ...]
    system_dir: Path | None = None
    debian_package: str | None = None


FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files={
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    },
    sha256={
        "train_images": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train_labels": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "test_images": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "test_labels": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    system_dir=Path("/usr/share/datasets/fashion-mnist"),
    debian_package="dataset-fashion-mnist",
)

MNIST = IdxDataset(
    name="mnist",
    title="MNIST",
    files=dict(FASHION_MNIST.files),
    sha256={
        "train_images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train_labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    urls=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    class_names=tuple(str(digit) for digit in range(10)),
)

IDX_DATASETS = {spec.name: spec for spec in (FASHION_MNIST, MNIST)}


# ---------------------------------------------------------------------- the idx format
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one idx file (gzipped when its name ends in ``.gz``) into a native-endian array."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        raise ValueError(f"{path}: not an idx file (bad magic number {data[:4].hex() or 'empty'})")
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise ValueError(f"{path}: idx header is truncated ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header_bytes != expected:
        raise ValueError(
            f"{path}: holds {len(data) - header_bytes} data bytes but its header announces shape "
            f"{shape}, that is {expected} bytes (truncated or corrupted)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_bytes).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: cannot be decompressed (truncated or corrupted?): {error}") from None


# ---------------------------------------------------------------------- finding the files
def candidate_dirs(spec: IdxDataset) -> list[Path]:
    """Folders searched, in order, for the dataset's files."""
    folders = []
    root = os.environ.get(ENVIRONMENT_VARIABLE)
    if root:
        folders += [Path(root) / spec.name, Path(root)]
    if spec.system_dir is not None:
        folders.append(spec.system_dir)
    folders.append(user_cache_dir() / spec.name)
    return folders


def _file_in(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_files(spec: IdxDataset) -> dict[str, Path] | None:
    """The four files from the first folder that holds all of them (gzipped or not), else None."""
    for folder in candidate_dirs(spec):
        found = {role: _file_in(folder, spec.files[role]) for role in ROLES}
        if all(found.values()):
            return found
    return None


def fetch_files(
    spec: IdxDataset, *, urls: tuple[str, ...] | None = None, progress: bool | None = None
) -> dict:
    """Download the files missing from the user cache (first address that works); return their paths."""
    folder = user_cache_dir() / spec.name
    paths, failures = {}, []
    for role in ROLES:
        destination = folder / spec.files[role]
        if not destination.is_file():
            _download_from_any(spec, role, destination, urls or spec.urls, progress, failures)
        paths[role] = destination
    return paths


def _download_from_any(spec, role, destination, urls, progress, failures) -> None:
    for base in urls:
        url = base.rstrip("/") + "/" + spec.files[role]
        try:
            download_file(url, destination, spec.sha256[role], progress=progress)
            return
        except DownloadError as error:
            failures.append(str(error))
    _remove_if_empty(destination.parent)
    raise DownloadError(_unavailable_message(spec, failures))


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _unavailable_message(spec: IdxDataset, failures: list[str]) -> str:
    searched = ", ".join(str(folder) for folder in candidate_dirs(spec))
    how = []
    if spec.debian_package:
        how.append(f"install Debian's package (sudo apt-get install {spec.debian_package})")
    how.append(
        f"download {', '.join(spec.files.values())} from {spec.urls[0]} into a folder and set "
        f"${ENVIRONMENT_VARIABLE} to that folder"
    )
    return (
        f"{spec.title} files not found (searched {searched}) and the download failed: {failures[-1]}. "
        f"To get them: {'; or '.join(how)}."
    )


# ---------------------------------------------------------------------- loading
def load_idx_dataset(
    name: str, *, download: bool = True, urls: tuple[str, ...] | None = None, progress: bool | None = None
) -> Dataset:
    """Fashion-MNIST or MNIST with its own 60000/10000 split: uint8 pixel rows ``(m, 784)``, int labels."""
    spec = IDX_DATASETS[name]
    paths = find_files(spec)
    if paths is None:
        if not download:
            raise DownloadError(_unavailable_message(spec, ["downloads are turned off"]))
        paths = fetch_files(spec, urls=urls, progress=progress)
    X_train, y_train = _images_and_labels(paths["train_images"], paths["train_labels"], spec)
    X_test, y_test = _images_and_labels(paths["test_images"], paths["test_labels"], spec)
    return Dataset(
        name=spec.name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        class_names=list(spec.class_names),
        # Pixels / 255 against standardized pixels, default network, seeds 0-5: the same test
        # accuracy within noise (0.8815 +- 0.0017 against 0.8824 +- 0.0040) and a lower, steadier
        # test loss (0.340 +- 0.006 against 0.383 +- 0.016).
        scaling="pixel",
        source=str(paths["train_images"].parent),
    )


def _images_and_labels(
    images_path: Path, labels_path: Path, spec: IdxDataset
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images (m, rows, columns), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{labels_path}: expected {images.shape[0]} labels, got shape {labels.shape}")
    n_classes = len(spec.class_names)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{labels_path}: labels must be in [0, {n_classes}), got [{labels.min()}, {labels.max()}]"
        )
    return images.reshape(images.shape[0], -1), labels.astype(np.int64)

"""The compiled step's thread pool (src/mlpkit/fast/_pool.h) once it serves numpy's OpenBLAS: the
products give the bits OpenBLAS's own threads gave, from several threads at once, and in a child
made by fork() (whose pool has no workers until it starts new ones)."""

import hashlib
import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mlpkit import DNN, Trainer
from mlpkit.fast import blas, kernels

pytestmark = pytest.mark.skipif(
    kernels._extension() is None or blas.thread_addresses() is None,
    reason="no pool here: the kernels are not built, MLPKIT_NUMPY_ONLY is set, or numpy's OpenBLAS "
    "is older than 0.3.27 (no threads callback) or not bundled",
)


def digest() -> str:
    """The bits of a float64 and a float32 product large enough for OpenBLAS to split over threads."""
    A, B = np.random.default_rng(0).standard_normal((2, 400, 400))
    products = (A @ B, A.astype(np.float32) @ B.astype(np.float32))
    return hashlib.sha256(b"".join(product.tobytes() for product in products)).hexdigest()


BEFORE_AND_AFTER = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from threadpoolctl import threadpool_limits
from mlpkit.fast import kernels
from test_blas_pool import digest
with threadpool_limits(limits=2, user_api="blas"):
    before = digest()
    assert kernels.install_pool()
    print(before == digest())
"""


def test_numpy_products_keep_their_bits_once_the_pool_serves_them():
    # a fresh process: OpenBLAS's own threads first, then the pool's
    command = [sys.executable, "-c", BEFORE_AND_AFTER]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread names are read from Linux's /proc")
def test_the_pool_runs_the_products_jobs():
    from threadpoolctl import threadpool_limits

    assert kernels.install_pool()
    with threadpool_limits(limits=2, user_api="blas"):
        digest()
    names = [path.read_text().strip() for path in Path("/proc/self/task").glob("*/comm")]
    assert "mlpkit-pool" in names


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_made_by_fork_multiplies_with_a_pool_of_its_own():
    assert kernels.install_pool()
    expected = digest()  # the parent's workers are running now; the child gets none of them
    with multiprocessing.get_context("fork").Pool(1) as children:
        assert children.apply_async(digest).get(timeout=120) == expected


def test_products_from_other_threads_while_a_network_trains(rng):
    assert kernels.install_pool()
    expected, results = digest(), []
    threads = [threading.Thread(target=lambda: results.extend(digest() for _ in range(5))) for _ in range(3)]
    for thread in threads:
        thread.start()
    sizes = [300, 120, 10]  # large enough for the step's own loops to go to the pool as well
    X = rng.standard_normal((sizes[0], 600))
    Y = np.eye(sizes[-1])[:, rng.integers(0, sizes[-1], 600)]
    net = DNN(sizes, "relu", "softmax", seed=0)
    Trainer(net, "adam", 0.01, batch_size=128, progress=False).fit(np.ascontiguousarray(X.T).T, Y, epochs=3)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert results == [expected] * 15
    assert np.isfinite(net.theta).all()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_products_on_any_number_of_threads_equal_a_float64_reference(threads):
    # more threads than cores: the pool starts a worker per job, as OpenBLAS starts a thread per job
    from threadpoolctl import threadpool_limits

    assert kernels.install_pool()
    A, B = np.random.default_rng(1).standard_normal((2, 500, 500))
    expected = np.einsum("ij,jk->ik", A, B)  # numpy's own loops, no BLAS
    with threadpool_limits(limits=threads, user_api="blas"):
        np.testing.assert_allclose(A @ B, expected, rtol=1e-10, atol=1e-10)
        product = A.astype(np.float32) @ B.astype(np.float32)
    np.testing.assert_allclose(product, expected, rtol=1e-3, atol=1e-3)

"""Downloads against an HTTP server started on 127.0.0.1: good file, wrong checksum, cut transfer, errors."""

import dataclasses
import gzip
import hashlib
import http.server
import socket
import struct
import threading

import numpy as np
import pytest

from mlpkit.datasets import FASHION_MNIST, DownloadError, download_file, load_dataset
from mlpkit.datasets import idx as idx_module

PAYLOAD = bytes(range(256)) * 300  # 76,800 bytes: several read chunks
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def fake_fashion_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (20, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx_gz(np.arange(20) % 10),
        "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (10, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_gz(np.arange(10)),
    }


class Handler(http.server.BaseHTTPRequestHandler):
    """/files/<name> serves ``server.files``; /cut sends less than it announces; /error is a 500."""

    def do_GET(self):  # noqa: N802 (the http.server API)
        self.server.requests.append(self.path)
        if self.path.startswith("/files/") and self.path[len("/files/") :] in self.server.files:
            self._send(self.server.files[self.path[len("/files/") :]])
        elif self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif self.path == "/error":
            self.send_error(500, "Internal Server Error")
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files = {"good.bin": PAYLOAD, **fake_fashion_files()}
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $MLPKIT_DATA, an empty system folder and a fresh user cache."""
    monkeypatch.delenv("MLPKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = dataclasses.replace(FASHION_MNIST, system_dir=tmp_path / "no-system-copy")
    monkeypatch.setitem(idx_module.IDX_DATASETS, "fashion-mnist", spec)
    return tmp_path / "cache" / "mlpkit" / "fashion-mnist"


def test_good_file_lands_complete(server, tmp_path):
    target = download_file(f"{server.url}/files/good.bin", tmp_path / "dl" / "good.bin", PAYLOAD_SHA256)
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in target.parent.iterdir()) == ["good.bin"]


@pytest.mark.parametrize(
    ("path", "sha256", "message"),
    [
        ("/files/good.bin", "0" * 64, f"checksum mismatch \\(SHA-256 {PAYLOAD_SHA256}, expected 0+\\)"),
        ("/cut", PAYLOAD_SHA256, "cut short"),
        ("/error", PAYLOAD_SHA256, "the server answered 500"),
        ("/missing", PAYLOAD_SHA256, "the server answered 404"),
    ],
)
def test_bad_download_leaves_nothing(server, tmp_path, path, sha256, message):
    folder = tmp_path / "dl"
    with pytest.raises(DownloadError, match=message):
        download_file(server.url + path, folder / "file.bin", sha256)
    assert list(folder.iterdir()) == []


def test_dataset_downloads_into_the_cache_then_reuses_it(server, isolated, monkeypatch):
    files = fake_fashion_files()
    sha256 = {role: hashlib.sha256(files[name]).hexdigest() for role, name in FASHION_MNIST.files.items()}
    spec = dataclasses.replace(idx_module.IDX_DATASETS["fashion-mnist"], sha256=sha256)
    monkeypatch.setitem(idx_module.IDX_DATASETS, "fashion-mnist", spec)
    data = idx_module.load_idx_dataset("fashion-mnist", urls=(f"{server.url}/files/",), progress=False)
    assert data.X_train.shape == (20, 784) and data.y_test.tolist() == list(range(10))
    assert sorted(p.name for p in isolated.iterdir()) == sorted(files)
    server.requests.clear()
    again = idx_module.load_idx_dataset("fashion-mnist", urls=(f"{server.url}/files/",), progress=False)
    assert server.requests == []
    np.testing.assert_array_equal(again.X_train, data.X_train)


def test_a_tampered_mirror_leaves_the_cache_empty(server, isolated):
    with pytest.raises(DownloadError, match="checksum mismatch"):
        idx_module.load_idx_dataset("fashion-mnist", urls=(f"{server.url}/files/",), progress=False)
    assert not isolated.exists() or list(isolated.iterdir()) == []


def test_no_network_error_says_how_to_get_the_files(isolated, closed_port):
    with pytest.raises(DownloadError) as caught:
        idx_module.load_idx_dataset(
            "fashion-mnist", urls=(f"http://127.0.0.1:{closed_port}/",), progress=False
        )
    message = str(caught.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in message
    assert "$MLPKIT_DATA" in message
    assert f"127.0.0.1:{closed_port}" in message  # the address that failed, and why
    assert not isolated.exists() or list(isolated.iterdir()) == []


def test_downloads_can_be_turned_off(isolated):
    with pytest.raises(DownloadError, match="downloads are turned off"):
        load_dataset("fashion-mnist", download=False)

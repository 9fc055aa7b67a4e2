"""Tests for earnet.data.download against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from earnet.data import download as dl
from earnet.data.download import RemoteFile, download_dataset, fetch
from earnet.exceptions import EarnetError, InputError


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def make_tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """Serves ``files`` (path -> bytes); records (path, Range header, status) per request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str | None, int]] = []
        self.honor_range = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                data = server.files.get(self.path)
                rng = self.headers.get("Range")
                if data is None:
                    return self._send(404, b"not found", rng)
                if rng and server.honor_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        return self._send(416, b"", rng, {"Content-Range": f"bytes */{len(data)}"})
                    headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
                    return self._send(206, data[start:], rng, headers)
                return self._send(200, data, rng)

            def _send(self, code: int, body: bytes, rng: str | None,
                      headers: dict[str, str] | None = None) -> None:
                server.log.append((self.path, rng, code))
                self.send_response(code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def add(self, name: str, data: bytes, sha256: str | None = "auto",
            extract_to: str = "") -> RemoteFile:
        self.files[f"/{name}"] = data
        digest = sha(data) if sha256 == "auto" else sha256
        return RemoteFile(f"{self.url}/{name}", name, digest, extract_to)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


CHASE = {
    "Image_01L.jpg": b"jpeg-01L",
    "Image_01L_1stHO.png": b"png-1st",
    "Image_01L_2ndHO.png": b"png-2nd",
}
STARE_IMAGES = {"im0001.ppm.gz": b"img1" * 100, "im0002.ppm.gz": b"img2" * 100}
HRF = {  # wrapped in a top folder, which must be stripped
    "all/images/01_h.jpg": b"hrf-image",
    "all/manual1/01_h.tif": b"hrf-manual",
    "all/mask/01_h_mask.tif": b"hrf-mask",
}


def no_leftovers(root: Path) -> None:
    assert not list(root.glob(".extract-*"))
    assert not list((root / ".downloads").glob("*.part"))


def test_full_download_checksum_and_layout(server: Server, tmp_path: Path) -> None:
    sources = {
        "chase_db1": [server.add("CHASEDB1.zip", make_zip(CHASE))],
        "stare": [
            server.add("stare-images.tar", make_tar(STARE_IMAGES), extract_to="stare-images"),
            server.add("labels-ah.tar", make_tar({"im0001.ah.ppm.gz": b"ah"}),
                       extract_to="labels-ah"),
        ],
        "hrf": [server.add("all.zip", make_zip(HRF))],
    }
    messages: list[str] = []
    for name in ("chase_db1", "stare", "hrf"):
        root = tmp_path / name
        assert download_dataset(name, root, sources=sources, progress=messages.append) == root
        no_leftovers(root)
    for member, data in CHASE.items():
        assert (tmp_path / "chase_db1" / member).read_bytes() == data
    assert (tmp_path / "chase_db1" / ".downloads" / "CHASEDB1.zip").is_file()
    stare = tmp_path / "stare"
    assert sorted(p.name for p in (stare / "stare-images").iterdir()) == sorted(STARE_IMAGES)
    assert (stare / "labels-ah" / "im0001.ah.ppm.gz").read_bytes() == b"ah"
    hrf = tmp_path / "hrf"
    assert (hrf / "images" / "01_h.jpg").read_bytes() == b"hrf-image"
    assert (hrf / "manual1" / "01_h.tif").is_file() and (hrf / "mask" / "01_h_mask.tif").is_file()
    assert not (hrf / "all").exists()
    assert any("/" in m and "B" in m for m in messages)  # "x KiB / y KiB" style progress


def test_resume_uses_range_request(server: Server, tmp_path: Path) -> None:
    data = make_tar({f"im{i:04d}.ppm.gz": bytes([i]) * 5000 for i in range(1, 6)})
    remote = server.add("stare-images.tar", data)
    downloads = tmp_path / ".downloads"
    downloads.mkdir()
    (downloads / "stare-images.tar.part").write_bytes(data[:1000])
    path = fetch(remote, downloads, timeout=5, progress=None)
    assert path.read_bytes() == data
    assert server.log == [("/stare-images.tar", "bytes=1000-", 206)]
    assert not (downloads / "stare-images.tar.part").exists()


def test_resume_restarts_when_server_ignores_range(server: Server, tmp_path: Path) -> None:
    server.honor_range = False
    data = make_zip(CHASE)
    remote = server.add("CHASEDB1.zip", data)
    (tmp_path / "CHASEDB1.zip.part").write_bytes(data[:10])
    assert fetch(remote, tmp_path, timeout=5, progress=None).read_bytes() == data
    assert server.log == [("/CHASEDB1.zip", "bytes=10-", 200)]


def test_complete_part_file_answered_416(server: Server, tmp_path: Path) -> None:
    data = make_zip(CHASE)
    remote = server.add("CHASEDB1.zip", data)
    (tmp_path / "CHASEDB1.zip.part").write_bytes(data)
    assert fetch(remote, tmp_path, timeout=5, progress=None).read_bytes() == data
    assert server.log[0][2] == 416


def test_checksum_mismatch_raises_and_leaves_no_file(server: Server, tmp_path: Path) -> None:
    remote = server.add("all.zip", make_zip(HRF), sha256="0" * 64)
    with pytest.raises(InputError) as info:
        download_dataset("hrf", tmp_path, sources={"hrf": [remote]}, progress=None)
    message = str(info.value)
    assert "all.zip" in message and "0" * 64 in message and sha(make_zip(HRF)) in message
    assert not list((tmp_path / ".downloads").iterdir())
    assert not (tmp_path / "images").exists()


def test_zip_slip_member_rejected(server: Server, tmp_path: Path) -> None:
    evil = make_zip({"images/ok.jpg": b"ok", "../evil.txt": b"pwned"})
    root = tmp_path / "root"
    with pytest.raises(InputError, match="evil.txt"):
        download_dataset("hrf", root, sources={"hrf": [server.add("all.zip", evil)]}, progress=None)
    assert not (tmp_path / "evil.txt").exists()
    assert not (root / "images").exists()
    no_leftovers(root)


@pytest.mark.parametrize("name", ["/etc/evil", "a/../../evil"])
def test_tar_slip_member_rejected(server: Server, tmp_path: Path, name: str) -> None:
    evil = make_tar({"im0001.ppm.gz": b"ok", name: b"pwned"})
    remote = server.add("stare-images.tar", evil, extract_to="stare-images")
    with pytest.raises(InputError, match="unsafe member"):
        download_dataset("stare", tmp_path, sources={"stare": [remote]}, progress=None)
    assert not (tmp_path / "stare-images").exists()
    no_leftovers(tmp_path)


def test_already_downloaded_archive_is_not_fetched_again(server: Server, tmp_path: Path) -> None:
    sources = {"chase_db1": [server.add("CHASEDB1.zip", make_zip(CHASE))]}
    download_dataset("chase_db1", tmp_path, sources=sources, progress=None)
    assert len(server.log) == 1
    (tmp_path / "Image_01L.jpg").unlink()
    messages: list[str] = []
    download_dataset("CHASE-DB1", tmp_path, sources=sources, progress=messages.append)
    assert len(server.log) == 1  # no second request
    assert (tmp_path / "Image_01L.jpg").read_bytes() == CHASE["Image_01L.jpg"]
    assert any("already downloaded" in m for m in messages)


def test_no_published_checksum_reports_computed_sha256(server: Server, tmp_path: Path) -> None:
    data = make_zip(CHASE)
    remote = server.add("CHASEDB1.zip", data, sha256=None)
    messages: list[str] = []
    download_dataset("chase_db1", tmp_path, sources={"chase_db1": [remote]},
                     progress=messages.append)
    assert any("no published checksum" in m and sha(data) in m for m in messages)


def test_network_error_is_one_clear_line(server: Server, tmp_path: Path) -> None:
    remote = RemoteFile(f"{server.url}/missing.zip", "missing.zip", None, "")
    with pytest.raises(EarnetError) as info:
        fetch(remote, tmp_path, timeout=5, progress=None)
    message = str(info.value)
    assert remote.url in message and "404" in message and "\n" not in message


def test_connection_refused_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = RemoteFile(f"http://127.0.0.1:{port}/CHASEDB1.zip", "CHASEDB1.zip", None, "")
    with pytest.raises(EarnetError, match="download failed: http://127.0.0.1") as info:
        fetch(remote, tmp_path, timeout=5, progress=None)
    assert "\n" not in str(info.value)


def test_drive_raises_with_instructions(tmp_path: Path) -> None:
    with pytest.raises(EarnetError) as info:
        download_dataset("drive", tmp_path, progress=None)
    message = str(info.value)
    assert "https://drive.grand-challenge.org/" in message and "regist" in message
    assert str(tmp_path / "training") in message or f"{tmp_path}/training" in message
    assert f"{tmp_path}/test" in message


def test_unknown_dataset_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(EarnetError) as info:
        download_dataset("nope", tmp_path, progress=None)
    for name in ("chase_db1", "drive", "hrf", "stare"):
        assert name in str(info.value)


def test_sources_table_is_well_formed() -> None:
    assert set(dl.SOURCES) == {"chase_db1", "stare", "hrf"}
    for remotes in dl.SOURCES.values():
        for remote in remotes:
            assert remote.url.startswith("https://") and remote.url.endswith(remote.filename)
            assert remote.sha256 is None or (len(remote.sha256) == 64
                                             and int(remote.sha256, 16) >= 0)
    assert [r.extract_to for r in dl.SOURCES["stare"]] == ["stare-images", "labels-ah", "labels-vk"]


def test_human_bytes() -> None:
    assert dl.human_bytes(512) == "512 B"
    assert dl.human_bytes(1536) == "1.5 KiB"
    assert dl.human_bytes(3 * 1024**3) == "3.0 GiB"


def test_not_an_archive_is_a_file_error(server: Server, tmp_path: Path) -> None:
    remote = server.add("all.zip", b"this is not an archive", sha256=None)
    with pytest.raises(InputError, match="neither a zip nor a tar"):
        download_dataset("hrf", tmp_path, sources={"hrf": [remote]}, progress=None)
    no_leftovers(tmp_path)

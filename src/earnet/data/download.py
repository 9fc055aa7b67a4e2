"""Download the public retinal datasets that have direct links, verified and resumable.

``download_dataset("stare", root)`` fetches every archive of a dataset into
``root/.downloads/`` (resuming an interrupted ``<file>.part`` with an HTTP ``Range``
request), checks its SHA-256, and extracts it safely into the official layout:

* ``chase_db1``: ``Image_01L.jpg``, ``Image_01L_1stHO.png``, ``Image_01L_2ndHO.png`` ... in ``root``
* ``stare``: ``root/stare-images``, ``root/labels-ah``, ``root/labels-vk`` (``*.ppm.gz`` as shipped)
* ``hrf``: ``root/images``, ``root/manual1``, ``root/mask``

DRIVE needs a registration, so ``download_dataset("drive", root)`` only explains how to
get it. Only the standard library is used.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from earnet.exceptions import EarnetError, InputError

Progress = Callable[[str], None] | None
_CHUNK = 1 << 16
_USER_AGENT = "earnet-downloader/0.1 (+python-urllib)"


@dataclass(frozen=True)
class RemoteFile:
    """One archive of a dataset.

    Attributes:
        url: Where to fetch it.
        filename: Name under ``root/.downloads/``.
        sha256: Lower-case hex SHA-256 of the archive, or ``None`` when no published
            checksum is known (the computed digest is then reported instead).
        extract_to: Folder of ``root`` the archive content goes into (``""`` for root).
    """

    url: str
    filename: str
    sha256: str | None
    extract_to: str


# Only checksums published in public code are recorded; the source is named next to each.
_STARE = "https://cecas.clemson.edu/~ahoover/stare/probing/"
SOURCES: dict[str, list[RemoteFile]] = {
    # sha256: github.com/orting/data-modules src/data_modules/retina/chase_data_module.py (same
    # URL; the md5 d9e47c4bac125b29996fae4380a68db1 of it also appears in public CHASE loaders).
    # The newer official page is https://researchdata.kingston.ac.uk/96/ (archive unverified).
    "chase_db1": [
        RemoteFile("https://staffnet.kingston.ac.uk/~ku15565/CHASE_DB1/assets/CHASEDB1.zip",
                   "CHASEDB1.zip",
                   "bb750b73633492d700e56d91578ee3cdb7e4dbd08279e7465583e9efd26790b6", ""),
    ],
    # sha256 of all three: github.com/constantinpape/torch-em torch_em/data/datasets/medical/
    # stare.py; labels-ah/-vk also in github.com/orting/data-modules .../stare_data_module.py.
    "stare": [
        RemoteFile(f"{_STARE}stare-images.tar", "stare-images.tar",
                   "5f7b509b6067cad4f1be84933145d783de9ec087b3eaaf4db0103dd0144dd433",
                   "stare-images"),
        RemoteFile(f"{_STARE}labels-ah.tar", "labels-ah.tar",
                   "ebf2f1e17ca955f24579d9edd990e2dae79a5c82def69f0985d8e24f826ddd2f", "labels-ah"),
        RemoteFile(f"{_STARE}labels-vk.tar", "labels-vk.tar",
                   "47474a701536b0cfdb369fdce012be36141e9f44d80387f0179446b5cb0f5576", "labels-vk"),
    ],
    # sha256: github.com/orting/data-modules src/data_modules/retina/hrf_data_module.py
    "hrf": [
        RemoteFile("https://www5.cs.fau.de/fileadmin/research/datasets/fundus-images/all.zip",
                   "all.zip",
                   "a914d02cda161b7f33f25d0397c276d50e9a6cbc705e9b364a54f0adafed57e4", ""),
    ],
}

_ALIASES = {"chasedb1": "chase_db1", "chase": "chase_db1"}

DRIVE_INSTRUCTIONS = (
    "DRIVE cannot be downloaded automatically: it requires a (free) registration. "
    "Register at https://drive.grand-challenge.org/ , download the training and test "
    "archives, and unpack them so that {root}/training/{{images,1st_manual,mask}} and "
    "{root}/test/{{images,mask}} (plus 1st_manual/2nd_manual when available) exist."
)


def human_bytes(n: float) -> str:
    """``512`` -> ``"512 B"``, ``1536`` -> ``"1.5 KiB"`` (up to GiB)."""
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.1f} {unit}"


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _verify(remote: RemoteFile, path: Path, progress: Progress) -> str | None:
    """``None`` when ``path`` matches ``remote.sha256`` (else its digest); reports the
    computed digest when no published checksum exists."""
    digest = sha256_of(path)
    if remote.sha256 is None:
        _say(progress, f"{remote.filename}: no published checksum is available; "
                       f"computed sha256 = {digest}")
        return None
    return None if digest == remote.sha256.lower() else digest


def _open(remote: RemoteFile, start: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": _USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(remote.url, headers=headers)
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    return response


def fetch(remote: RemoteFile, dest_dir: Path, timeout: float, progress: Progress) -> Path:
    """Download ``remote`` into ``dest_dir`` (resuming ``<filename>.part``) and verify it.

    Returns the path of the complete, verified archive. An archive already present and
    verified is not fetched again. Raises :class:`EarnetError` on network failures (the
    ``.part`` file is kept so that the next call resumes) and :class:`InputError` on a
    checksum mismatch (the bad file is deleted).
    """
    if not remote.url.startswith(("http://", "https://")):
        raise EarnetError(f"{remote.url}: only http(s) URLs are supported")
    final = dest_dir / remote.filename
    part = dest_dir / f"{remote.filename}.part"
    dest_dir.mkdir(parents=True, exist_ok=True)
    if final.is_file():
        if _verify(remote, final, progress) is None:
            _say(progress, f"{remote.filename}: already downloaded and verified")
            return final
        _say(progress, f"{remote.filename}: existing file fails its checksum; downloading again")
        final.unlink()

    start = part.stat().st_size if part.is_file() else 0
    try:
        try:
            response = _open(remote, start, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not start:  # 416: the .part already holds everything
                raise
            exc.close()
            response = None
        if response is not None:
            with response:
                status = response.status
                content_range = response.headers.get("Content-Range", "")
                if status == 206 and not content_range.startswith(f"bytes {start}-"):
                    part.unlink(missing_ok=True)
                    raise EarnetError(f"download failed: {remote.url}: the server sent an "
                                      f"unexpected range ({content_range!r}); run again")
                if start and status != 206:
                    _say(progress, f"{remote.filename}: server cannot resume; restarting")
                    start = 0  # the server ignored Range and sends the whole file
                length = response.headers.get("Content-Length")
                total = start + int(length) if length and length.isdigit() else None
                if start:
                    _say(progress, f"{remote.filename}: resuming at {human_bytes(start)}")
                _copy(response, part, start, total, remote, progress)
    except PermissionError:
        raise
    except (OSError, http.client.HTTPException) as exc:  # URLError and HTTPError included
        reason = exc if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        raise EarnetError(f"download failed: {remote.url}: {reason}") from exc

    digest = _verify(remote, part, progress)
    if digest is not None:
        part.unlink()
        raise InputError(final, f"checksum mismatch: expected sha256 {remote.sha256}, "
                                f"got {digest} (from {remote.url}); the partial file "
                                "was deleted, run the download again")
    os.replace(part, final)
    return final


def _copy(response: IO[bytes], part: Path, start: int, total: int | None,
          remote: RemoteFile, progress: Progress) -> None:
    """Append (or write from zero) the response body to ``part``, reporting progress."""
    done, last, shown = start, 0.0, -1

    def report() -> None:
        nonlocal shown
        shown = done
        of_total = f" / {human_bytes(total)} ({100 * done // total}%)" if total else ""
        _say(progress, f"{remote.filename}: {human_bytes(done)}{of_total}")

    with part.open("ab" if start else "wb") as out:
        while block := response.read(_CHUNK):
            out.write(block)
            done += len(block)
            if time.monotonic() - last >= 0.5:
                last = time.monotonic()
                report()
    if shown != done:
        report()
    if total is not None and done < total:
        raise EarnetError(f"download failed: {remote.url}: connection closed after "
                          f"{human_bytes(done)} of {human_bytes(total)}; run again to resume")


def _safe_parts(archive: Path, name: str) -> tuple[str, ...]:
    """The path components of member ``name``; rejects absolute and ``..`` paths."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(name).drive or PurePosixPath(posix).is_absolute():
        raise InputError(archive, f"unsafe member {name!r}: absolute path")
    parts = tuple(p for p in PurePosixPath(posix).parts if p not in ("", "."))
    if ".." in parts:
        raise InputError(archive, f"unsafe member {name!r}: '..' escapes the target folder")
    return parts


def _members(archive: Path) -> Iterator[tuple[tuple[str, ...], bool, Callable[[], IO[bytes]]]]:
    """Yield ``(parts, is_dir, open)`` for every member of a zip or tar archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                parts = _safe_parts(archive, info.filename)
                yield parts, info.is_dir(), functools.partial(zf.open, info)
        return
    try:
        tf = tarfile.open(archive, "r:*")  # noqa: SIM115 (closed by the `with` below)
    except tarfile.ReadError as exc:
        raise InputError(archive, "is neither a zip nor a tar archive") from exc
    with tf:
        for member in tf:
            parts = _safe_parts(archive, member.name)
            if not (member.isfile() or member.isdir()):
                raise InputError(archive, f"unsupported member {member.name!r} "
                                          "(links and special files are not extracted)")
            yield parts, member.isdir(), functools.partial(_tar_open, tf, member)


def _tar_open(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = tf.extractfile(member)
    if stream is None:
        raise InputError(os.fsdecode(tf.name or "archive"), f"cannot read member {member.name!r}")
    return stream


def _unwrap(folder: Path) -> Path:
    """Descend through single wrapping folders (``all/images/...`` -> ``images/...``)."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        folder = entries[0]


def _merge(src: Path, dst: Path) -> None:
    """Move the content of ``src`` into ``dst``, replacing files of the same name."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and target.is_dir():
            _merge(entry, target)
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)


def extract(archive: Path, root: Path, extract_to: str) -> Path:
    """Safely extract ``archive`` into ``root/extract_to`` and return that folder.

    Members are first written into a temporary folder inside ``root`` (so a failure
    leaves nothing behind), a single wrapping top folder is stripped, and the result is
    moved into place, replacing files of the same name.
    """
    target = root.joinpath(*_safe_parts(archive, extract_to)) if extract_to else root
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        for parts, is_dir, opener in _members(archive):
            if not parts or parts[0] == "__MACOSX":
                continue
            path = tmp.joinpath(*parts)
            if is_dir:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src, path.open("wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        _merge(_unwrap(tmp), target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError, NotImplementedError,
            zlib.error) as exc:
        raise InputError(archive, f"cannot extract: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_dataset(name: str, root: Path, *, sources: dict[str, list[RemoteFile]] | None = None,
                     progress: Progress = print, timeout: float = 60) -> Path:
    """Download, verify and extract dataset ``name`` into ``root``; return ``root``.

    ``sources`` replaces :data:`SOURCES` (tests, mirrors). Raises :class:`EarnetError`
    for an unknown name, for DRIVE (with instructions) and on network failures, and
    :class:`InputError` for file problems (checksum mismatch, unsafe archive member).
    """
    table = SOURCES if sources is None else sources
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    root = Path(root).expanduser()
    if key == "drive" and key not in table:
        raise EarnetError(DRIVE_INSTRUCTIONS.format(root=root))
    if key not in table:
        valid = ", ".join(sorted({*table, "drive"}))
        raise EarnetError(f"unknown dataset {name!r}; valid names: {valid}")
    if root.exists() and not root.is_dir():
        raise InputError(root, "exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        archives = [(fetch(r, root / ".downloads", timeout, progress), r) for r in table[key]]
        for archive, remote in archives:
            _say(progress, f"{remote.filename}: extracting into {root / remote.extract_to}")
            extract(archive, root, remote.extract_to)
    except PermissionError as exc:
        where = Path(os.fsdecode(exc.filename)) if exc.filename else root
        raise InputError(where, f"permission denied: {exc.strerror}") from exc
    _say(progress, f"{key}: ready in {root}")
    return root

"""Bad input thrown at every command: each gives one line naming the file, never a traceback,
never a half-done batch; and the attacks that were already refused stay refused."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import struct
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import earnet.io
from earnet.bundle import save_bundle
from earnet.cli.main import main
from earnet.data.synthetic_fundus import generate_fundus
from earnet.exceptions import EarnetError, InputError
from earnet.inference.loader import load_trained_model
from earnet.io import exclusive_folder, read_rgb
from earnet.manifest import read_manifest, write_manifest
from earnet.model_file import save_models
from earnet.models.registry import create_model
from earnet.segment import Segmenter

VALID = {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 120, "dataset": "synthetic"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_bundle(path, create_model("wnet"), None, VALID)
    return path


def _photo(path: Path, seed: int = 0, size: int = 160) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(generate_fundus(seed, size).image).save(path)
    return path


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` pixels but holds none (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


def _errors(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert not any("Traceback" in line for line in lines), err
    return [line for line in lines if line.startswith("earnet: error:")]


# --------------------------------------------------------------------------- one bad file, one line


@pytest.mark.parametrize("size", [(16000, 12000), (12000, 10001)])
def test_an_oversized_image_is_one_line_and_the_batch_goes_on(bundle: Path, tmp_path: Path, size: tuple[int, int],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    _photo(inputs / "a.png", 1)
    _png_header(inputs / "b_bomb.png", *size)
    _photo(inputs / "c.png", 2)
    out = tmp_path / "out"
    assert main(["segment", str(inputs), "--model", str(bundle), "--out", str(out), "--no-progress"]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "b_bomb.png" in errors[0] and "Mpx" in errors[0]
    assert read_manifest(out)["images"] == ["a", "c"]


def test_any_failure_is_reported_and_the_manifest_is_written_even_when_interrupted(
        bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    for index, name in enumerate(("a", "b", "c", "d")):
        _photo(inputs / f"{name}.png", index)
    original = Segmenter.segment
    calls = {"n": 0}

    def flaky(self: Segmenter, image: np.ndarray, fov: np.ndarray | None = None,  # noqa: ANN202
              attention: bool = True):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("something inside torch broke\nwith a second line")
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, image, fov, attention)

    monkeypatch.setattr(Segmenter, "segment", flaky)
    out = tmp_path / "out"
    assert main(["segment", str(inputs), "--model", str(bundle), "--out", str(out), "--no-progress"]) == 130
    errors = _errors(capsys.readouterr().err)
    assert errors == [f"earnet: error: {inputs / 'b.png'}: RuntimeError: something inside torch broke"]
    assert read_manifest(out)["images"] == ["a", "c"]


def test_gzip_bombs_and_garbage_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    buffer = io.BytesIO()
    Image.fromarray(generate_fundus(0, 160).image).save(buffer, format="PNG")
    big = tmp_path / "big.png.gz"
    big.write_bytes(gzip.compress(buffer.getvalue()))
    monkeypatch.setattr(earnet.io, "MAX_GZIP_BYTES", 1000)
    with pytest.raises(InputError, match=r"big\.png\.gz: decompresses to more than"):
        read_rgb(big)
    monkeypatch.undo()
    garbage = tmp_path / "garbage.png.gz"
    garbage.write_bytes(gzip.compress(b"not an image at all"))
    with pytest.raises(InputError, match=r"garbage\.png\.gz") as caught:
        read_rgb(garbage)
    assert "BytesIO" not in str(caught.value)


def test_pil_warnings_do_not_leak(tmp_path: Path) -> None:
    palette = Image.new("P", (40, 40))
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.info["transparency"] = b"\x00\xff"
    path = tmp_path / "transparent.png"
    palette.save(path, transparency=b"\x00\xff")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_rgb(path).shape == (40, 40, 3)


# --------------------------------------------------------------------------- bounded work


def test_unbounded_rescaling_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.safetensors"
    save_bundle(path, create_model("wnet"), None, {**VALID, "fov_diameter": 540})
    segmenter = Segmenter(path)
    image = np.zeros((2000, 2000, 3), np.uint8)
    fov = np.zeros((2000, 2000), bool)
    yy, xx = np.mgrid[:2000, :2000]
    fov[(yy - 1000) ** 2 + (xx - 1000) ** 2 <= 20 ** 2] = True  # a FOV 40 px wide: 13.5x to reach 540 px
    with pytest.raises(EarnetError, match="enlarge it 13.*at most 8x"):
        segmenter.segment(image, fov)
    # a FOV of the model's size (no rescaling) in a 9000x9000 frame: 81 Mpx of work
    wide = np.zeros((9000, 9000), bool)
    wide[4230:4770, 4230:4770] = True
    with pytest.raises(EarnetError, match="81 Mpx"):
        segmenter.working_scale((9000, 9000, 3), wide)


@pytest.mark.parametrize("flags, message", [
    (["--tile", "0"], "--tile must be"), (["--tile", "-5"], "--tile must be"), (["--tile", "1"], "--tile must be"),
    (["--device", "foo"], "--device"), (["--threshold", "nan"], "--threshold"), (["--threshold", "5"], "--threshold"),
])
def test_bad_flags_are_one_line(bundle: Path, tmp_path: Path, flags: list[str], message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "p.png")
    assert main(["segment", str(photo), "--model", str(bundle), "--out", str(tmp_path / "o"), *flags]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "o").exists()


def test_image_bytes_on_stdin_and_overlong_paths(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "p.png")

    class Stdin(io.TextIOWrapper):
        pass

    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(photo.read_bytes())))
    assert main(["segment", "-", "--model", str(bundle), "--out", str(tmp_path / "o1")]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "binary data" in errors[0]
    long = str(tmp_path / ("x" * 300 + ".png"))
    assert main(["segment", long, str(photo), "--model", str(bundle), "--out", str(tmp_path / "o2")]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "xxxx" in errors[0]
    assert read_manifest(tmp_path / "o2")["images"] == ["p"]


# --------------------------------------------------------------------------- bundle metadata


@pytest.mark.parametrize("change, message", [
    ({"threshold": 5}, "threshold 5"), ({"threshold": float("nan")}, "threshold nan"),
    ({"threshold": None}, "threshold"),
    ({"fov_diameter": -1}, "fov_diameter"), ({"fov_diameter": "wide"}, "fov_diameter"),
    ({"fov_diameter": float("inf")}, "fov_diameter"), ({"backbone": "resnet9000"}, "unknown backbone"),
    ({"refinement": "magic"}, "unknown refinement"),
])
def test_bundle_metadata_is_validated_on_load(tmp_path: Path, change: dict, message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.safetensors"
    meta = {"format": "earnet-bundle/1", "refinement": "none", "attention_weight": 0.5, **VALID, **change}
    save_models(path, {"stage1.": create_model("wnet")}, {k: v for k, v in meta.items() if v is not None})
    with pytest.raises(InputError, match=message) as caught:
        load_trained_model(path)
    assert str(path) in str(caught.value)
    photo = _photo(tmp_path / "p.png")
    assert main(["segment", str(photo), "--model", str(path), "--out", str(tmp_path / "o")]) == 2
    assert len(_errors(capsys.readouterr().err)) == 1 and not (tmp_path / "o").exists()


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    model = create_model("wnet")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    save_bundle(path, model, None, VALID)
    with pytest.raises(InputError, match="non-finite weights"):
        load_trained_model(path)


# --------------------------------------------------------------------------- concurrent writers, leftovers


def _write_ids(args: tuple[str, int]) -> None:
    folder, worker = args
    for index in range(15):
        write_manifest(Path(folder), 0.5, {"model": "m"}, [f"w{worker}_{index}"])


def test_concurrent_manifest_writers_lose_nothing(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_write_ids, [(str(tmp_path), worker) for worker in range(4)])
    assert len(read_manifest(tmp_path)["images"]) == 60


def test_a_second_writer_is_refused_and_leftovers_are_cleaned(bundle: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "in" / "p.png")
    out = tmp_path / "out"
    with exclusive_folder(out):
        assert main(["segment", str(photo), "--model", str(bundle), "--out", str(out)]) == 2
    assert "another earnet process" in capsys.readouterr().err
    stale = out / "sub" / ".p_prob.png.abc123.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"half a png")
    assert main(["segment", str(photo), "--model", str(bundle), "--out", str(out)]) == 0
    assert not stale.exists() and not list(out.rglob("*.tmp"))


def test_out_inside_the_input_folder_is_not_segmented_again(bundle: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    _photo(inputs / "a.png")
    out = inputs / "results"
    for _ in range(2):
        assert main(["segment", str(inputs), "--model", str(bundle), "--out", str(out), "--no-progress"]) == 0
        assert "1 image(s) segmented" in capsys.readouterr().out
    assert read_manifest(out)["images"] == ["a"] and not (out / "results").exists()


# --------------------------------------------------------------------------- refused attacks stay refused


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_checkpoint_is_refused_without_running(tmp_path: Path) -> None:
    from earnet.engine.loop import read_checkpoint as _read_checkpoint

    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "last.ckpt"
    checkpoint.write_bytes(pickle.dumps({"state_dict": {}, "x": _Payload(marker)}))
    with pytest.raises(InputError, match="last.ckpt"):
        _read_checkpoint(checkpoint)
    npy = tmp_path / "p.npy"
    np.save(npy, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="p.npy"):
        earnet.io.read_probability(npy)
    assert not marker.exists()


def test_a_yaml_config_cannot_run_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(f'epochs: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert main(["fit", "synthetic", "--out", str(tmp_path / "run"), "--config", str(config)]) == 2
    assert "evil.yaml" in capsys.readouterr().err and not marker.exists()

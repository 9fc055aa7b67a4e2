"""``earnet segment``, model bundles and the Python API, with a small untrained bundle."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from earnet.bundle import read_bundle_metadata, save_bundle
from earnet.cli.main import main
from earnet.data.synthetic_fundus import generate_fundus
from earnet.exceptions import EarnetError, InputError
from earnet.inference.loader import load_trained_model
from earnet.models.registry import create_model
from earnet.segment import Segmenter, load_segmenter


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_bundle(path, create_model("wnet"), create_model("wnet", refinement="correct"),
                {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 120, "dataset": "synthetic"})
    return path


def _photo(size: int = 160, seed: int = 0) -> np.ndarray:
    return generate_fundus(seed, size).image


def test_bundle_roundtrip_and_bad_files(bundle: Path, tmp_path: Path) -> None:
    trained = load_trained_model(bundle)
    assert trained.stage2 is not None and trained.stage2.refinement == "correct" and trained.fov_diameter == 120
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(bundle.read_bytes()[:200])
    with pytest.raises(InputError, match="corrupt.safetensors"):
        load_trained_model(corrupt)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(InputError, match="not an earnet model bundle"):
        read_bundle_metadata(foreign)
    with pytest.raises(EarnetError, match="unknown model"):
        load_trained_model("no_such_model")


def test_segmenter_rescales_to_the_training_fov_and_returns_full_size(bundle: Path) -> None:
    segmenter = Segmenter(bundle)
    photo = _photo(240)
    result = segmenter.segment(photo)
    assert result.probability.shape == photo.shape[:2] and result.probability.dtype == np.float32
    assert result.scale == pytest.approx(120 / 225, rel=0.1)
    assert (result.probability[~result.fov] == 0).all()
    assert result.error_attention is not None and result.error_attention.shape == photo.shape[:2]
    probability = load_segmenter(bundle)(photo)
    np.testing.assert_allclose(probability, result.probability, atol=1e-6)
    ms = Segmenter(bundle, tta="ms").segment(photo)
    assert ms.probability.shape == photo.shape[:2]
    with pytest.raises(EarnetError, match="field of view"):
        segmenter.segment(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(EarnetError, match="at least"):
        segmenter.segment(np.zeros((10, 300, 3), np.uint8))


def test_segmenter_keeps_photographs_already_at_the_training_scale(bundle: Path) -> None:
    from earnet.data.fov import derive_fov, fov_diameter
    from earnet.inference.predictor import Predictor

    segmenter = Segmenter(bundle)
    photo = _photo(240)
    segmenter.training_fov_diameter = fov_diameter(derive_fov(photo)) * 1.03
    result = segmenter.segment(photo)
    assert result.scale == 1.0
    trained = load_trained_model(bundle)
    direct = Predictor(trained.stage1, trained.stage2)(photo).probability
    direct[~result.fov] = 0
    np.testing.assert_allclose(result.probability, direct, atol=1e-6)
    segmenter.training_fov_diameter *= 1.1
    assert segmenter.segment(photo).scale > 1.05


def test_cli_segments_files_folders_and_reports_bad_ones(bundle: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    Image.fromarray(_photo(160, 1)).save(inputs / "a.jpg")
    Image.fromarray(_photo(160, 2)).convert("L").save(inputs / "sub" / "gray.png")
    Image.fromarray(_photo(160, 3)).convert("RGBA").save(inputs / "sub" / "rgba.png")
    Image.fromarray((_photo(160, 4)[..., 1].astype(np.uint16) * 257)).save(inputs / "sixteen.png")
    Image.fromarray(_photo(160, 5)).save(inputs / "phone.HEIC", quality=90)  # an iPhone's default format
    (inputs / "truncated.png").write_bytes((inputs / "a.jpg").read_bytes()[:300])
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(inputs / "tiny.png")
    out = tmp_path / "out"
    code = main(["segment", str(inputs), "--model", str(bundle), "--out", str(out), "--error-attention",
                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("earnet: error:")]
    assert len(errors) == 2 and any("truncated.png" in e for e in errors) and any("tiny.png" in e for e in errors)
    for stem in ("a", "sub/gray", "sub/rgba", "sixteen", "phone"):
        for suffix in ("prob", "mask", "overlay", "attention"):
            assert (out / f"{stem}_{suffix}.png").is_file(), f"{stem}_{suffix}"
    probability = np.asarray(Image.open(out / "a_prob.png"))
    assert probability.dtype == np.uint16 and probability.shape == (160, 160)
    assert "5 image(s) segmented" in captured.out
    assert not list(out.rglob("*.tmp")) and not (out / "truncated_prob.png").exists()


def test_cli_default_input_is_the_scikit_image_retina(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["segment", "--model", str(bundle), "--out", str(out)]) == 0
    overlay = np.asarray(Image.open(out / "skimage_retina_overlay.png"))
    assert overlay.shape == (1411, 1411, 3)


def test_cli_stdin_list_mask_and_bad_setup(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "p.png"
    Image.fromarray(_photo(160, 5)).save(photo)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{photo}\n"))
    assert main(["segment", "-", "--model", str(bundle), "--out", str(tmp_path / "o1")]) == 0
    mask = tmp_path / "m.png"
    Image.fromarray(np.full((160, 160), 255, np.uint8)).save(mask)
    assert main(["segment", str(photo), "--model", str(bundle), "--mask", str(mask), "--out",
                 str(tmp_path / "o2"), "--threshold", "0.3"]) == 0
    manifest = json.loads((tmp_path / "o2" / "predictions.json").read_text())
    assert manifest["threshold"] == 0.3 and manifest["images"] == ["p"]
    assert manifest["model"]["model"] == str(bundle) and manifest["model"]["dataset"] == "synthetic"
    capsys.readouterr()
    file_out = tmp_path / "file"
    file_out.write_text("x")
    assert main(["segment", str(photo), "--model", str(bundle), "--out", str(file_out)]) == 2
    assert "file" in capsys.readouterr().err
    assert main(["segment", str(photo), "--model", "nonexistent_model", "--out", str(tmp_path / "o3")]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_error_attention_with_a_one_stage_model_fails_before_writing(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    single = tmp_path / "single.safetensors"
    save_bundle(single, create_model("wnet"), None, {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 120})
    photo = tmp_path / "p.png"
    Image.fromarray(_photo(160, 6)).save(photo)
    out = tmp_path / "out"
    assert main(["segment", str(photo), "--model", str(single), "--out", str(out), "--error-attention"]) == 2
    assert "two-stage" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_manifest_names_images_by_path_under_out(bundle: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    Image.fromarray(_photo(160, 7)).save(inputs / "sub" / "b.png")
    Image.fromarray(_photo(160, 8)).save(inputs / "a.png")
    out = tmp_path / "out"
    assert main(["segment", str(inputs), "--model", str(bundle), "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "predictions.json").read_text())["images"] == ["a", "sub/b"]


@pytest.fixture(scope="module")
def flip_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "flip.safetensors"
    save_bundle(path, create_model("wnet"), None,
                {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 120, "dataset": "synthetic", "tta": "flip"})
    return path


def test_a_bundle_validated_with_flips_runs_them_unless_told_otherwise(flip_bundle: Path, bundle: Path) -> None:
    photo = _photo(160, 3)
    default, plain = load_segmenter(flip_bundle), load_segmenter(flip_bundle, tta="none")
    assert (default.tta, plain.tta, load_segmenter(bundle).tta) == ("flip", "none", "none")
    flipped = load_segmenter(flip_bundle, tta="flip").segment(photo).probability
    np.testing.assert_array_equal(default.segment(photo).probability, flipped)
    assert not np.array_equal(plain.segment(photo).probability, flipped)


def test_a_bundle_with_an_unknown_default_tta_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad_tta.safetensors"
    save_bundle(bad, create_model("wnet"), None, {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 120,
                                                  "tta": "ms"})
    with pytest.raises(InputError, match=r"bad_tta\.safetensors.*default tta 'ms'"):
        load_trained_model(bad)


def test_cli_records_the_tta_it_ran(flip_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(_photo(160, 4)).save(tmp_path / "a.png")
    for flags, expected in (([], "flip"), (["--tta", "none"], "none")):
        out = tmp_path / f"out-{expected}"
        assert main(["segment", str(tmp_path / "a.png"), "--model", str(flip_bundle), "--out", str(out),
                     "--no-progress", *flags]) == 0
        assert json.loads((out / "predictions.json").read_text())["settings"]["tta"] == expected
        assert f"TTA {expected})" in capsys.readouterr().out

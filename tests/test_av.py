"""Artery/vein: the RITE loader, A/V metrics, the A/V model and bundle, ``segment --av``, ``fit``/``evaluate rite``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_drive, shared_dataset
from PIL import Image

from earnet.av import ArteryVeinSegmenter, supports_av
from earnet.av_bundle import (
    add_av_to_bundle,
    load_av_model,
    load_bundle_av,
    save_av_model,
)
from earnet.av_metrics import (
    artery_share,
    av_counts,
    av_label_map,
    av_scores,
    label_counts,
)
from earnet.bundle import save_bundle
from earnet.cli.main import main
from earnet.data.check import check_dataset
from earnet.data.registry import get_dataset
from earnet.data.rite import (
    ARTERY,
    BACKGROUND,
    CROSSING,
    UNCERTAIN,
    VEIN,
    av_targets,
    read_av_label,
)
from earnet.data.synthetic_fundus import generate_fundus
from earnet.exceptions import InputError
from earnet.inference.av import AVPredictor
from earnet.inference.loader import load_trained_model
from earnet.models.av import AVWNet, create_av_model
from earnet.models.registry import create_model

RITE_RGB = {ARTERY: (255, 0, 0), VEIN: (0, 0, 255), CROSSING: (0, 255, 0), UNCERTAIN: (255, 255, 255)}


def av_classes(label: np.ndarray) -> np.ndarray:
    """A/V classes for a fake vessel label: left half artery, right half vein, a crossing and
    an uncertain pixel."""
    classes = np.zeros(label.shape, np.uint8)
    half = label.shape[1] // 2
    classes[:, :half][label[:, :half]] = ARTERY
    classes[:, half:][label[:, half:]] = VEIN
    ys, xs = np.nonzero(label)
    classes[ys[0], xs[0]] = CROSSING
    classes[ys[-1], xs[-1]] = UNCERTAIN
    return classes


def to_rgb(classes: np.ndarray) -> np.ndarray:
    rgb = np.zeros((*classes.shape, 3), np.uint8)
    for value, colour in RITE_RGB.items():
        rgb[classes == value] = colour
    return rgb


def make_rite(root: Path) -> dict[str, np.ndarray]:
    """DRIVE/ (fake) and RITE/ beside it; returns the A/V classes written, by id."""
    drive = make_drive(root / "DRIVE")
    written = {}
    for sample_id, label in drive.labels.items():
        folder = "training" if sample_id.endswith("training") else "test"
        written[sample_id] = av_classes(label)
        path = root / "RITE" / folder / "av" / f"{sample_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_rgb(written[sample_id])).save(path)
    return written


def test_rite_loader_reads_classes_splits_and_checks(tmp_path: Path) -> None:
    written = make_rite(tmp_path)
    train = get_dataset("rite", tmp_path, "train")
    test = get_dataset("rite", tmp_path / "RITE", "test")  # the RITE folder itself works too
    assert train.ids == ["21_training", "22_training", "23_training"] and len(test) == 3
    sample = train[0]
    np.testing.assert_array_equal(sample.av, written["21_training"])
    np.testing.assert_array_equal(sample.label, written["21_training"] != BACKGROUND)
    targets = av_targets(sample.av)
    crossing = sample.av == CROSSING
    assert targets["artery"][crossing].all() and targets["vein"][crossing].all()
    assert not targets["known"][sample.av == UNCERTAIN].any() and targets["vessel"][sample.av == UNCERTAIN].all()
    report = check_dataset("rite", tmp_path)
    assert report.count == 6 and not report.problems


def test_rite_bad_colours_and_sizes_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_rite(tmp_path)
    bad = tmp_path / "RITE" / "test" / "av" / "02_test.png"
    rgb = np.asarray(Image.open(bad)).copy()
    rgb[rgb.any(axis=-1)] = (200, 100, 0)
    Image.fromarray(rgb).save(bad)
    with pytest.raises(InputError, match="02_test.png.*colours outside RITE's code"):
        read_av_label(bad)
    assert main(["evaluate", "rite", "--root", str(tmp_path), "--predictions", str(tmp_path)]) == 2
    small = tmp_path / "RITE" / "test" / "av" / "03_test.png"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(small)
    report = check_dataset("rite", tmp_path)
    assert len(report.problems) == 2 and any("03_test.png: A/V label is 10x10" in p for p in report.problems)
    capsys.readouterr()
    assert main(["fit", "rite", "--root", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "02_test.png" in err[0] and not (tmp_path / "run").exists()


def test_a_few_off_code_pixels_are_read_as_uncertain(tmp_path: Path) -> None:
    classes = np.zeros((20, 20), np.uint8)
    classes[5, :] = ARTERY
    classes[:, 5] = VEIN
    rgb = to_rgb(classes)
    rgb[10, 5] = (0, 255, 255)  # a stray cyan pixel, as in the official release
    Image.fromarray(rgb).save(tmp_path / "a.png")
    read = read_av_label(tmp_path / "a.png")
    assert read[10, 5] == UNCERTAIN and (read[5, :] != BACKGROUND).all()


def test_av_metrics_count_the_protocols_pixels() -> None:
    reference = np.array([[ARTERY, ARTERY, VEIN, VEIN, CROSSING, UNCERTAIN, BACKGROUND, BACKGROUND]], np.uint8)
    artery = np.array([[0.9, 0.2, 0.3, 0.8, 0.9, 0.9, 0.1, 0.9]], np.float32)
    vein = np.array([[0.1, 0.6, 0.7, 0.1, 0.9, 0.1, 0.1, 0.2]], np.float32)
    vessel = np.array([[True, True, True, False, True, True, False, True]])
    fov = np.ones_like(vessel)
    predicted = av_label_map(artery, vein, vessel)
    assert predicted.tolist() == [[ARTERY, VEIN, VEIN, BACKGROUND, CROSSING, ARTERY, BACKGROUND, ARTERY]]
    counts = av_counts(artery, vein, predicted, reference, fov)
    # on reference A/V pixels: artery 0 right, artery 1 wrong, vein 2 right, vein 3 wrong (called artery)
    assert (counts["gt_tp"], counts["gt_fn"], counts["gt_tn"], counts["gt_fp"]) == (1, 1, 1, 1)
    # pixel 3 is not detected
    assert (counts["det_tp"], counts["det_fn"], counts["det_tn"], counts["det_fp"]) == (1, 1, 1, 0)
    scores = av_scores(counts)
    assert scores["acc"] == 0.5 and scores["sp_detected"] == 1.0 and scores["coverage"] == 0.75
    # artery map: predicted {0, 4, 7}, reference {0, 1, 4}; pixel 5 (uncertain) is not scored
    assert (counts["a_tp"], counts["a_fp"], counts["a_fn"]) == (2, 1, 1)
    assert scores["f1_artery"] == pytest.approx(2 / 3)
    assert np.isnan(av_scores({k: 0 for k in counts})["acc"])


def test_artery_share_counts_crossings_half() -> None:
    classes = np.array([[0, 1, 1, 2], [3, 3, 4, 0]], dtype=np.uint8)  # 4: uncertain, not a label
    counts = label_counts(classes)
    assert counts == {"artery": 2, "vein": 1, "crossing": 2}
    assert artery_share(counts) == pytest.approx((2 + 1) / 5)
    assert artery_share(label_counts(np.zeros((2, 2), np.uint8))) == 0.0


def test_av_model_shapes_and_predictor() -> None:
    torch.manual_seed(0)
    model = AVWNet(widths=(4, 8, 16, 32))
    out = model(torch.randn(2, 3, 37, 45))
    assert out.logits.shape == (2, 3, 37, 45) and out.aux_logits[0].shape == (2, 3, 37, 45)
    assert model.eval()(torch.randn(1, 3, 37, 45)).aux_logits == []
    maps = AVPredictor(model.eval(), bf16=False).predict_scaled(generate_fundus(0, 96).image, 0.7)
    for array in (maps.artery, maps.vein, maps.vessel):
        assert array.shape == (96, 96) and array.dtype == np.float32 and 0 <= array.min() <= array.max() <= 1
    assert sum(p.numel() for p in create_av_model("av_wnet").parameters()) < 300_000


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(vessel-only bundle, the same with an A/V model)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("weights")
    vessel = folder / "vessel.safetensors"
    save_bundle(vessel, create_model("wnet"), create_model("wnet", refinement="correct"),
                {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 120, "dataset": "synthetic"})
    av_file = folder / "av_model.safetensors"
    save_av_model(create_av_model("av_wnet"), av_file, {"backbone": "av_wnet", "fov_diameter": 120})
    model, meta = load_av_model(av_file)
    av = folder / "with_av.safetensors"
    add_av_to_bundle(vessel, model, {**meta, "dataset": "rite"}, av)
    return vessel, av


def test_av_bundle_keeps_the_vessel_part_and_adds_the_av_model(bundles: tuple[Path, Path]) -> None:
    vessel, av = bundles
    trained = load_trained_model(av)
    stage1, meta = trained.stage1, trained.metadata
    reference = load_trained_model(vessel).stage1.state_dict()
    assert all(torch.equal(stage1.state_dict()[k], v) for k, v in reference.items())
    assert meta["av"]["dataset"] == "rite" and supports_av(av) and not supports_av(vessel)
    model, av_meta = load_bundle_av(av)
    assert isinstance(model, AVWNet) and av_meta["fov_diameter"] == 120
    with pytest.raises(InputError, match="no artery/vein head"):
        load_bundle_av(vessel)
    with pytest.raises(InputError, match="no artery/vein head"):
        ArteryVeinSegmenter(vessel)


def test_av_segmenter_labels_exactly_the_vessel_mask(bundles: tuple[Path, Path]) -> None:
    segmenter = ArteryVeinSegmenter(bundles[1])
    photo = generate_fundus(1, 200).image
    result = segmenter.segment(photo)
    assert result.classes.shape == photo.shape[:2]
    np.testing.assert_array_equal(result.classes != BACKGROUND, result.vessels.mask)
    assert (result.artery[~result.vessels.fov] == 0).all() and result.seconds > 0
    assert set(np.unique(result.classes)) <= {BACKGROUND, ARTERY, VEIN, CROSSING}


def test_cli_segment_av_writes_maps_and_refuses_models_without_av(bundles: tuple[Path, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    vessel, av = bundles
    photo = tmp_path / "in" / "eye.png"
    photo.parent.mkdir()
    Image.fromarray(generate_fundus(2, 160).image).save(photo)
    refused = tmp_path / "refused"
    assert main(["segment", str(photo), "--model", str(vessel), "--av", "--out", str(refused)]) == 2
    assert "artery/vein head" in capsys.readouterr().err and not refused.exists()
    out = tmp_path / "out"
    assert main(["segment", str(photo), "--model", str(av), "--av", "--out", str(out)]) == 0
    for suffix in ("prob", "mask", "overlay", "av", "artery_prob", "vein_prob", "av_overlay"):
        assert (out / f"eye_{suffix}.png").is_file(), suffix
    artery = np.asarray(Image.open(out / "eye_artery_prob.png"))
    assert artery.dtype == np.uint16 and artery.shape == (160, 160)
    classes = read_av_label(out / "eye_av.png")  # RITE's colour code: readable as a label
    mask = np.asarray(Image.open(out / "eye_mask.png")) > 0
    np.testing.assert_array_equal(classes != BACKGROUND, mask)
    assert json.loads((out / "predictions.json").read_text())["settings"]["av"] is True


def test_fit_rite_then_evaluate_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_rite(tmp_path)
    run = tmp_path / "run"
    code = main(["fit", "rite", "--root", str(tmp_path), "--out", str(run), "--epochs", "1", "--crop", "32",
                 "--samples-per-epoch", "4", "--batch-size", "2", "--val-count", "1", "--no-progress",
                 "--accelerator", "cpu", "--backbone", "av_wnet", "--fov-diameter", "36"])
    assert code == 0
    assert "acc" in capsys.readouterr().out
    metrics = json.loads((run / "test" / "av" / "metrics.json").read_text())
    assert metrics["protocol"]["images"] == 3
    model, meta = load_av_model(run / "av" / "model.safetensors")
    assert meta["val_ids"] and meta["fov_diameter"] > 0
    out = tmp_path / "evaluation"
    assert main(["evaluate", "rite", "--root", str(tmp_path), "--predictions", str(run / "test" / "av" / "images"),
                 "--out", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["pooled"] == metrics["pooled"]
    # continuing from the weights (same validation images) works; from a vessel run it is refused
    more = ["fit", "rite", "--root", str(tmp_path), "--epochs", "1", "--crop", "32", "--samples-per-epoch", "2",
            "--batch-size", "2", "--val-count", "1", "--no-progress", "--accelerator", "cpu", "--backbone", "av_wnet",
            "--fov-diameter", "36", "--init", str(run / "av" / "model.safetensors")]
    assert main([*more, "--out", str(tmp_path / "run2")]) == 0
    assert load_av_model(tmp_path / "run2" / "av" / "model.safetensors")[1]["init"].endswith("model.safetensors")
    assert main([*more[:-2], "--init", "x.safetensors", "--out", str(tmp_path / "run3"), "--val-count", "2"]) == 2


def test_fit_rite_cascade_learns_on_its_vessel_models_probability(tmp_path: Path) -> None:
    make_rite(tmp_path)
    vessels = tmp_path / "vessels.safetensors"
    save_bundle(vessels, create_model("wnet"), None, {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 36,
                                                      "dataset": "synthetic"})
    run = tmp_path / "run"
    assert main(["fit", "rite", "--root", str(tmp_path), "--out", str(run), "--epochs", "1", "--crop", "32",
                 "--samples-per-epoch", "2", "--batch-size", "2", "--val-count", "1", "--no-progress",
                 "--accelerator", "cpu", "--fov-diameter", "36", "--av-vessel-model", str(vessels)]) == 0
    model, meta = load_av_model(run / "av" / "model.safetensors")
    assert model.vessel_input and meta["backbone"] == "av_cascade" and meta["vessel_model"] == str(vessels)
    assert json.loads((run / "test" / "av" / "metrics.json").read_text())["protocol"]["images"] == 3


def test_cascade_grows_a_full_resolution_head_from_its_trained_weights(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    make_rite(tmp_path)
    vessels = tmp_path / "vessels.safetensors"
    save_bundle(vessels, create_model("wnet"), None, {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 36,
                                                      "dataset": "synthetic"})
    common = ["fit", "rite", "--root", str(tmp_path), "--epochs", "1", "--crop", "32", "--samples-per-epoch", "2",
              "--batch-size", "2", "--val-count", "1", "--no-progress", "--accelerator", "cpu", "--fov-diameter", "36",
              "--av-vessel-model", str(vessels)]
    assert main([*common, "--out", str(tmp_path / "base")]) == 0
    base = tmp_path / "base" / "av" / "model.safetensors"
    assert main([*common, "--out", str(tmp_path / "grown"), "--backbone", "av_cascade_fullres", "--init", str(base)]) == 0
    grown, meta = load_av_model(tmp_path / "grown" / "av" / "model.safetensors")
    assert meta["backbone"] == "av_cascade_fullres" and grown.refine is not None
    # the other way round would drop trained weights: refused in one line
    assert main([*common, "--out", str(tmp_path / "back"), "--init",
                 str(tmp_path / "grown" / "av" / "model.safetensors")]) == 2
    assert "a av_cascade cannot start from it" in capsys.readouterr().err


def test_full_resolution_head_starts_at_the_models_own_maps() -> None:
    from earnet.models.av import create_av_model

    torch.manual_seed(0)
    base, grown = create_av_model("av_cascade").eval(), create_av_model("av_cascade_fullres").eval()
    missing, unexpected = grown.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(key.startswith("refine.") for key in missing)
    image, vessel = torch.randn(1, 3, 70, 90), torch.rand(1, 1, 70, 90)
    with torch.no_grad():
        torch.testing.assert_close(grown(image, vessel).logits, base(image, vessel).logits)
        torch.nn.init.normal_(grown.refine[-1].weight)  # once trained, the head changes the maps
        assert not torch.allclose(grown(image, vessel).logits, base(image, vessel).logits)


def test_recursive_refinement_reruns_the_second_unet_on_its_own_output() -> None:
    from earnet.models.av import create_av_model

    torch.manual_seed(0)
    base, recursive = create_av_model("av_cascade"), create_av_model("av_cascade_rr")
    recursive.load_state_dict(base.state_dict())  # same weights: a one-pass model grows into it
    image, vessel = torch.randn(1, 3, 70, 90), torch.rand(1, 1, 70, 90)
    with torch.no_grad():
        base.eval(), recursive.eval()
        once, twice = base(image, vessel), recursive(image, vessel)
        assert once.aux_logits == [] and twice.aux_logits == []  # no auxiliary maps at inference
        assert not torch.allclose(once.logits, twice.logits)
        x = torch.nn.functional.pad(torch.cat([image, vessel], 1), (0, 6, 0, 26), mode="replicate")  # to 96x96
        x = torch.nn.functional.avg_pool2d(x, 2)
        first, _ = base.first(x)
        second, _ = base.second(torch.cat([x, torch.sigmoid(first)], 1))
        third, _ = base.second(torch.cat([x, torch.sigmoid(second)], 1))
        expected = torch.nn.functional.interpolate(third, scale_factor=2, mode="bilinear")[..., :70, :90]
        torch.testing.assert_close(twice.logits, expected)
    train_out = recursive.train()(image, vessel)  # the first U-Net's and the first pass's maps are supervised too
    assert len(train_out.aux_logits) == 2 and train_out.aux_weights == [0.5, 0.5]
    with pytest.raises(ValueError, match="iterations"):
        AVWNet(iterations=0)


def test_map_refiner_grows_from_a_recursive_model_and_sees_only_the_maps() -> None:
    from earnet.models.av import GROWN_MODULES, create_av_model

    torch.manual_seed(0)
    base, grown = create_av_model("av_cascade_rr"), create_av_model("av_cascade_rr_maps")
    missing, unexpected = grown.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(GROWN_MODULES) for k in missing)
    image, vessel = torch.randn(1, 3, 70, 90), torch.rand(1, 1, 70, 90)
    with torch.no_grad():
        base.eval(), grown.eval()
        torch.testing.assert_close(grown(image, vessel).logits, base(image, vessel).logits)  # head starts at zero
        torch.nn.init.normal_(grown.topology.head.weight, std=0.1)
        changed = grown(image, vessel).logits
        assert not torch.allclose(changed, base(image, vessel).logits)
        # the refiner reads the maps, not the photograph: a different photograph with the same
        # maps gets the same correction
        x = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(torch.cat([image, vessel], 1), (0, 6, 0, 26),
                                                                   mode="replicate"), 2)
        first, _ = grown.first(x)
        maps = grown.second(torch.cat([x, torch.sigmoid(grown.second(torch.cat([x, torch.sigmoid(first)], 1))[0])], 1))[0]
        correction, _ = grown.topology(torch.sigmoid(maps))
        expected = torch.nn.functional.interpolate(maps + correction, scale_factor=2, mode="bilinear")[..., :70, :90]
        torch.testing.assert_close(changed, expected)
    assert len(grown.train()(image, vessel).aux_logits) == 3  # first U-Net, two passes, then the refiner's output


def test_real_rite_checks_clean() -> None:
    root = shared_dataset("RITE").parent
    shared_dataset("DRIVE")
    report = check_dataset("rite", root)
    assert report.count == 40 and report.split_sizes["test"] == 20 and not report.problems
    sample = get_dataset("rite", root, "test")[8]
    assert sample.id == "09_test" and (sample.av == UNCERTAIN).any()


def test_segment_vote_gives_each_segment_one_decision() -> None:
    from earnet.av_topology import segment_vote

    vessel = np.zeros((40, 60), bool)
    vessel[9:12, 2:58] = True   # a horizontal vessel ...
    vessel[28:31, 2:58] = True  # ... and a second one, not connected
    rng = np.random.default_rng(0)
    artery = np.where(vessel, 0.5 + rng.normal(0, 0.2, vessel.shape), 0).astype(np.float32)
    artery[9:12] += 0.15  # the first is an artery on average, with pixels voting either way
    artery[28:31] -= 0.15
    vein = np.where(vessel, 1 - artery, 0).astype(np.float32)
    assert len(np.unique((artery >= vein)[vessel])) == 2
    new_artery, new_vein = segment_vote(artery, vein, vessel)
    decided = new_artery >= new_vein
    assert decided[9:12, 2:58].all() and not decided[28:31, 2:58].any()
    # the maps are only swapped, never invented
    np.testing.assert_array_equal(np.sort(np.stack([new_artery, new_vein]), 0), np.sort(np.stack([artery, vein]), 0))


def test_shipped_av_bundle_has_test_metrics_and_runs() -> None:
    from earnet.av import DEFAULT_AV_MODEL
    from earnet.bundle import bundled_models

    if DEFAULT_AV_MODEL not in bundled_models():
        pytest.skip(f"{DEFAULT_AV_MODEL} is not bundled in this installation")
    segmenter = ArteryVeinSegmenter(DEFAULT_AV_MODEL)
    meta = segmenter.av_metadata
    assert meta["dataset"] == "rite" and 0 < meta["test_metrics"]["acc"] <= 1 and meta["fov_diameter"] > 500
    result = segmenter.segment(generate_fundus(3, 256).image)
    np.testing.assert_array_equal(result.classes != BACKGROUND, result.vessels.mask)


def test_av_training_images_at_a_smaller_scale_keep_soft_targets() -> None:
    from earnet.engine.av_fit import _tensors
    from earnet.types import Sample

    label = np.zeros((64, 64), bool)
    label[20:22, 4:60] = True  # a 2-px artery ...
    label[40, 4:60] = True     # ... and a 1-px vein
    classes = np.where(label, ARTERY, BACKGROUND).astype(np.uint8)
    classes[40] = np.where(label[40], VEIN, BACKGROUND)
    fov = np.zeros((64, 64), bool)
    fov[2:62, 2:62] = True
    sample = Sample("x", np.full((64, 64, 3), 128, np.uint8), label, fov, av=classes)
    assert _tensors(sample).image.shape == (3, 64, 64)
    half = _tensors(sample, 30.0)  # FOV 60 px wide -> 30: half the size
    assert half.image.shape == (3, 32, 32) and set(half.maps) == {"label", "fov", "artery", "vein", "known"}
    assert set(torch.unique(half.maps["fov"]).tolist()) == {0.0, 1.0}
    # the 1-px vein survives as a fraction (thresholding at 0.5 would drop it) and keeps its type
    vein_row = half.maps["vein"][:, 16]
    assert 0.2 < vein_row.max() < 0.8 and half.maps["artery"][18:22, 16].max() < 0.1
    assert half.maps["artery"][:, 16].max() > 0.6


def test_fit_rite_at_a_fov_diameter_records_it_and_validates_at_full_size(tmp_path: Path) -> None:
    make_rite(tmp_path)
    run = tmp_path / "run"
    assert main(["fit", "rite", "--root", str(tmp_path), "--out", str(run), "--epochs", "1", "--crop", "32",
                 "--samples-per-epoch", "4", "--batch-size", "2", "--val-count", "1", "--no-progress",
                 "--accelerator", "cpu", "--fov-diameter", "60", "--backbone", "av_wnet"]) == 0
    _, meta = load_av_model(run / "av" / "model.safetensors")
    assert meta["fov_diameter"] == 60.0
    # the run's test maps are at the photographs' own size
    sample = get_dataset("rite", tmp_path, "test")[0]
    assert np.asarray(Image.open(run / "test" / "av" / "images" / f"{sample.id}_artery_prob.png")).shape == sample.fov.shape


def _segment_vote_before(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first (slower) segment vote, with scipy's generic filters: the reference of the fast one."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    skeleton = skeletonize(vessel)
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]]),
                                  mode="constant")
    segments = skeleton & ~ndimage.binary_dilation(skeleton & (neighbours >= 3), structure=np.ones((3, 3), bool))
    labels, count = ndimage.label(segments, structure=np.ones((3, 3), bool))
    votes = ndimage.mean((artery - vein).astype(np.float64), labels, index=np.arange(1, count + 1))
    segment_is_artery = np.concatenate([[False], np.asarray(votes) >= 0])
    _, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    swap = segment_is_artery[labels[rows, cols]] != (artery >= vein)
    return np.where(swap, vein, artery), np.where(swap, artery, vein)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_segment_vote_equals_the_reference(seed: int) -> None:
    from scipy import ndimage

    from earnet.av_topology import dilate3, neighbour_count, segment_vote

    fundus = generate_fundus(seed, 192)
    vessel = fundus.label.astype(bool)
    vessel[0, :] = vessel[:, -1] = True  # vessels touching the border
    rng = np.random.default_rng(seed)
    artery = rng.random(vessel.shape).astype(np.float32)
    vein = rng.random(vessel.shape).astype(np.float32)
    for new, old in zip(segment_vote(artery, vein, vessel), _segment_vote_before(artery, vein, vessel)):
        np.testing.assert_array_equal(new, old)
    mask = rng.random((30, 40)) < 0.3
    kernel = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
    np.testing.assert_array_equal(neighbour_count(mask), ndimage.convolve(mask.astype(np.uint8), kernel, mode="constant"))
    np.testing.assert_array_equal(dilate3(mask), ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool)))


def test_thin_vessels_are_the_narrow_reference_vessels() -> None:
    from earnet.data.rite import thin_vessels, vessel_half_width

    av = np.zeros((40, 60), np.uint8)
    av[10, 5:55] = ARTERY  # 1 px wide
    av[22:31, 5:55] = VEIN  # 9 px wide
    thin = thin_vessels(av)
    assert thin[10, 5:55].all() and not thin[22:31, 20:40].any() and not thin[av == BACKGROUND].any()
    assert vessel_half_width(av)[26, 30] == pytest.approx(5.0) and vessel_half_width(av)[0, 0] == 0


"""``earnet measure``: outputs, units, progress and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from earnet.cli.main import main
from earnet.data.synthetic_fundus import generate_fundus
from earnet.defaults import DEFAULT_MODEL


def band_mask(h: int = 120, w: int = 140, rows: tuple[int, ...] = (40,), width: int = 5) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    for row in rows:
        mask[row:row + width, 10:w - 10] = True
    return mask


def save(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array.astype(np.uint8) * 255 if array.dtype == bool else array
    Image.fromarray(data).save(path)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_masks_with_fov_folder_pixel_size_and_pictures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save(band_mask(width=5), tmp_path / "masks" / "a.png")
    save(band_mask(rows=(30, 80), width=3), tmp_path / "masks" / "b_prob.png")
    fov = np.ones((120, 140), dtype=bool)
    save(fov, tmp_path / "fov" / "a_mask.png")
    save(fov, tmp_path / "fov" / "b.png")
    out = tmp_path / "out"
    code = main(["measure", "--masks", str(tmp_path / "masks"), "--fov", str(tmp_path / "fov"),
                 "--pixel-size", "10", "--out", str(out)])
    assert code == 0
    rows = read_csv(out / "measurements.csv")
    assert [Path(r["image"]).name for r in rows] == ["a.png", "b_prob.png"]
    header = list(rows[0])
    assert all(h in ("image", "fov") or h.endswith("]") for h in header)  # every measure names its unit
    assert "calibre [px]" in header and "calibre [µm]" in header and "curvature [rad/mm]" in header
    a, b = rows
    assert float(a["calibre [px]"]) == pytest.approx(5, abs=0.5)
    assert float(a["calibre [µm]"]) == pytest.approx(10 * float(a["calibre [px]"]), rel=1e-4)
    assert float(a["skeleton_length [mm]"]) == pytest.approx(float(a["skeleton_length [px]"]) * 0.01, rel=1e-4)
    assert int(a["segments [count]"]) == 1 and int(b["segments [count]"]) == 2
    assert float(a["vessel_density [fraction]"]) == pytest.approx(5 * 120 / (120 * 140))
    document = json.loads((out / "measurements.json").read_text())
    segment = document["images"][0]["segments"][0]
    assert segment["kind"] == "end-end" and segment["calibre_um"] == pytest.approx(10 * segment["calibre_px"], abs=0.02)
    assert document["images"][0]["box_counting"]["box_sizes_px"] == [2, 4, 8, 16]  # up to 120 // 4
    assert (out / "a_measure.png").is_file() and (out / "b_measure.png").is_file()  # _prob dropped
    picture = np.asarray(Image.open(out / "a_measure.png").convert("RGB"))
    assert picture.shape[1] == 140 and picture.shape[0] > 120 and picture.ndim == 3
    # the one segment is coloured from the scale, its two ends are white dots, the mask around it gray
    colours = {tuple(c) for c in picture[:120].reshape(-1, 3)}
    assert {(0, 0, 0), (70, 70, 70), (255, 255, 255)} <= colours
    assert len(colours - {(0, 0, 0), (70, 70, 70), (255, 255, 255)}) == 1
    assert "0/2" in capsys.readouterr().err  # a folder shows progress


def test_probability_maps_need_a_threshold(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    probability = (band_mask() * 200 + 30).astype(np.uint8)
    probability[0, 0] = 90
    path = save(probability, tmp_path / "p.png")
    out = tmp_path / "out"
    assert main(["measure", "--masks", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(path) in error and "--threshold" in error
    assert not out.exists()
    assert main(["measure", "--masks", str(path), "--threshold", "0.5", "--out", str(out), "--no-pictures"]) == 0
    row = read_csv(out / "measurements.csv")[0]
    assert row["fov"] == "whole image" and float(row["calibre [px]"]) == pytest.approx(5, abs=0.5)


@pytest.mark.parametrize("problem", ["size", "missing", "degrees"])
def test_bad_fov_is_one_line_and_no_csv(tmp_path: Path, capsys: pytest.CaptureFixture, problem: str) -> None:
    good = save(band_mask(), tmp_path / "masks" / "a.png")
    bad = save(band_mask(), tmp_path / "masks" / "b.png")
    save(np.ones((120, 140), dtype=bool), tmp_path / "fov" / "a.png")
    if problem == "size":
        save(np.ones((100, 140), dtype=bool), tmp_path / "fov" / "b.png")
    args = ["measure", "--masks", str(good), str(bad), "--out", str(tmp_path / "out")]
    args += ["--fov-degrees", "45"] if problem == "degrees" else ["--fov", str(tmp_path / "fov")]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("earnet: error: ") and error.count("\n") == 0
    assert ("b.png" in error) if problem != "degrees" else ("--fov" in error)
    assert not (tmp_path / "out" / "measurements.csv").exists()


def test_empty_mask_gives_defined_values(tmp_path: Path) -> None:
    path = save(np.zeros((64, 64), dtype=bool), tmp_path / "empty.png")
    out = tmp_path / "out"
    assert main(["measure", "--masks", str(path), "--out", str(out)]) == 0
    row = read_csv(out / "measurements.csv")[0]
    assert row["vessel_density [fraction]"] == "0" and row["segments [count]"] == "0"
    assert row["calibre [px]"] == "" and row["fractal_dimension_vessels [-]"] == ""
    detail = json.loads((out / "measurements.json").read_text())["images"][0]
    assert detail["calibre [px]"] is None and detail["segments"] == []


def test_av_maps_give_crae_crve_and_avr(tmp_path: Path) -> None:
    mask = band_mask(h=160, w=200, rows=(30,), width=4) | band_mask(h=160, w=200, rows=(100,), width=7)
    av = np.zeros((160, 200, 3), dtype=np.uint8)
    av[30:34, 10:190] = (255, 0, 0)
    av[100:107, 10:190] = (0, 0, 255)
    save(mask, tmp_path / "masks" / "eye.png")
    save(av, tmp_path / "av" / "eye_av.png")
    out = tmp_path / "out"
    assert main(["measure", "--masks", str(tmp_path / "masks"), "--av-maps", str(tmp_path / "av"),
                 "--out", str(out), "--colour-by", "tortuosity"]) == 0
    row = read_csv(out / "measurements.csv")[0]
    assert float(row["artery_calibre [px]"]) == pytest.approx(4, abs=0.5)
    assert float(row["vein_calibre [px]"]) == pytest.approx(7, abs=0.5)
    assert float(row["crae [px]"]) == pytest.approx(float(row["artery_calibre [px]"]))  # one artery: itself
    assert float(row["avr [-]"]) == pytest.approx(float(row["crae [px]"]) / float(row["crve [px]"]))
    assert row["crae_segments [count]"] == "1"
    document = json.loads((out / "measurements.json").read_text())
    assert "zone B" in document["settings"]["region"]
    assert sorted(s["type"] for s in document["images"][0]["segments"]) == ["artery", "vein"]


def test_missing_av_map_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = save(band_mask(), tmp_path / "eye.png")
    (tmp_path / "av").mkdir()
    assert main(["measure", "--masks", str(path), "--av-maps", str(tmp_path / "av"), "--out", str(tmp_path / "o")]) == 2
    assert "no A/V map" in capsys.readouterr().err


def test_photograph_is_segmented_with_the_bundled_model(tmp_path: Path) -> None:
    photo = save(generate_fundus(2, 200).image, tmp_path / "photo.png")
    out = tmp_path / "out"
    assert main(["measure", str(photo), "--out", str(out), "--fov-degrees", "45"]) == 0
    row = read_csv(out / "measurements.csv")[0]
    assert row["fov"] == "detected" and float(row["pixel_size [µm/px]"]) > 0
    assert 0.02 < float(row["vessel_density [fraction]"]) < 0.3
    assert int(row["segments [count]"]) > 5
    assert (out / "photo_mask.png").is_file() and (out / "photo_measure.png").is_file()
    assert json.loads((out / "measurements.json").read_text())["settings"]["model"] == DEFAULT_MODEL


def test_photograph_with_av_gives_what_segment_av_then_measure_give(tmp_path: Path) -> None:
    """``measure PHOTO --av`` labels arteries and veins itself: the same CRAE/CRVE/AVR as
    ``segment --av`` followed by ``measure --masks ... --av-maps ...``."""
    photo = save(generate_fundus(5, 256).image, tmp_path / "photo.png")
    out = tmp_path / "out"
    assert main(["measure", str(photo), "--av", "--out", str(out), "--no-progress"]) == 0
    row = read_csv(out / "measurements.csv")[0]
    assert (out / "photo_av.png").is_file() and (out / "photo_mask.png").is_file()
    settings = json.loads((out / "measurements.json").read_text())["settings"]
    assert settings["model"] == "drive_av" and settings["av_maps"] == "labelled with drive_av"
    segmented = tmp_path / "segmented"
    assert main(["segment", str(photo), "--av", "--out", str(segmented), "--no-progress"]) == 0
    assert (out / "photo_av.png").read_bytes() == (segmented / "photo_av.png").read_bytes()
    two_step = tmp_path / "two_step"
    # no FOV file (segment writes none): the vessels lie inside the detected FOV anyway
    assert main(["measure", "--masks", str(segmented / "photo_mask.png"), "--av-maps", str(segmented),
                 "--out", str(two_step), "--no-pictures"]) == 0
    expected = read_csv(two_step / "measurements.csv")[0]
    for column in ("crae [px]", "crve [px]", "avr [-]", "artery_calibre [px]", "vein_calibre [px]"):
        assert column in row and row[column] == expected[column], column


@pytest.mark.parametrize("extra,words", [
    (["--masks"], "--av labels photographs"),
    (["--av-maps", "."], "either --av"),
    (["--model", "drive"], "--av needs a model with an artery/vein head; drive has none"),
])
def test_av_option_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str],
                                       words: str) -> None:
    photo = save(generate_fundus(1, 128).image, tmp_path / "photo.png")
    assert main(["measure", str(photo), "--av", "--out", str(tmp_path / "out"), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert words in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_segment_output_folder_is_measured_once_per_photograph(tmp_path: Path) -> None:
    folder = tmp_path / "segmentation"
    mask = band_mask()
    save(mask, folder / "eye_mask.png")
    save((mask * 60000).astype(np.uint16), folder / "eye_prob.png")
    save(np.zeros((120, 140, 3), dtype=np.uint8) + 90, folder / "eye_overlay.png")
    for threshold in ([], ["--threshold", "0.5"]):
        out = tmp_path / f"out{len(threshold)}"
        assert main(["measure", "--masks", str(folder), "--out", str(out), "--no-pictures", *threshold]) == 0
        rows = read_csv(out / "measurements.csv")
        expected = "eye_prob.png" if threshold else "eye_mask.png"
        assert [Path(r["image"]).name for r in rows] == [expected]


def test_paths_from_stdin_and_av_map_of_another_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    import io

    first = save(band_mask(), tmp_path / "one.png")
    second = save(band_mask(rows=(60,)), tmp_path / "two.png")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{first}\n\n{second}\n"))
    out = tmp_path / "out"
    assert main(["measure", "--masks", "-", "--out", str(out), "--no-pictures", "--no-progress"]) == 0
    assert len(read_csv(out / "measurements.csv")) == 2
    save(np.zeros((10, 10, 3), dtype=np.uint8), tmp_path / "av" / "one_av.png")
    save(np.zeros((10, 10, 3), dtype=np.uint8), tmp_path / "av" / "two_av.png")
    out = tmp_path / "out2"
    assert main(["measure", "--masks", str(first), "--av-maps", str(tmp_path / "av"), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "one_av.png" in error and "10x10" in error and not out.exists()


def test_picture_colours_are_matplotlibs_viridis() -> None:
    from matplotlib import colormaps

    from earnet.measure import picture

    expected = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(picture._lut(), expected)
    scale = picture.palette()[len(picture.FIXED):]
    np.testing.assert_array_equal(scale[[0, -1]], expected[[0, -1]])  # the scale runs from end to end
    assert [tuple(c) for c in picture.palette()[:len(picture.FIXED)]] == list(picture.FIXED)

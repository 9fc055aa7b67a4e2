"""``earnet measure`` on real labels: RITE's artery/vein maps and DRIVE's two observers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_dataset

from earnet.io import read_binary, read_rgb
from earnet.measure import measure_vessels
from earnet.measure.avmap import av_classes

pytestmark = pytest.mark.data


def test_rite_arteries_are_narrower_than_veins() -> None:
    rite, drive = shared_dataset("RITE"), shared_dataset("DRIVE")
    avr = []
    for number in (1, 2, 3, 4):
        rgb = read_rgb(rite / "test" / "av" / f"{number:02d}_test.png")
        fov = read_binary(drive / "test" / "mask" / f"{number:02d}_test_mask.gif", "FOV mask")
        result = measure_vessels(rgb.max(axis=2) > 127, fov, av_classes=av_classes(rgb))
        summary = result.summary()
        assert summary["artery_calibre"] < summary["vein_calibre"]
        assert summary["crae_segments"] == 6 and summary["crve_segments"] == 6
        avr.append(summary["avr"])
    # Zone-B AVR in adults is ~0.65-0.75; from the widest segments anywhere it stays below 1
    assert 0.5 < np.mean(avr) < 1.0


def test_drive_observers_agree() -> None:
    drive = shared_dataset("DRIVE") / "test"
    for number in (1, 2):
        fov = read_binary(drive / "mask" / f"{number:02d}_test_mask.gif", "FOV mask")
        first = measure_vessels(read_binary(drive / "1st_manual" / f"{number:02d}_manual1.gif"), fov).summary()
        second = measure_vessels(read_binary(drive / "2nd_manual" / f"{number:02d}_manual2.gif"), fov).summary()
        assert abs(first["fractal_dimension_vessels"] - second["fractal_dimension_vessels"]) < 0.06
        assert first["distance_factor"] == pytest.approx(second["distance_factor"], abs=0.03)
        assert first["vessel_density"] == pytest.approx(second["vessel_density"], rel=0.25)

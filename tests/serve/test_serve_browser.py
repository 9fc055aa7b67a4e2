"""The page in a real browser: headless Debian Chromium driven by Playwright.

Uploads scikit-image's retina photograph to ``earnet serve``, checks the overlay is
shown at the photograph's size, moves the threshold slider, and compares the masks the
page downloads with ``earnet segment``'s: they must be identical.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from serve_helpers import CHROMIUM_FLAGS, chromium_path, serve

from earnet.io import read_binary

pytest.importorskip("uvicorn", reason="earnet serve's extras are not installed (pip install -e '.[dev]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium binary (apt-get install chromium); .ci/run installs it")
    return path


MODEL = "drive"
"""A two-stage model, so the page also shows an error-attention panel."""


def _retina(folder: Path) -> Path:
    """scikit-image's retina photograph as a PNG in ``folder``."""
    from skimage.data import retina

    photo = folder / "retina.png"
    Image.fromarray(np.asarray(retina())[..., :3]).save(photo)
    return photo


@contextlib.contextmanager
def _page(chromium: str) -> Iterator[tuple[Any, list[str]]]:
    """``earnet serve --model MODEL`` open in Chromium: ``(page, JavaScript errors seen)``."""
    with serve("--model", MODEL) as (url, _), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#model option", state="attached")
        yield page, problems
        browser.close()


def _segment_cli(photo, out, *extra: str) -> np.ndarray:  # noqa: ANN001
    """``earnet segment PHOTO --out OUT EXTRA`` (in this process: the same code, without a second torch start-up)."""
    from earnet.cli.main import main

    assert main(["segment", str(photo), "--out", str(out), "--no-progress", "--model", MODEL, *extra]) == 0
    return np.asarray(Image.open(out / f"{photo.stem}_mask.png"))


def test_page_segments_and_rebinarises(tmp_path, chromium) -> None:  # noqa: ANN001
    photo = _retina(tmp_path)
    width, height = Image.open(photo).size
    with _page(chromium) as (page, problems):
        notes = tmp_path / "notes.txt"
        notes.write_text("not a photograph\n")
        page.set_input_files("#file-input", str(notes))
        page.wait_for_selector("#files li.error", timeout=60_000)
        assert page.text_content("#error").startswith("notes.txt: not a photograph in a supported format (JPEG")
        assert page.is_visible("#error")

        page.set_input_files("#file-input", str(photo))
        page.wait_for_selector("#files li.done", timeout=60_000)
        assert not page.is_visible("#error")

        overlay = page.locator("#panel-overlay canvas")
        assert overlay.is_visible()
        assert overlay.evaluate("c => [c.width, c.height]") == [width, height]
        box = overlay.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100  # drawn, not collapsed

        def download(button: str, name: str):  # noqa: ANN202
            with page.expect_download() as info:
                page.click(button)
            target = tmp_path / name
            info.value.save_as(target)
            return target

        assert page.is_visible("#panel-attention canvas")  # the drive model has error attention
        model_threshold = page.evaluate("() => state.current.result.model_threshold")
        assert abs(float(page.input_value("#threshold")) - model_threshold) < 1e-3

        # zoom on one view: every view follows
        viewport = page.locator("#panel-photo .viewport").bounding_box()
        assert viewport is not None
        transforms = "() => [...document.querySelectorAll('.viewport canvas')].map(c => c.style.transform)"
        fitted = page.evaluate(transforms)
        page.mouse.move(viewport["x"] + viewport["width"] / 3, viewport["y"] + viewport["height"] / 3)
        page.mouse.wheel(0, -300)
        page.wait_for_function(f"() => document.querySelector('.viewport canvas').style.transform !== {fitted[0]!r}")
        zoomed = page.evaluate(transforms)
        assert len(set(zoomed)) == 1 and zoomed[0] != fitted[0]

        default_mask = download("#download-mask", "page_default_mask.png")
        mask_sum = "() => { const d = document.querySelector('#panel-mask canvas').getContext('2d')" \
                   ".getImageData(0, 0, %d, %d).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 0; return n; }" % (width, height)
        before = page.evaluate(mask_sum)
        fraction_before = page.text_content("#vessel-fraction")

        page.locator("#threshold").scroll_into_view_if_needed()
        slider = page.locator("#threshold").bounding_box()
        assert slider is not None
        x, y = slider["x"] + 0.25 * slider["width"], slider["y"] + slider["height"] / 2
        page.mouse.click(x, y)
        threshold = page.evaluate("() => Number(document.querySelector('#threshold').value)")
        assert 0.15 < threshold < 0.35
        after = page.evaluate(mask_sum)
        assert after > before, "a lower threshold must mark more pixels as vessel"
        assert page.text_content("#vessel-fraction") != fraction_before
        moved_mask = download("#download-mask", "page_moved_mask.png")
        numbers = json.loads(download("#download-json", "numbers.json").read_text())
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert not problems, problems

    cli_default = _segment_cli(photo, tmp_path / "cli_default")
    cli_moved = _segment_cli(photo, tmp_path / "cli_moved", "--threshold", repr(threshold))
    assert (tmp_path / "page.png").stat().st_size > 10_000
    # the default mask is the server's PNG, byte for byte what `earnet segment` writes
    assert default_mask.read_bytes() == (tmp_path / "cli_default" / "retina_mask.png").read_bytes()
    # the moved mask is binarised and encoded by the page itself
    page_moved = Image.open(moved_mask)
    assert page_moved.mode == "L" and page_moved.size == (width, height)
    assert np.array_equal(np.asarray(page_moved), cli_moved)
    assert np.array_equal(read_binary(moved_mask), cli_moved > 0)
    assert not np.array_equal(cli_moved, cli_default)
    assert numbers["threshold"] == threshold and numbers["model"] == MODEL
    assert numbers["measurements"]["vessel_pixels"] == int((cli_moved > 0).sum())


def test_page_labels_arteries_and_veins(tmp_path, chromium) -> None:
    """Ticking "Arteries and veins" picks the A/V model; the page shows and downloads what
    ``earnet segment --av`` writes, byte for byte."""
    from earnet.cli.main import main

    photo = _retina(tmp_path)
    with _page(chromium) as (page, problems):
        assert page.input_value("#model") == MODEL
        page.check("#av")
        assert page.input_value("#model") == "drive_av"  # the box chose a model with an A/V head
        page.set_input_files("#file-input", str(photo))
        page.wait_for_selector("#files li.done", timeout=120_000)
        assert not page.is_visible("#error")
        assert page.is_visible("#panel-av canvas") and page.is_visible("#panel-av-overlay canvas")
        saved = {}
        for button in ("#download-av", "#download-av-overlay", "#download-artery", "#download-vein"):
            with page.expect_download() as info:
                page.click(button)
            saved[info.value.suggested_filename] = tmp_path / info.value.suggested_filename
            info.value.save_as(saved[info.value.suggested_filename])
        assert "artery share" in page.text_content("#measurements")
        page.select_option("#model", MODEL)  # a model without an A/V head clears the box
        assert not page.is_checked("#av")
        assert not problems, problems

    out = tmp_path / "cli"
    assert main(["segment", str(photo), "--out", str(out), "--no-progress", "--av"]) == 0
    assert sorted(saved) == ["retina_artery_prob.png", "retina_av.png", "retina_av_overlay.png", "retina_vein_prob.png"]
    for name, path in saved.items():
        assert path.read_bytes() == (out / name).read_bytes(), name

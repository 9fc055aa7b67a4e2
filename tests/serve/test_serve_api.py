"""``earnet serve``'s HTTP API through the framework's test client: every route, every
error status, the limits, and concurrent requests against a bounded pool."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import threading

import numpy as np
import pytest
from conftest import fake_fundus
from PIL import Image
from serve_helpers import rss_bytes

from earnet.io import png_bytes, probability_to_uint16
from earnet.viz import overlay

httpx = pytest.importorskip("httpx", reason="httpx is not installed (pip install -e '.[dev]')")
pytest.importorskip("starlette", reason="earnet serve's extras are not installed (pip install -e '.[dev]')")

from earnet.serve import ServeConfig, create_app  # noqa: E402
from earnet.serve.models import ModelCache  # noqa: E402

SIDE = 160


@pytest.fixture(scope="module")
def models() -> ModelCache:
    """One model cache (each model loaded once) shared by every app in this module."""
    return ModelCache("drive")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return fake_fundus(3, SIDE, SIDE)[0]


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def call(app, method: str, url: str, **kwargs):  # noqa: ANN001, ANN201
    async def go():  # noqa: ANN202
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def post(app, data: bytes, name: str = "photo.png", content_type: str = "image/png", **fields):  # noqa: ANN001, ANN201
    return call(app, "POST", "/api/segment", files={"image": (name, data, content_type)}, data=fields)


def app_with(models: ModelCache, **config):  # noqa: ANN003, ANN201
    return create_app(ServeConfig(**config), models=models)


def assert_error(response, status: int, words: str) -> None:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == status and words in body["error"], body


# --------------------------------------------------------------------------- routes


def test_page_is_one_self_contained_html_file(models) -> None:  # noqa: ANN001
    response = call(app_with(models), "GET", "/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert "<script>" in page and "<style>" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page  # no CDN, nothing external


def test_healthz_and_models(models) -> None:  # noqa: ANN001
    app = app_with(models, workers=2, queue=3)
    health = call(app, "GET", "/healthz")
    assert health.status_code == 200 and health.headers["content-type"] == "application/json"
    assert health.json()["status"] == "ok" and health.json()["capacity"] == 5
    assert "drive/none" in health.json()["models_loaded"]
    listing = call(app, "GET", "/api/models").json()
    names = [m["name"] for m in listing["models"]]
    assert listing["default"] == "drive" and names[0] == "drive" and {"all", "stare", "chase_db1"} <= set(names)
    drive = listing["models"][0]
    assert drive["default"] and 0 < drive["threshold"] < 1 and drive["error_attention"] is True
    assert listing["tta"] == ["none", "flip", "ms"] and listing["limits"]["queue"] == 3


def test_segment_answers_what_earnet_segment_writes(models, photo) -> None:  # noqa: ANN001
    response = post(models_app := app_with(models), encode(photo), include="probability_f32")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    segmenter = models.get("drive")
    expected = segmenter.segment(photo)
    assert body["model"] == "drive" and body["tta"] == "none" and body["name"] == "photo.png"
    assert (body["width"], body["height"]) == (SIDE, SIDE)
    assert body["threshold"] == body["model_threshold"] == segmenter.threshold
    png = {key: base64.b64decode(value) for key, value in body["png"].items()}
    # byte for byte the files `earnet segment` writes (same encoder, same arrays)
    assert png["mask"] == png_bytes(expected.mask)
    assert png["probability"] == png_bytes(probability_to_uint16(expected.probability))
    assert png["overlay"] == png_bytes(overlay(photo, expected.mask))
    assert png["error_attention"] == png_bytes(np.round(expected.error_attention * 255).astype(np.uint8))
    probability = np.frombuffer(base64.b64decode(body["probability_f32"]), "<f4").reshape(SIDE, SIDE)
    assert np.array_equal(probability, expected.probability)
    assert body["measurements"]["vessel_fraction"] == pytest.approx(expected.vessel_fraction, abs=1e-12)
    assert body["measurements"]["fov_pixels"] == int(expected.fov.sum())
    assert set(body["seconds"]) >= {"decode", "segment", "encode", "total"}
    assert "photo_png" not in body
    del models_app


def test_threshold_model_tta_and_photo(models, photo) -> None:  # noqa: ANN001
    app = app_with(models)
    body = post(app, encode(photo), threshold="0.2", model="stare", tta="flip", include="photo").json()
    expected = models.get("stare", "flip").segment(photo)
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["png"]["mask"])))) > 0
    assert body["threshold"] == 0.2 and body["model"] == "stare" and body["tta"] == "flip"
    assert np.array_equal(mask, expected.probability >= 0.2)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(body["photo_png"])))), photo)


def test_av_answers_what_earnet_segment_av_writes(models, photo) -> None:
    from earnet.av_evaluate import av_colour_map
    from earnet.data.rite import ARTERY, CROSSING, VEIN
    from earnet.viz import av_overlay

    app = app_with(models)
    body = post(app, encode(photo), model="drive_av", av="true").json()
    assert body["av"] is True and body["model"] == "drive_av"
    expected = models.get_av("drive_av").segment(photo)
    png = {key: base64.b64decode(value) for key, value in body["png"].items() if value}
    colours = av_colour_map(expected.classes)
    assert png["av"] == png_bytes(colours)
    assert png["artery_probability"] == png_bytes(probability_to_uint16(expected.artery))
    assert png["vein_probability"] == png_bytes(probability_to_uint16(expected.vein))
    assert png["av_overlay"] == png_bytes(av_overlay(photo, colours))
    assert png["mask"] == png_bytes(expected.vessels.mask)  # the A/V bundle's own vessel mask
    numbers = body["measurements"]
    assert numbers["artery_pixels"] == int((expected.classes == ARTERY).sum())
    assert numbers["vein_pixels"] == int((expected.classes == VEIN).sum())
    assert numbers["crossing_pixels"] == int((expected.classes == CROSSING).sum())
    assert 0 <= numbers["artery_share"] <= 1
    # at a client's threshold the labels follow that threshold's mask
    low = post(app, encode(photo), model="drive_av", av="1", threshold="0.2").json()
    classes = np.asarray(Image.open(io.BytesIO(base64.b64decode(low["png"]["av"])))).any(axis=-1)
    assert np.array_equal(classes, expected.vessels.probability >= 0.2)
    # without av nothing of it is sent
    plain = post(app, encode(photo), model="drive_av").json()
    assert plain["av"] is False and "av" not in plain["png"] and "artery_share" not in plain["measurements"]
    listing = {m["name"]: m for m in call(app, "GET", "/api/models").json()["models"]}
    assert listing["drive_av"]["av"] is True and listing["drive"]["av"] is False
    assert 0.5 < listing["drive_av"]["av_test_accuracy"] < 1


def test_av_is_refused_for_a_model_without_an_av_head(models, photo) -> None:
    app = app_with(models)
    assert_error(post(app, encode(photo), av="true"), 400, "model 'drive' has no artery/vein head; for arteries "
                                                           "and veins choose drive_av")
    assert_error(post(app, encode(photo), model="drive_av", av="maybe"), 400, "av must be true or false")


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "PPM", "BMP", "WEBP", "HEIF"])
def test_accepted_formats(models, photo, fmt: str) -> None:  # noqa: ANN001
    response = post(app_with(models), encode(photo, fmt), name=f"x.{fmt.lower()}", content_type="application/octet-stream")
    assert response.status_code == 200, response.text


def test_exif_orientation_is_applied(models, photo) -> None:  # noqa: ANN001
    """A phone JPEG stored sideways with a rotation tag comes back as the browser shows it."""
    image = Image.fromarray(np.rot90(photo, 1).copy())
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": undoes the rot90 above
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    body = post(app_with(models), buffer.getvalue(), include="photo").json()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(body["photo_png"])))), photo)


def test_client_file_name_is_only_displayed(models, photo) -> None:  # noqa: ANN001
    body = post(app_with(models), encode(photo), name="../../etc/passwd<script>.png").json()
    assert body["name"] == "passwd_script_.png"


# --------------------------------------------------------------------------- errors


def test_bad_images_are_400(models, photo) -> None:  # noqa: ANN001
    app = app_with(models)
    truncated = encode(photo)[:300]
    response = post(app, truncated, name="cut.png")
    assert_error(response, 400, "cut.png: cannot decode the image")
    assert response.json()["name"] == "cut.png"
    assert_error(post(app, encode(np.zeros((64, 64, 3), np.uint8)), name="black.png"), 400, "no field of view")
    assert_error(post(app, encode(photo[:20, :20])), 400, "at least")
    assert_error(post(app, b"", name="empty.png"), 400, "empty")


def test_bad_requests_are_400(models, photo) -> None:  # noqa: ANN001
    app = app_with(models)
    data = encode(photo)
    assert_error(call(app, "POST", "/api/segment", data={"model": "drive"}, files={"other": ("a", b"x")}), 400,
                 "field 'image'")
    assert_error(call(app, "POST", "/api/segment", content=data, headers={"content-type": "image/png"}), 400,
                 "multipart/form-data")
    assert_error(post(app, data, threshold="1.5"), 400, "(0, 1]")
    assert_error(post(app, data, threshold="abc"), 400, "number")
    assert_error(post(app, data, model="nope"), 400, "unknown model 'nope'")
    assert_error(post(app, data, model="../weights/drive.safetensors"), 400, "unknown model")  # never a path
    assert_error(post(app, data, tta="x"), 400, "unknown tta")
    assert_error(post(app, data, include="everything"), 400, "unknown include")
    two = call(app, "POST", "/api/segment", files=[("image", ("a.png", data)), ("image", ("b.png", data))])
    assert_error(two, 400, "malformed multipart")


def test_unsupported_types_are_415(models, photo) -> None:  # noqa: ANN001
    app = app_with(models)
    assert_error(post(app, b"just some text\n", name="notes.txt", content_type="text/plain"), 415, "not a photograph")
    assert_error(post(app, encode(photo, "GIF"), name="x.gif"), 415, "GIF images are not supported")


def test_size_limits_are_413(models, photo) -> None:  # noqa: ANN001
    app = app_with(models, max_upload_bytes=64 * 1024, max_pixels=SIDE * SIDE - 1)
    big = np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8)
    assert_error(post(app, encode(big)), 413, "upload larger than the limit")

    async def chunks():  # noqa: ANN202  (no Content-Length: the cap applies while reading)
        yield b'--abc\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(20):
            yield b"x" * 8192

    headers = {"content-type": "multipart/form-data; boundary=abc"}
    assert_error(call(app, "POST", "/api/segment", content=chunks(), headers=headers), 413, "upload larger")
    assert_error(post(app, encode(photo)), 413, "megapixels")


def test_unknown_routes_and_methods_are_json(models) -> None:  # noqa: ANN001
    app = app_with(models)
    assert_error(call(app, "GET", "/nothing"), 404, "Not Found")
    assert_error(call(app, "GET", "/api/segment"), 405, "Method Not Allowed")


def test_no_cors_and_cross_origin_posts_refused(models, photo) -> None:  # noqa: ANN001
    app = app_with(models)
    response = call(app, "GET", "/api/models", headers={"origin": "https://elsewhere.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = call(app, "OPTIONS", "/api/segment", headers={"origin": "https://elsewhere.example",
                                                               "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    foreign = call(app, "POST", "/api/segment", files={"image": ("a.png", encode(photo))},
        headers={"origin": "https://elsewhere.example"})
    assert_error(foreign, 403, "cross-origin")
    same = call(app, "POST", "/api/segment", files={"image": ("a.png", encode(photo))},
                headers={"origin": "http://testserver"})
    assert same.status_code == 200


def test_slow_request_gets_504_and_frees_its_slot(models, photo) -> None:  # noqa: ANN001
    app = app_with(models, timeout_s=0.001)
    assert_error(post(app, encode(photo)), 504, "no answer within")
    pool = app.state.service.pool
    for _ in range(200):  # the running job finishes in the background, then gives its slot back
        if pool.active == 0:
            break
        threading.Event().wait(0.05)
    assert pool.active == 0


# --------------------------------------------------------------------------- load


def test_32_concurrent_requests_against_2_workers(models, photo) -> None:  # noqa: ANN001
    app = app_with(models, workers=2, queue=2)
    data = encode(photo)

    async def burst():  # noqa: ANN202
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            requests = [client.post("/api/segment", files={"image": ("p.png", data, "image/png")}) for _ in range(32)]
            return await asyncio.wait_for(asyncio.gather(*requests), timeout=180)

    rss_before = rss_bytes(os.getpid())
    responses = asyncio.run(burst())
    grown = rss_bytes(os.getpid()) - rss_before
    assert grown < 200 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB"
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 2 and statuses.count(503) >= 1
    for response in responses:
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) >= 1 and "busy" in response.json()["error"]
    pool = app.state.service.pool
    assert pool.peak <= pool.capacity == 4  # never more photographs in memory than workers + queue
    assert pool.active == 0


def test_each_model_is_loaded_once(monkeypatch, photo) -> None:  # noqa: ANN001
    import earnet

    loads: list[tuple[str, str]] = []
    real = earnet.load_segmenter

    def counting(model, device="cpu", tta="none"):  # noqa: ANN001, ANN202
        loads.append((model, tta))
        return real(model, device=device, tta=tta)

    monkeypatch.setattr(earnet, "load_segmenter", counting, raising=False)
    cache = ModelCache("drive")
    app = create_app(ServeConfig(workers=2), models=cache)
    for _ in range(3):
        assert post(app, encode(photo)).status_code == 200
        assert post(app, encode(photo), tta="flip").status_code == 200
    assert sorted(loads) == [("drive", "flip"), ("drive", "none")]


def test_answer_is_json_serialisable_numbers(models, photo) -> None:  # noqa: ANN001
    body = post(app_with(models), encode(photo)).json()
    json.dumps(body)
    assert isinstance(body["measurements"]["vessel_pixels"], int)


def test_operator_bundle_is_offered_by_file_name(tmp_path, photo) -> None:  # noqa: ANN001
    import shutil

    from earnet.bundle import bundled_models

    mine = tmp_path / "my_model.safetensors"
    shutil.copy(bundled_models()["drive"], mine)
    cache = ModelCache(str(mine))
    assert cache.names[0] == "my_model.safetensors" and "drive" in cache.names
    app = create_app(ServeConfig(model=str(mine)), models=cache)
    assert call(app, "GET", "/api/models").json()["default"] == "my_model.safetensors"
    body = post(app, encode(photo)).json()
    assert body["model"] == "my_model.safetensors"
    assert_error(post(app, encode(photo), model=str(mine)), 400, "unknown model")  # the path itself is not a name


def test_a_model_runs_its_own_tta_unless_the_client_asks(tmp_path, photo) -> None:  # noqa: ANN001
    from earnet.bundle import save_bundle
    from earnet.models.registry import create_model

    mine = save_bundle(tmp_path / "flips.safetensors", create_model("wnet"), None,
                       {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 540, "tta": "flip"})
    cache = ModelCache(str(mine))
    assert cache.check(None, None) == ("flips.safetensors", "flip")
    assert cache.check(None, "") == ("flips.safetensors", "flip")
    assert cache.check(None, "none") == ("flips.safetensors", "none")
    assert cache.check("drive", None) == ("drive", "none")
    listed = {m["name"]: m["tta"] for m in call(create_app(ServeConfig(model=str(mine)), models=cache),
                                                 "GET", "/api/models").json()["models"]}
    assert listed["flips.safetensors"] == "flip" and listed["drive"] == "none"
    body = post(create_app(ServeConfig(model=str(mine)), models=cache), encode(photo)).json()
    assert body["model"] == "flips.safetensors" and body["tta"] == "flip"

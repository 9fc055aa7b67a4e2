"""Soak: 200 sequential requests to a running ``earnet serve`` leave its memory flat and
no temporary files behind (slow: about a minute on 2 cores)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from conftest import fake_fundus
from serve_helpers import rss_bytes, serve

httpx = pytest.importorskip("httpx", reason="httpx is not installed (pip install -e '.[dev]')")
pytest.importorskip("uvicorn", reason="earnet serve's extras are not installed (pip install -e '.[dev]')")

REQUESTS = 200
WARM_UP = 20
RSS_GROWTH_LIMIT = 16 * 2**20


@pytest.mark.slow
def test_200_sequential_requests_keep_memory_flat_and_leave_no_files(tmp_path) -> None:  # noqa: ANN001
    server_tmp = tmp_path / "tmp"
    server_tmp.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(fake_fundus(5, 256, 256)[0]).save(buffer, format="PNG")
    with serve(env={"TMPDIR": str(server_tmp)}) as (url, process), httpx.Client(base_url=url, timeout=120) as client:
        rss = []
        for index in range(REQUESTS):
            response = client.post("/api/segment", files={"image": ("p.png", buffer.getvalue(), "image/png")},
                                   data={"include": "probability_f32"})
            assert response.status_code == 200, response.text
            if index + 1 in (WARM_UP, REQUESTS):
                rss.append(rss_bytes(process.pid))
        assert client.get("/healthz").json()["completed"] == REQUESTS
    growth = rss[1] - rss[0]
    print(f"RSS after {WARM_UP} requests {rss[0] / 2**20:.1f} MiB, after {REQUESTS} {rss[1] / 2**20:.1f} MiB")
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB over {REQUESTS - WARM_UP} requests"
    assert list(server_tmp.iterdir()) == []

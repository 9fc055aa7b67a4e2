"""Soak: 200 sequential requests to a running ``earnet serve`` leave its memory flat and
no temporary files behind (slow: about a minute on 2 cores)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import fake_fundus
from PIL import Image
from serve_helpers import rss_bytes, serve

httpx = pytest.importorskip("httpx", reason="httpx is not installed (pip install -e '.[dev]')")
pytest.importorskip("uvicorn", reason="earnet serve's extras are not installed (pip install -e '.[dev]')")

REQUESTS = 200
RSS_GROWTH_LIMIT = 24 * 2**20


@pytest.mark.slow
def test_200_sequential_requests_keep_memory_flat_and_leave_no_files(tmp_path) -> None:  # noqa: ANN001
    server_tmp = tmp_path / "tmp"
    server_tmp.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(fake_fundus(5, 256, 256)[0]).save(buffer, format="PNG")
    with serve(env={"TMPDIR": str(server_tmp)}) as (url, process), httpx.Client(base_url=url, timeout=120) as client:
        # torch makes its (empty) compile-cache folder there when the model loads; only new files count
        before = sorted(server_tmp.rglob("*"))
        rss = []
        for index in range(REQUESTS):
            response = client.post("/api/segment", files={"image": ("p.png", buffer.getvalue(), "image/png")},
                                   data={"include": "probability_f32"})
            assert response.status_code == 200, response.text
            if (index + 1) % 10 == 0:
                rss.append(rss_bytes(process.pid))
        assert client.get("/healthz").json()["completed"] == REQUESTS
    # RSS wobbles by tens of MiB as the allocator returns large buffers, so compare means
    # of samples (every 10 requests): requests 30-100 against 130-200
    early, late = np.mean(rss[2:10]), np.mean(rss[12:20])
    print(f"RSS every 10 requests (MiB): {[round(r / 2**20, 1) for r in rss]}")
    assert late - early < RSS_GROWTH_LIMIT, f"RSS grew by {(late - early) / 2**20:.1f} MiB"
    assert sorted(server_tmp.rglob("*")) == before

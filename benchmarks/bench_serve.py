"""``earnet serve`` as a user meets it: time from dropping a photograph on the page to
its vessels on screen (headless Chromium), and a soak test (RSS and temporary files
over 200 sequential API requests).

    python benchmarks/bench_serve.py                  # both; writes results/serve.json
    python benchmarks/bench_serve.py --skip-soak --repeat 10

The photograph is DRIVE's test image 01_test.tif from ../shared/data when present (sent
as TIFF, which browsers cannot show, so the server also returns it as PNG, and as PNG),
else a synthetic DRIVE-size (565x584) photograph.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from serve_helpers import CHROMIUM_FLAGS, REPO, chromium_path, rss_bytes, serve  # noqa: E402

RESULTS = HERE / "results" / "serve.json"
DRIVE_IMAGE = REPO.parent / "shared" / "data" / "DRIVE" / "test" / "images" / "01_test.tif"


def photographs(folder: Path) -> dict[str, Path]:
    """The DRIVE-size photographs to drop, by label."""
    if DRIVE_IMAGE.is_file():
        png = folder / "01_test.png"
        Image.open(DRIVE_IMAGE).convert("RGB").save(png)
        return {"drive_01_test.tif": DRIVE_IMAGE, "drive_01_test.png": png}
    sys.path.insert(0, str(HERE))
    from bench_segment import SIZES, photograph

    path = folder / "synthetic_drive_size.png"
    Image.fromarray(photograph(*SIZES["drive"])).save(path)
    return {"synthetic_drive_size.png": path}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (Linux)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def chromium_pids() -> list[int]:
    """Every running Chromium process (the browser, its renderers and helpers)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().split(" (", 1)[1].startswith(("chromium", "chrome")):
                pids.append(int(stat.parent.name))
    return pids


def page_latency(url: str, server_pid: int, photos: dict[str, Path], repeat: int,
                 screenshot: Path | None) -> dict:
    """Seconds from choosing a file to the overlay drawn, per photograph (first drop warms up),
    and the CPU seconds the server and the browser spent on it: on a machine with nothing
    else running, the wall time cannot exceed that CPU time by more than the loopback
    transfer, so the CPU time says what an idle 2-core machine would show."""
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#model option", state="attached")
        idle_pids = chromium_pids()
        idle_start = cpu_seconds(idle_pids)
        time.sleep(5)
        results["browser_idle_cpu_s_per_s"] = round((cpu_seconds(idle_pids) - idle_start) / 5, 3)
        print(f"browser CPU while idle: {results['browser_idle_cpu_s_per_s']:.3f} s per second", flush=True)
        done = 0
        for label, path in photos.items():
            page_ms, answer, wall, cpu = [], [], [], []
            for attempt in range(repeat + 1):
                browser_pids = chromium_pids()
                cpu_start = cpu_seconds([server_pid]), cpu_seconds(browser_pids)
                start = time.perf_counter()
                page.set_input_files("#file-input", str(path))
                done += 1
                page.wait_for_selector(f"#files li.done:nth-child({done})", timeout=120_000)
                elapsed = time.perf_counter() - start
                server_cpu = cpu_seconds([server_pid]) - cpu_start[0]
                browser_cpu = cpu_seconds(browser_pids) - cpu_start[1]
                item = page.locator(f"#files li:nth-child({done})")
                ms, answer_ms = float(item.get_attribute("data-ms")), float(item.get_attribute("data-answer-ms"))
                if attempt:  # the first is a warm-up (JIT, first allocation of buffers)
                    page_ms.append(ms / 1000)
                    answer.append(answer_ms / 1000)
                    wall.append(elapsed)
                    cpu.append((server_cpu, browser_cpu))
            results[label] = {key: round(value, 3) for key, value in {
                "median_s": statistics.median(page_ms), "max_s": max(page_ms),
                "median_answer_s": statistics.median(answer), "median_wall_s": statistics.median(wall),
                "median_server_cpu_s": statistics.median(c[0] for c in cpu),
                "median_browser_cpu_s": statistics.median(c[1] for c in cpu)}.items()}
            results[label]["runs"] = len(page_ms)
            print(f"{label}: photograph chosen -> vessels drawn: median {results[label]['median_s']:.3f} s, "
                  f"max {results[label]['max_s']:.3f} s over {len(page_ms)} runs (answer received after "
                  f"{results[label]['median_answer_s']:.3f} s); CPU: server {results[label]['median_server_cpu_s']:.3f} s, "
                  f"browser {results[label]['median_browser_cpu_s']:.3f} s", flush=True)
        if screenshot is not None:  # of scikit-image's retina: no dataset picture goes into docs/
            from skimage.data import retina

            with tempfile.TemporaryDirectory() as folder:
                sample = Path(folder) / "retina.png"
                Image.fromarray(np.asarray(retina())[..., :3]).save(sample)
                take_screenshot(browser.new_page(viewport={"width": 1400, "height": 900}), url, sample, screenshot)
        browser.close()
    return results


def take_screenshot(page, url: str, photo: Path, path: Path) -> None:  # noqa: ANN001
    """The page after one photograph, zoomed around the optic disc in every view at once."""
    page.goto(url)
    page.wait_for_selector("#model option", state="attached")
    page.set_input_files("#file-input", str(photo))
    page.wait_for_selector("#files li.done", timeout=120_000)
    box = page.locator("#panel-photo .viewport").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.45 * box["height"])
    for _ in range(3):
        page.mouse.wheel(0, -160)
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)


def soak(url: str, pid: int, photo: Path, tmpdir: Path, requests: int) -> dict:
    """RSS of the server over ``requests`` sequential requests; temporary files left."""
    import httpx

    data = photo.read_bytes()
    before = {str(p.relative_to(tmpdir)) for p in tmpdir.rglob("*")}  # torch's empty compile-cache folder
    rss = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for index in range(requests):
            response = client.post("/api/segment", files={"image": (photo.name, data)})
            response.raise_for_status()
            if index % 20 == 19:
                rss.append(rss_bytes(pid) / 2**20)
    left = sorted(str(p.relative_to(tmpdir)) for p in tmpdir.rglob("*") if str(p.relative_to(tmpdir)) not in before)
    result = {"requests": requests, "rss_mib_every_20": [round(r, 1) for r in rss],
              "rss_growth_after_first_20_mib": round(rss[-1] - rss[0], 1), "temporary_files_left": left,
              "present_before_the_first_request": sorted(before)}
    print(f"soak: RSS every 20 requests (MiB) {result['rss_mib_every_20']}; growth after the first 20: "
          f"{result['rss_growth_after_first_20_mib']} MiB; temporary files left: {len(left)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--soak-requests", type=int, default=200)
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the page here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        photos = photographs(work)
        server_tmp = work / "server-tmp"
        server_tmp.mkdir()
        record = {"date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}",
                  "command": " ".join(["python", *sys.argv]), "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                  "load_average_at_start": os.getloadavg()}
        with serve(env={"TMPDIR": str(server_tmp)}) as (url, process):
            record["page"] = page_latency(url, process.pid, photos, args.repeat, args.screenshot)
            if not args.skip_soak:
                record["soak"] = soak(url, process.pid, next(iter(photos.values())), server_tmp, args.soak_requests)
    if args.skip_soak and RESULTS.exists():  # keep the last soak figures
        previous = json.loads(RESULTS.read_text())
        if "soak" in previous:
            record["soak"] = {"date": previous.get("date"), "command": previous.get("command"), **previous["soak"]}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

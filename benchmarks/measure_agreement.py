"""Robustness of ``earnet measure``: DRIVE's two observers, and the model against the first.

For each of DRIVE's 20 test images (inside its FOV mask): the measures on the first
observer's label, on the second observer's, and on the ``drive`` model's segmentation
(``earnet.load_model("drive")``, its own threshold). Per measure and pair: the means, the
mean and SD of the per-image difference, the mean absolute difference relative to the
first observer, and the correlation across images. Also CRAE, CRVE and AVR on RITE's
artery/vein labels (test: DRIVE's second observer's vessels; training: the first's).

    python benchmarks/measure_agreement.py           # writes results/measure_agreement.json
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).parent / "results" / "measure_agreement.json"
MEASURES = ["vessel_density", "fractal_dimension_vessels", "fractal_dimension_skeleton", "segments",
            "branch_points", "end_points", "skeleton_length", "calibre", "distance_factor", "curvature"]
UNITS = {"vessel_density": "fraction", "skeleton_length": "px", "calibre": "px", "curvature": "rad/px",
         "segments": "count", "branch_points": "count", "end_points": "count"}


def drive_measures() -> dict[str, list[dict[str, float]]]:
    from earnet import load_model
    from earnet.io import read_binary, read_rgb
    from earnet.measure import measure_vessels

    segmenter = load_model("drive")
    out: dict[str, list[dict[str, float]]] = {"observer1": [], "observer2": [], "model": []}
    test = DATA / "DRIVE" / "test"
    for number in range(1, 21):
        fov = read_binary(test / "mask" / f"{number:02d}_test_mask.gif", "FOV mask")
        image = read_rgb(test / "images" / f"{number:02d}_test.tif")
        masks = {"observer1": read_binary(test / "1st_manual" / f"{number:02d}_manual1.gif"),
                 "observer2": read_binary(test / "2nd_manual" / f"{number:02d}_manual2.gif"),
                 "model": segmenter.segment(image, fov).mask}
        for name, mask in masks.items():
            summary = measure_vessels(mask, fov).summary()
            out[name].append({k: float(summary[k]) for k in MEASURES})
        print(f"DRIVE {number:02d} done", file=sys.stderr, flush=True)
    return out


def compare(a: list[dict[str, float]], b: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    table = {}
    for key in MEASURES:
        x, y = np.array([r[key] for r in a]), np.array([r[key] for r in b])
        diff = y - x
        table[key] = {"mean_a": float(x.mean()), "mean_b": float(y.mean()), "mean_diff": float(diff.mean()),
                      "sd_diff": float(diff.std(ddof=1)),
                      "mean_abs_rel_diff_pct": float(np.mean(np.abs(diff) / np.abs(x)) * 100),
                      "pearson_r": float(np.corrcoef(x, y)[0, 1])}
    return table


def rite() -> dict[str, dict[str, float]]:
    from earnet.io import read_binary, read_rgb
    from earnet.measure import measure_vessels
    from earnet.measure.avmap import av_classes

    out = {}
    for split, suffix in (("test", "test"), ("training", "training")):
        values = []
        first = 1 if split == "test" else 21
        for number in range(first, first + 20):
            rgb = read_rgb(DATA / "RITE" / split / "av" / f"{number:02d}_{suffix}.png")
            fov = read_binary(DATA / "DRIVE" / split / "mask" / f"{number:02d}_{suffix}_mask.gif", "FOV mask")
            s = measure_vessels(rgb.max(axis=2) > 127, fov, av_classes=av_classes(rgb)).summary()
            values.append([s["crae"], s["crve"], s["avr"], s["artery_calibre"], s["vein_calibre"]])
        v = np.array(values)
        names = ["crae_px", "crve_px", "avr", "artery_calibre_px", "vein_calibre_px"]
        out[split] = {f"{n}_mean": float(v[:, i].mean()) for i, n in enumerate(names)}
        out[split].update({f"{n}_sd": float(v[:, i].std(ddof=1)) for i, n in enumerate(names)})
    return out


def markdown(document: dict) -> str:
    lines = []
    for pair, title in (("observer2_vs_observer1", "observer 2 vs observer 1"), ("model_vs_observer1", "model vs observer 1")):
        lines += [f"\n{title} (DRIVE test, 20 images; difference = second minus first):\n",
                  "| measure | unit | mean obs. 1 | mean other | mean diff | SD diff | mean abs. diff | r |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, row in document[pair].items():
            lines.append(f"| {key} | {UNITS.get(key, '-')} | {row['mean_a']:.4g} | {row['mean_b']:.4g} | "
                         f"{row['mean_diff']:+.3g} | {row['sd_diff']:.3g} | {row['mean_abs_rel_diff_pct']:.1f} % | "
                         f"{row['pearson_r']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    measures = drive_measures()
    document = {
        "command": "python benchmarks/measure_agreement.py", "date": datetime.date.today().isoformat(),
        "observer2_vs_observer1": compare(measures["observer1"], measures["observer2"]),
        "model_vs_observer1": compare(measures["observer1"], measures["model"]),
        "rite": rite(), "per_image": measures,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=1) + "\n")
    print(markdown(document))
    print(json.dumps(document["rite"], indent=1))


if __name__ == "__main__":
    main()

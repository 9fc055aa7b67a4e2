"""ONNX runtime path vs PyTorch: s/image, start-up, peak memory, and agreement / F1 on DRIVE.

Every configuration runs in a fresh subprocess (so its peak RSS is its own); the ONNX
ones run with torch, scipy and scikit-image blocked from importing, as on a machine
without PyTorch. Paths:

- ``torch``: ``earnet segment``'s ``Segmenter`` as it runs by default (bf16
  autocast where the CPU supports it, as here);
- ``torch-fp32``: the same with bf16 off (what the ONNX graph computes);
- ``onnx``: ``earnet.runtime.OnnxSegmenter`` on ``earnet export drive --format onnx``;
- ``onnx-int8``: the same graph after onnxruntime's dynamic int8 quantisation of the
  convolutions (a candidate variant; shipped only if F1 stays within .002 and it is faster);
- ``onnx-fp16``: the same graph in float16 (:func:`to_float16`), same rule;
- ``torch-av`` / ``torch-av-fp32``: ``earnet segment --av``'s ``ArteryVeinSegmenter``
  (bundle ``drive_av``: vessels, A/V maps, segment vote), bf16 autocast / float32;
- ``onnx-av``: ``OnnxSegmenter.segment_av`` on ``earnet export drive_av --format onnx``
  (one graph for vessels and A/V, the numpy segment vote).

The exports can be written beforehand (``--models DIR --prepare``) so that a timing run
(``--models DIR``, inside ``/work/wt/quiet.sh``) measures nothing else:

    python benchmarks/bench_onnx.py --models /tmp/onnx-models --prepare
    /work/wt/quiet.sh python benchmarks/bench_onnx.py --models /tmp/onnx-models --threads 2 --repeat 5 \
        --rounds 2 --paths torch torch-fp32 onnx onnx-int8 onnx-fp16
    python benchmarks/bench_onnx.py --models /tmp/onnx-models --drive ../shared/data/DRIVE --agreement-only
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
RESULTS = Path(__file__).parent / "results" / "onnx.json"
PATHS = ("torch", "torch-fp32", "onnx", "onnx-int8", "onnx-fp16", "torch-av", "torch-av-fp32", "onnx-av")
SIZES = {"drive": (584, 565, 540), "hrf": (2336, 3504, 3300)}
BLOCK = ("torch", "torchvision", "scipy", "skimage", "lightning", "pytorch_lightning", "matplotlib")


class _Blocked:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"{name} is blocked: the ONNX path must not need it")


def segmenter(path: str, models: Path, threads: int):
    """The segmenter of ``path`` (imports only what that path needs); its ``segment`` is the timed call."""
    if path.startswith("onnx"):
        from earnet.runtime import OnnxSegmenter

        seg = OnnxSegmenter(models / f"{path}.onnx", threads=threads)
        if path == "onnx-av":
            seg.segment = seg.segment_av  # type: ignore[method-assign]
        return seg
    import torch

    torch.set_num_threads(threads)
    bf16 = not path.endswith("fp32")
    if path.startswith("torch-av"):
        from earnet.av import ArteryVeinSegmenter

        seg = ArteryVeinSegmenter("drive_av")
        seg.predictor.bf16 = seg.predictor.bf16 and bf16
        seg.vessels.predictor.bf16 = seg.vessels.predictor.bf16 and bf16
        return seg
    from earnet.segment import Segmenter

    seg = Segmenter("drive")
    seg.predictor.bf16 = seg.predictor.bf16 and bf16
    return seg


def peak_rss_mib() -> float:
    """This process's peak resident memory. Not ``getrusage``'s ``ru_maxrss``: Linux carries
    the parent's peak over ``fork`` + ``exec`` into it, ``VmHWM`` starts afresh at ``exec``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: str, image_file: Path, models: Path, threads: int, repeat: int) -> dict:
    """In this process: start-up (imports + model load), then s/image after one warm-up."""
    import numpy as np

    start = time.perf_counter()
    seg = segmenter(path, models, threads)
    startup = time.perf_counter() - start
    image = np.load(image_file)
    seg.segment(image)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        seg.segment(image)
    seconds = (time.perf_counter() - start) / repeat
    # CPU time barely depends on other processes sharing the cores; with one thread it is
    # close to the wall time on an idle core
    cpu_seconds = (time.process_time() - cpu) / repeat
    return {"seconds_per_image": seconds, "cpu_seconds_per_image": cpu_seconds, "startup_seconds": startup,
            "peak_rss_mib": peak_rss_mib(), "torch_imported": "torch" in sys.modules}


def predict_drive(path: str, drive: Path, models: Path, threads: int, out: Path) -> None:
    """In this process: probability maps of the DRIVE test photographs, saved as .npy."""
    import numpy as np

    from earnet.io import read_rgb

    seg = segmenter(path, models, threads)
    for file in sorted((drive / "test" / "images").glob("*.tif")):
        np.save(out / f"{path}_{file.stem}.npy", seg.segment(read_rgb(file)).probability)


def predict_rite(path: str, rite: Path, models: Path, threads: int, out: Path) -> None:
    """In this process: A/V maps and classes (vote on) of RITE's test photographs, saved as .npz."""
    import numpy as np

    import earnet

    seg = segmenter(path, models, threads)
    for sample in earnet.get_dataset("rite", rite, "test"):
        result = seg.segment(sample.image)
        np.savez(out / f"{path}_{sample.id}.npz", artery=result.artery, vein=result.vein, classes=result.classes,
                 mask=result.vessels.mask)


def av_agreement(rite: Path, folder: Path, paths: list[str], threads: int) -> dict:
    """Per path: max abs artery/vein difference from ``torch-av-fp32``, vessel pixels labelled
    differently, images with identical classes, and RITE's A/V scores (``earnet evaluate rite``)."""
    import numpy as np

    import earnet
    from earnet.av_evaluate import evaluate_av
    from earnet.types import Sample

    for path in paths:
        child(["--rite-maps", path, str(rite), str(folder), str(threads)], False)  # the loader needs scipy
    dataset = earnet.get_dataset("rite", rite, "test")
    rows = {}
    for path in paths:
        worst, differ, vessel, identical, mask_differ = 0.0, 0, 0, 0, 0
        for sample in dataset:
            got = np.load(folder / f"{path}_{sample.id}.npz")
            ref = np.load(folder / f"torch-av-fp32_{sample.id}.npz")
            worst = max(worst, float(np.abs(got["artery"] - ref["artery"]).max()),
                        float(np.abs(got["vein"] - ref["vein"]).max()))
            differ += int((got["classes"] != ref["classes"]).sum())
            vessel += int((ref["classes"] > 0).sum())
            identical += int(np.array_equal(got["classes"], ref["classes"]))
            mask_differ += int((got["mask"] != ref["mask"]).sum())

        def predict(sample: Sample, path: str = path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            maps = np.load(folder / f"{path}_{sample.id}.npz")
            return maps["artery"], maps["vein"], maps["classes"]

        scores = evaluate_av(dataset, predict).pooled
        rows[path] = {"max_abs_vs_torch_av_fp32": worst, "pixels_labelled_differently": differ,
                      "vessel_pixels": vessel, "images_identical": identical, "images": len(dataset),
                      "vessel_mask_pixels_differing": mask_differ,
                      "rite_test_pooled": {k: scores[k] for k in ("acc", "se", "sp", "f1_artery", "f1_vein")}}
    return rows


def to_float16(source: Path, out: Path) -> Path:
    """A float16 copy of an exported graph (inputs and outputs stay float32, contract kept).
    Measured only: it was not faster here, so earnet does not offer it (BENCHMARKS.md)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from earnet.io import atomic_write

    model = onnx.load(str(source))
    half = convert_float_to_float16(model, keep_io_types=True)
    del half.metadata_props[:]
    half.metadata_props.extend(model.metadata_props)
    for prop in half.metadata_props:
        if prop.key == "outside_graph":
            prop.value += "; weights and activations are float16 inside the graph (inputs and outputs float32)"
    with atomic_write(out) as handle:
        handle.write(half.SerializeToString())
    return Path(out)


def make_models(folder: Path) -> None:
    """``onnx.onnx`` (the export) and ``onnx-int8.onnx`` (dynamically quantised convolutions)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from earnet.export import export_onnx

    export_onnx("drive", folder / "onnx.onnx")
    export_onnx("drive_av", folder / "onnx-av.onnx")
    to_float16(folder / "onnx.onnx", folder / "onnx-fp16.onnx")
    quantize_dynamic(str(folder / "onnx.onnx"), str(folder / "onnx-int8.onnx"), op_types_to_quantize=["Conv"],
                     weight_type=QuantType.QUInt8)
    import onnx  # quantize_dynamic keeps the metadata_props? make sure it does

    source, target = onnx.load(str(folder / "onnx.onnx")), onnx.load(str(folder / "onnx-int8.onnx"))
    if not target.metadata_props:
        target.metadata_props.extend(source.metadata_props)
        onnx.save(target, str(folder / "onnx-int8.onnx"))


def accuracy(drive: Path, folder: Path, paths: list[str], threads: int) -> dict:
    """F1 (pooled over the DRIVE test images, inside the official FOV, at the model's threshold)
    and max abs probability difference from ``torch-fp32`` for each path."""
    import numpy as np

    import earnet
    from earnet.bundle import read_bundle_metadata, resolve
    from earnet.metrics import Counts, confusion_counts, scores_from_counts

    for path in paths:
        if len(list(folder.glob(f"{path}_*.npy"))) < 20:  # maps of an earlier run are reused
            child(["--drive-maps", path, str(drive), str(folder), str(threads)], path.startswith("onnx"))
    threshold = read_bundle_metadata(resolve("drive"))["threshold"]
    samples = list(earnet.get_dataset("drive", drive, "test"))
    rows = {}
    for path in paths:
        total, worst = None, 0.0
        for sample in samples:
            probability = np.load(folder / f"{path}_{sample.id}.npy")
            reference = np.load(folder / f"torch-fp32_{sample.id}.npy")
            worst = max(worst, float(np.abs(probability - reference).max()))
            counts = confusion_counts(probability >= threshold, sample.label, sample.fov)
            total = counts if total is None else Counts(**{k: getattr(total, k) + getattr(counts, k)
                                                             for k in total.__dataclass_fields__})
        rows[path] = {"f1": scores_from_counts(total)["f1"], "max_abs_vs_torch_fp32": worst}
    return rows


def child(arguments: list[str], block_torch: bool) -> dict | None:
    command = [sys.executable, __file__, *arguments] + (["--block-torch"] if block_torch else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    last = done.stdout.strip().splitlines()
    return json.loads(last[-1]) if last else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", nargs="*", default=list(PATHS))
    parser.add_argument("--sizes", nargs="*", default=list(SIZES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every (size, path) this many times, interleaved; keep the fastest "
                             "(the machine is shared: the minimum is the least disturbed)")
    parser.add_argument("--drive", type=Path, help="DRIVE folder: also measure agreement and F1 on its test set")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--models", type=Path, help="folder of the exported models (written there if missing)")
    parser.add_argument("--prepare", action="store_true", help="only write the models to --models")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of --results that this run does not measure again")
    parser.add_argument("--agreement-only", action="store_true",
                        help="only the DRIVE agreement/F1 (kept with the timing rows already in --results)")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--drive-maps", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--rite", type=Path, help="RITE folder: A/V agreement and scores of the A/V paths")
    parser.add_argument("--rite-maps", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--block-torch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.block_torch:
        sys.meta_path.insert(0, _Blocked())
    if args.one:
        path, image, models, threads = args.one
        print(json.dumps(measure(path, Path(image), Path(models), int(threads), args.repeat)))
        return 0
    if args.drive_maps:
        path, drive, folder, threads = args.drive_maps
        predict_drive(path, Path(drive), Path(folder), int(threads), Path(folder))
        return 0
    if args.rite_maps:
        path, rite, folder, threads = args.rite_maps
        predict_rite(path, Path(rite), Path(folder), int(threads), Path(folder))
        return 0

    import numpy as np
    from bench_segment import photograph

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.models or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "onnx-av.onnx").is_file():
            make_models(folder)
        for size in args.sizes:
            np.save(folder / f"{size}.npy", photograph(*SIZES[size]))
        if args.prepare:
            return 0
        best: dict[tuple[str, str], dict] = {}
        if args.agreement_only:
            previous = json.loads(args.results.read_text())
            vessel_paths = {path for path in args.paths if "-av" not in path}
            if args.drive:
                agreement = accuracy(args.drive, folder, sorted(vessel_paths | {"torch-fp32"}), args.threads)
                previous["drive_test"] = agreement
            if args.rite:
                agreement = av_agreement(args.rite, folder, sorted(set(args.paths) - vessel_paths | {"torch-av-fp32"}),
                                         args.threads)
                previous["rite_test"] = agreement
            previous["agreement_command"] = "python " + " ".join(sys.argv)
            args.results.write_text(json.dumps(previous, indent=2) + "\n")
            print(agreement)
            return 0
        load_inside = os.getloadavg()
        for _ in range(args.rounds):
            for size in args.sizes:
                for path in args.paths:
                    result = child(["--one", path, str(folder / f"{size}.npy"), str(folder), str(args.threads),
                                    "--repeat", str(args.repeat)], path.startswith("onnx"))
                    row = {"path": path, "input": f"{SIZES[size][1]}x{SIZES[size][0]}", "threads": args.threads,
                           **(result or {}),
                           "load_average_1min": round(os.getloadavg()[0], 2)}
                    print(row, flush=True)
                    kept = best.get((size, path))  # the least disturbed of the rounds
                    if kept is None or row["seconds_per_image"] < kept["seconds_per_image"]:
                        best[(size, path)] = row
        rows = list(best.values())
        load_at_end = os.getloadavg()
        agreement = accuracy(args.drive, folder, sorted(set(args.paths) | {"torch-fp32"}), args.threads) \
            if args.drive else None
        print(agreement, flush=True)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import onnxruntime
    import torch

    args.results.parent.mkdir(parents=True, exist_ok=True)
    commands = ["python " + " ".join(sys.argv)]
    if args.merge and args.results.is_file():
        previous = json.loads(args.results.read_text())
        def key(row: dict) -> tuple:
            return row["path"], row["input"], row.get("threads")

        measured = {key(row) for row in rows}
        rows = [row for row in previous["rows"] if key(row) not in measured] + rows
        commands = previous.get("commands", [previous.get("command")]) + commands
        agreement = agreement or previous.get("drive_test")
    args.results.write_text(json.dumps({
        "commands": commands,
        "date": datetime.date.today().isoformat(),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_start": load_inside,
                    "load_average_at_end": load_at_end,
                    "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "threads": args.threads, "rounds": args.rounds, "rows": rows, "drive_test": agreement}, indent=2) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

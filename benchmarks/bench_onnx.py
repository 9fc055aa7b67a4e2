"""ONNX runtime path vs PyTorch: s/image, start-up, peak memory, and agreement / F1 on DRIVE.

Every configuration runs in a fresh subprocess (so its peak RSS is its own); the ONNX
ones run with torch, scipy and scikit-image blocked from importing, as on a machine
without PyTorch. Paths:

- ``torch``: ``earnet segment``'s ``FundusSegmenter`` as it runs by default (bf16
  autocast where the CPU supports it, as here);
- ``torch-fp32``: the same with bf16 off (what the ONNX graph computes);
- ``onnx``: ``earnet.runtime.OnnxSegmenter`` on ``earnet export drive --format onnx``;
- ``onnx-int8``: the same graph after onnxruntime's dynamic int8 quantisation of the
  convolutions (a candidate variant; shipped only if F1 stays within .002 and it is faster);
- ``onnx-fp16``: the same graph in float16 (:func:`to_float16`), same rule.

    python benchmarks/bench_onnx.py --threads 2 --repeat 5 --drive ../shared/data/DRIVE
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
PATHS = ("torch", "torch-fp32", "onnx", "onnx-int8", "onnx-fp16")
SIZES = {"drive": (584, 565, 540), "hrf": (2336, 3504, 3300)}
BLOCK = ("torch", "torchvision", "scipy", "skimage", "lightning", "pytorch_lightning", "matplotlib")


class _Blocked:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"{name} is blocked: the ONNX path must not need it")


def segmenter(path: str, models: Path, threads: int):
    """The segmenter of ``path`` (imports only what that path needs)."""
    if path.startswith("onnx"):
        from earnet.runtime import OnnxSegmenter

        return OnnxSegmenter(models / f"{path}.onnx", threads=threads)
    import torch

    from earnet.segment import FundusSegmenter

    torch.set_num_threads(threads)
    seg = FundusSegmenter("drive")
    seg.predictor.bf16 = seg.predictor.bf16 and path == "torch"
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
    start = time.perf_counter()
    for _ in range(repeat):
        seg.segment(image)
    seconds = (time.perf_counter() - start) / repeat
    return {"seconds_per_image": seconds, "startup_seconds": startup, "peak_rss_mib": peak_rss_mib(),
            "torch_imported": "torch" in sys.modules}


def predict_drive(path: str, drive: Path, models: Path, threads: int, out: Path) -> None:
    """In this process: probability maps of the DRIVE test photographs, saved as .npy."""
    import numpy as np

    from earnet.io import read_rgb

    seg = segmenter(path, models, threads)
    for file in sorted((drive / "test" / "images").glob("*.tif")):
        np.save(out / f"{path}_{file.stem}.npy", seg.segment(read_rgb(file)).probability)


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
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--drive-maps", nargs=4, help=argparse.SUPPRESS)
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

    import numpy as np
    from bench_segment import photograph

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_models(folder)
        for size in args.sizes:
            np.save(folder / f"{size}.npy", photograph(*SIZES[size]))
        best: dict[tuple[str, str], dict] = {}
        for _ in range(args.rounds):
            for size in args.sizes:
                for path in args.paths:
                    result = child(["--one", path, str(folder / f"{size}.npy"), str(folder), str(args.threads),
                                    "--repeat", str(args.repeat)], path.startswith("onnx"))
                    row = {"path": path, "input": f"{SIZES[size][1]}x{SIZES[size][0]}", **(result or {})}
                    print(row, flush=True)
                    kept = best.get((size, path))
                    if kept is None or row["seconds_per_image"] < kept["seconds_per_image"]:
                        best[(size, path)] = row
        rows = list(best.values())
        agreement = accuracy(args.drive, folder, sorted(set(args.paths) | {"torch-fp32"}), args.threads) \
            if args.drive else None
        print(agreement, flush=True)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import onnxruntime
    import torch

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "command": "python " + " ".join(sys.argv), "date": datetime.date.today().isoformat(),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_end": os.getloadavg(),
                    "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "threads": args.threads, "rounds": args.rounds, "rows": rows, "drive_test": agreement}, indent=2) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

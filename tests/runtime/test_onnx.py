"""ONNX export (any size, contract in the metadata) and the PyTorch-free runtime (earnet.runtime)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import shared_dataset
from PIL import Image

from earnet.cli.main import main
from earnet.data.synthetic_fundus import generate_fundus
from earnet.exceptions import EarnetError, InputError
from earnet.inference import tiling as torch_tiling
from earnet.inference.loader import load_trained_model
from earnet.io import read_probability, read_rgb
from earnet.runtime import OnnxSegmenter, check_image, load_onnx, resample
from earnet.runtime import tiling as numpy_tiling

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")

BLOCKED = ("torch", "torchvision", "scipy", "skimage", "lightning", "pytorch_lightning", "matplotlib")
NO_TORCH = f"""
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(name + " cannot be imported in this test")
sys.meta_path.insert(0, _Blocked())
"""
"""Prefix of a script run where torch, scipy, scikit-image and Lightning cannot be imported."""


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH + code], capture_output=True, text=True, timeout=300,
                          check=False)


def run_runtime_cli(*args: object) -> subprocess.CompletedProcess:
    """``earnet-onnx ARGS`` where torch, scipy and scikit-image cannot be imported (checked on success too)."""
    argv = [str(arg) for arg in args]
    return run_without_torch(
        f"from earnet.runtime.cli import main; code = main({argv!r}); "
        "assert code != 0 or not {'torch', 'scipy', 'skimage'} & set(sys.modules), 'a blocked module was imported'; "
        "sys.exit(code)")


@pytest.fixture(scope="module")
def drive_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "drive.onnx"
    assert main(["export", "drive", "--format", "onnx", "--out", str(out)]) == 0
    return out


def load_bundle(name: str) -> tuple:
    """A bundle's stages and metadata (threshold and FOV diameter as the loader validated them)."""
    model = load_trained_model(name)
    return model.stage1, model.stage2, {**model.metadata, "threshold": model.threshold,
                                        "fov_diameter": model.fov_diameter}


def fp32_segmenter(model: str = "drive"):
    """``earnet segment``'s pipeline in float32 (on CPUs with bf16 it would use bf16 autocast)."""
    from earnet.segment import Segmenter

    segmenter = Segmenter(model)
    segmenter.predictor.bf16 = False
    return segmenter


# ----------------------------------------------------------------------------- the graph


@pytest.mark.parametrize("height,width", [(32, 32), (33, 47), (97, 101), (584, 565), (605, 700),
                                          pytest.param(960, 999, marks=pytest.mark.slow)])
def test_graph_runs_any_size_and_matches_pytorch(drive_onnx: Path, height: int, width: int) -> None:
    from earnet.export import ProbabilityGraph

    stage1, stage2, _ = load_bundle("drive")
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height))
    with torch.no_grad():
        expected = [t.numpy() for t in ProbabilityGraph(stage1, stage2).eval()(image)]
    session = ort.InferenceSession(str(drive_onnx), providers=["CPUExecutionProvider"])
    got = session.run(["probability", "error_attention"], {"image": image.numpy()})
    for a, b in zip(got, expected):
        assert a.shape == (1, 1, height, width)
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_graph_takes_a_batch(drive_onnx: Path) -> None:
    session = ort.InferenceSession(str(drive_onnx), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).random((2, 3, 40, 51), dtype=np.float32)
    batch = session.run(["probability"], {"image": images})[0]
    single = session.run(["probability"], {"image": images[1:]})[0]
    assert batch.shape == (2, 1, 40, 51)
    np.testing.assert_allclose(batch[1:], single, atol=1e-5)


def test_metadata_holds_the_contract(drive_onnx: Path) -> None:
    from earnet.data.resolution import RESCALE_TOLERANCE
    from earnet.inference.predictor import MIN_SIDE
    from earnet.segment import MIN_FOV_DIAMETER

    _, _, meta = load_bundle("drive")
    props = {p.key: p.value for p in onnx.load(str(drive_onnx)).metadata_props}
    for key in ("input", "input_name", "input_layout", "input_dtype", "input_range", "normalisation",
                "outputs", "outside_graph", "threshold", "fov_diameter"):
        assert props.get(key), key
    assert props["input_name"] == "image" and props["input_dtype"] == "float32"
    assert "0.485" in props["normalisation"] and "[0, 1]" in props["input_range"]
    assert "probability" in props["outputs"] and "error_attention" in props["outputs"]
    assert float(props["threshold"]) == meta["threshold"] and float(props["fov_diameter"]) == meta["fov_diameter"]
    contract = load_onnx(drive_onnx).contract
    assert contract.rescale_tolerance == RESCALE_TOLERANCE and contract.min_side == MIN_SIDE
    assert contract.min_fov_diameter == MIN_FOV_DIAMETER and contract.model["dataset"] == "drive"


def _bundled_params() -> list:
    from earnet.bundle import bundled_models

    # drive is exported by the fixture above; stare is the bundled 'paper' refinement
    return [pytest.param(name, marks=[] if name == "stare" else pytest.mark.slow)
            for name in bundled_models() if name != "drive"]


@pytest.mark.parametrize("name", _bundled_params())
def test_every_bundled_model_exports_and_runs_on_odd_sizes(name: str, tmp_path: Path) -> None:
    """write_onnx itself checks odd sizes against PyTorch; here the runtime reads the result."""
    _, stage2, meta = load_bundle(name)
    out = tmp_path / f"{name}.onnx"
    assert main(["export", name, "--format", "onnx", "--out", str(out)]) == 0
    segmenter = load_onnx(out)
    assert segmenter.threshold == meta["threshold"] and segmenter.training_fov_diameter == meta["fov_diameter"]
    assert segmenter.outputs == ["probability", "error_attention"] if stage2 is not None else ["probability"]
    result = segmenter.segment(generate_fundus(1, 131).image)
    assert result.probability.shape == (131, 131) and result.mask.dtype == bool


def test_one_stage_model_exports_probability_only(tmp_path: Path) -> None:
    from earnet.models.registry import create_model
    from earnet.onnx_export import write_onnx

    out = write_onnx(create_model("wnet").eval(), None, {"threshold": 0.5, "fov_diameter": 100}, tmp_path / "m.onnx")
    assert [o.name for o in onnx.load(str(out)).graph.output] == ["probability"]
    assert load_onnx(out).outputs == ["probability"]


def test_a_flip_bundle_exports_its_flips_inside_the_graph(tmp_path: Path) -> None:
    """A bundle validated with flip TTA runs it by default; its ONNX graph does the same."""
    from earnet.bundle import save_bundle
    from earnet.models.registry import create_model

    torch.manual_seed(2)
    bundle = save_bundle(tmp_path / "flip.safetensors", create_model("wnet"), None,
                         {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 150, "tta": "flip"})
    out = tmp_path / "flip.onnx"
    assert main(["export", str(bundle), "--format", "onnx", "--out", str(out)]) == 0
    properties = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert properties["tta"].startswith("flip")
    image = generate_fundus(3, 160).image
    expected = fp32_segmenter(str(bundle)).segment(image).probability
    got = load_onnx(out).segment(image).probability
    assert np.abs(got - expected).max() <= 1e-3
    plain = fp32_segmenter(str(bundle))
    plain.predictor.tta = "none"
    assert np.abs(got - plain.segment(image).probability).max() > 1e-3


def test_export_to_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "drive", "--format", "onnx", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- runtime parts


@pytest.mark.parametrize("size_in,size_out", [(584, 317), (565, 1024), (960, 540), (33, 32), (40, 97), (101, 13)])
def test_resize_matches_pytorch(size_in: int, size_out: int) -> None:
    data = np.random.default_rng(size_in).random((3, size_in, size_in + 7), dtype=np.float32)
    size = (size_out, size_out + 3)
    tensor = torch.from_numpy(data)[None]
    for mode, antialias in (("bicubic", False), ("bicubic", True), ("bilinear", False)):
        expected = F.interpolate(tensor, size=size, mode=mode, align_corners=False, antialias=antialias)[0].numpy()
        got = resample.resize(data, size, mode, antialias)
        # random pixels are the worst case; photographs differ far less (see the end-to-end tests)
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=f"{mode} antialias={antialias}")


def test_tiling_matches_pytorch() -> None:
    for length, tile in ((100, 100), (1000, 256), (2049, 1024), (300, 64)):
        assert numpy_tiling.tile_starts(length, tile, 0.25) == torch_tiling.tile_starts(length, tile, 0.25)
    np.testing.assert_allclose(numpy_tiling.gaussian_weight(37, 64), torch_tiling.gaussian_weight(37, 64).numpy(),
                               rtol=1e-6)
    image = np.random.default_rng(1).random((3, 150, 203), dtype=np.float32)

    def fn(x: np.ndarray) -> np.ndarray:
        return np.stack([x.sum(0), x[0] * 2]) + np.linspace(0, 1, x.shape[-1], dtype=np.float32)

    expected = torch_tiling.sliding_window(lambda t: torch.from_numpy(fn(t[0].numpy()))[None],
                                           torch.from_numpy(image)[None], 64, out_channels=2)[0].numpy()
    np.testing.assert_allclose(numpy_tiling.sliding_window(fn, image, 64), expected, atol=1e-5)


@pytest.mark.parametrize("image,message", [
    (np.zeros((1, 1, 3), np.uint8), "at least 32x32"),
    (np.zeros((64, 64), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((64, 64, 4), np.uint8), "drop alpha"),
    (np.zeros((3, 64, 64), np.uint8), "channels first"),
    (np.zeros((1, 64, 64, 3), np.uint8), "shape"),
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    ([[0, 1]], "numpy array"),
])
def test_runtime_rejects_bad_images_clearly(drive_onnx: Path, image: object, message: str) -> None:
    with pytest.raises(EarnetError, match=message):
        load_onnx(drive_onnx).segment(image)  # type: ignore[arg-type]


def test_runtime_rejects_bad_settings(drive_onnx: Path) -> None:
    with pytest.raises(EarnetError, match="tile must be at least 32"):
        OnnxSegmenter(drive_onnx, tile=8)
    with pytest.raises(EarnetError, match="threads"):
        OnnxSegmenter(drive_onnx, threads=0)


def test_check_image_accepts_rgb_uint8() -> None:
    image = np.zeros((40, 50, 3), np.uint8)
    assert check_image(image) is image


def test_truncated_or_foreign_onnx_is_one_line_exit_2(drive_onnx: Path, tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    Image.fromarray(generate_fundus(0, 128).image).save(photo)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(drive_onnx.read_bytes()[:5000])
    model = onnx.load(str(drive_onnx))
    del model.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(model, str(foreign))
    for path, problem in ((truncated, "not a readable ONNX model"), (foreign, "not an earnet ONNX export"),
                          (tmp_path / "missing.onnx", "model file not found")):
        done = run_runtime_cli(path, photo, "--out", tmp_path / "out")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, done.stderr
        assert len(lines) == 1 and lines[0].startswith(f"earnet: error: {path}: {problem}"), done.stderr
    with pytest.raises(InputError, match="truncated.onnx"):
        OnnxSegmenter(truncated)


# ----------------------------------------------------------------------------- end to end without torch


def test_runtime_without_torch_matches_earnet_segment(drive_onnx: Path, tmp_path: Path) -> None:
    """Photographs needing upscaling (FOV ~300 px) and downscaling (~800 px) to DRIVE's 540 px,
    segmented by the CLI in a process where torch/scipy/scikit-image cannot be imported."""
    photos = {f"p{size}": generate_fundus(size, size).image for size in (320, 860)}
    for name, image in photos.items():
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    out = tmp_path / "out"
    done = run_runtime_cli(drive_onnx, tmp_path, "--out", out, "--error-attention")
    assert done.returncode == 0, done.stderr
    segmenter = fp32_segmenter()
    for name, image in photos.items():
        expected = segmenter.segment(image)
        assert expected.scale != 1.0
        got = read_probability(out / f"{name}_prob.png")
        assert np.abs(got - expected.probability).max() <= 1e-3
        mask = np.asarray(Image.open(out / f"{name}_mask.png")) > 0
        unsure = np.abs(expected.probability - segmenter.threshold) < 1e-3  # may fall either side
        assert (mask != expected.mask)[~unsure].sum() == 0
        assert (out / f"{name}_attention.png").is_file()
    assert '"runtime": "onnxruntime"' in (out / "predictions.json").read_text()


def test_tiles_cover_large_images(drive_onnx: Path) -> None:
    """Tiled and whole runs agree away from the seams (each tile runs both stages, see README)."""
    image = generate_fundus(3, 540).image
    whole = OnnxSegmenter(drive_onnx).segment(image)
    tiled = OnnxSegmenter(drive_onnx, tile=256).segment(image)
    assert tiled.probability.shape == whole.probability.shape
    assert np.abs(tiled.probability - whole.probability).mean() < 2e-3
    assert (tiled.mask != whole.mask).mean() < 2e-3


def _drive_agreement(images: list[Path], tmp_path: Path) -> list[float]:
    """Max abs difference, per DRIVE image, between the torch-free runtime and earnet segment (fp32)."""
    onnx_path = tmp_path / "drive.onnx"
    assert main(["export", "drive", "--format", "onnx", "--out", str(onnx_path)]) == 0
    done = run_without_torch(
        "import numpy as np; from earnet.io import read_rgb; from earnet.runtime import load_onnx; "
        f"s = load_onnx({str(onnx_path)!r}); "
        f"[np.save({str(tmp_path)!r} + f'/{{i}}.npy', s.segment(read_rgb(p)).probability) "
        f"for i, p in enumerate({[str(p) for p in images]!r})]")
    assert done.returncode == 0, done.stderr
    segmenter = fp32_segmenter()
    return [float(np.abs(np.load(tmp_path / f"{i}.npy") - segmenter.segment(read_rgb(p)).probability).max())
            for i, p in enumerate(images)]


@pytest.mark.data
def test_drive_probabilities_match_earnet_segment(tmp_path: Path) -> None:
    images = sorted((shared_dataset("DRIVE") / "test" / "images").glob("*.tif"))[:2]
    assert max(_drive_agreement(images, tmp_path)) <= 1e-3


@pytest.mark.data
@pytest.mark.slow
def test_all_drive_test_probabilities_match_earnet_segment(tmp_path: Path) -> None:
    images = sorted((shared_dataset("DRIVE") / "test" / "images").glob("*.tif"))
    assert len(images) == 20
    assert max(_drive_agreement(images, tmp_path)) <= 1e-3

"""Artery/vein in the ONNX export and the PyTorch-free runtime (``earnet-onnx --av``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_dataset
from PIL import Image
from scipy import ndimage
from skimage.morphology import skeletonize as skimage_skeletonize
from test_onnx import run_runtime_cli

from earnet.cli.main import main
from earnet.data.synthetic_fundus import generate_fundus
from earnet.exceptions import EarnetError
from earnet.io import read_probability, read_rgb
from earnet.av_graph import DEFAULT_CLEANUP
from earnet.runtime import av_vote, load_onnx

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")


@pytest.fixture(scope="module")
def av_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx_av") / "drive_av.onnx"
    assert main(["export", "drive_av", "--format", "onnx", "--out", str(out)]) == 0
    return out


def fp32_av_segmenter(cleanup: str = DEFAULT_CLEANUP):
    """``earnet segment --av``'s pipeline in float32 (CPUs with bf16 would use bf16 autocast)."""
    from earnet.av import ArteryVeinSegmenter

    segmenter = ArteryVeinSegmenter("drive_av", cleanup=cleanup)
    segmenter.predictor.bf16 = False
    segmenter.vessels.predictor.bf16 = False
    return segmenter


# ----------------------------------------------------------------------------- the vote in numpy


def _shapes(seed: int, count: int, size: tuple[int, int] = (6, 60)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(count):
        height, width = rng.integers(*size, 2)
        seeds = rng.random((height, width)) < rng.uniform(0.01, 0.3)
        shapes.append(ndimage.binary_dilation(seeds, iterations=int(rng.integers(0, 4))))
    return shapes


def test_skeleton_is_scikit_images() -> None:
    shapes = _shapes(0, 150) + [np.random.default_rng(1).random((12, 12)) < p for p in np.linspace(0.2, 0.95, 40)]
    shapes.append(generate_fundus(2, 256).label)
    for bits in range(256):  # every neighbourhood of a pixel
        block = np.zeros((5, 5), bool)
        block[1:4, 1:4] = np.insert(np.array([(bits >> k) & 1 for k in range(8)], bool), 4, True).reshape(3, 3)
        shapes.append(block)
    for mask in shapes:
        np.testing.assert_array_equal(av_vote.skeletonize(mask), skimage_skeletonize(mask))


def test_labels_are_scipys() -> None:
    for mask in _shapes(2, 80, (3, 50)) + [np.zeros((4, 5), bool), np.ones((3, 3), bool)]:
        expected, count = ndimage.label(mask, structure=np.ones((3, 3)))
        got, got_count = av_vote.label(mask)
        assert got_count == count
        np.testing.assert_array_equal(got, expected)


def test_nearest_feature_is_scipys_ties_included() -> None:
    rng = np.random.default_rng(3)
    cases = [rng.random(tuple(rng.integers(1, 70, 2))) < rng.uniform(0.002, 0.3) for _ in range(120)]
    symmetric = np.zeros((31, 31), bool)  # equidistant features everywhere
    symmetric[[0, 0, 30, 30, 15], [0, 30, 0, 30, 15]] = True
    cases += [symmetric, symmetric.T[::-1], np.eye(20, dtype=bool), np.ones((1, 9), bool),
              rng.random((600, 37)) < 0.01]  # more rows than one query block
    for features in cases:
        if not features.any():
            features[0, 0] = True
        _, (rows, cols) = ndimage.distance_transform_edt(~features, return_indices=True)
        got_rows, got_cols = av_vote.nearest_feature(features)
        np.testing.assert_array_equal(got_rows, rows)
        np.testing.assert_array_equal(got_cols, cols)
    with pytest.raises(ValueError, match="no feature"):
        av_vote.nearest_feature(np.zeros((3, 3), bool))


@pytest.mark.parametrize("name", ["segment_vote", "graph_vote"])
def test_clean_ups_are_av_topologys(name: str) -> None:
    import earnet.av_topology

    expected_fn, got_fn = getattr(earnet.av_topology, name), getattr(av_vote, name)
    rng = np.random.default_rng(4)
    for seed in range(4):
        vessel = generate_fundus(seed, 200).label
        smooth = ndimage.gaussian_filter(rng.random((2, 200, 200)), (0, 6, 6)).astype(np.float32)
        artery, vein = np.clip(smooth * 4 - 1.5, 0, 1)
        for expected, got in zip(expected_fn(artery, vein, vessel), got_fn(artery, vein, vessel)):
            np.testing.assert_array_equal(got, expected)
    unchanged = got_fn(artery, vein, np.zeros_like(vessel))
    assert unchanged[0] is artery and unchanged[1] is vein


# ----------------------------------------------------------------------------- export


def test_av_graph_has_artery_and_vein_outputs_and_contract(av_onnx: Path) -> None:
    model = onnx.load(str(av_onnx))
    # drive_av = general (one stage: no error_attention) + the A/V cascade
    assert [o.name for o in model.graph.output] == ["probability", "artery", "vein"]
    props = {p.key: p.value for p in model.metadata_props}
    assert "artery probability" in props["outputs"] and "vein probability" in props["outputs"]
    assert float(props["av_fov_diameter"]) == float(props["fov_diameter"]) == 540.0
    assert float(props["av_crossing_threshold"]) == 0.5
    assert "segment vote" in props["outside_graph"]
    segmenter = load_onnx(av_onnx)
    assert segmenter.has_av and segmenter.contract.model["av"]["backbone"] == "av_cascade_rr"


@pytest.mark.parametrize("height,width", [(33, 47), (97, 101), (584, 565)])
def test_av_outputs_match_the_models_forward(av_onnx: Path, height: int, width: int) -> None:
    from earnet.av_bundle import load_bundle_av
    from earnet.bundle import resolve
    from earnet.data.transforms import normalise

    model, _ = load_bundle_av(resolve("drive_av"))
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(width))
    vessel, *got = ort.InferenceSession(str(av_onnx), providers=["CPUExecutionProvider"]).run(
        ["probability", "artery", "vein"], {"image": image.numpy()})
    with torch.no_grad():  # a model with a vessel input is given the graph's own vessel output
        expected = torch.sigmoid(model.eval()(normalise(image), torch.from_numpy(vessel)).logits).numpy()
    np.testing.assert_allclose(got[0][0, 0], expected[0, 0], atol=1e-4)
    np.testing.assert_allclose(got[1][0, 0], expected[0, 1], atol=1e-4)


def test_av_model_at_another_fov_diameter_is_refused(tmp_path: Path) -> None:
    from earnet.models.av import create_av_model
    from earnet.models.registry import create_model
    from earnet.onnx_export import write_onnx

    with pytest.raises(EarnetError, match="must match"):
        write_onnx(create_model("wnet").eval(), None, {"threshold": 0.5, "fov_diameter": 540}, tmp_path / "m.onnx",
                   av=create_av_model().eval(), av_meta={"fov_diameter": 960})
    assert not (tmp_path / "m.onnx").exists()


# ----------------------------------------------------------------------------- runtime


def test_runtime_av_without_torch_matches_earnet_segment_av(av_onnx: Path, tmp_path: Path) -> None:
    """Photographs needing upscaling and downscaling to the training FOV, run by ``earnet-onnx --av``
    where torch, scipy and scikit-image cannot be imported, against ``earnet segment --av`` in fp32."""
    photos = {f"p{size}": generate_fundus(size, size).image for size in (330, 800)}
    for name, image in photos.items():
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    out = tmp_path / "out"
    done = run_runtime_cli(av_onnx, tmp_path, "--out", out, "--av")
    assert done.returncode == 0, done.stderr
    segmenter = fp32_av_segmenter()
    for name, image in photos.items():
        expected = segmenter.segment(image)
        assert expected.vessels.scale != 1.0
        mask = np.asarray(Image.open(out / f"{name}_mask.png")) > 0
        np.testing.assert_array_equal(mask, expected.vessels.mask)  # so the vote sees the same vessels
        for kind in ("artery", "vein"):
            got = read_probability(out / f"{name}_{kind}_prob.png")
            assert np.abs(got - getattr(expected, kind)).max() <= 1e-3, kind
        from earnet.av_evaluate import av_colour_map

        # as in the DRIVE test below: equal maps to ~1e-5, so labels may differ only at pixels on a
        # decision boundary (session 8's drive_av has one such pixel in the 330-px photograph's 10k)
        differing = np.count_nonzero(np.any(read_rgb(out / f"{name}_av.png") != av_colour_map(expected.classes), -1))
        assert differing <= max(5, 1e-3 * np.count_nonzero(expected.vessels.mask)), differing
        assert (out / f"{name}_av_overlay.png").is_file()
    assert f'"av_cleanup": "{DEFAULT_CLEANUP}"' in (out / "predictions.json").read_text()


def test_segment_av_without_vote_and_bad_requests(av_onnx: Path, tmp_path: Path) -> None:
    image = generate_fundus(5, 200).image
    runtime = load_onnx(av_onnx)
    got = runtime.segment_av(image, cleanup="none")
    expected = fp32_av_segmenter("none").segment(image)
    assert np.abs(got.artery - expected.artery).max() <= 1e-3 and np.abs(got.vein - expected.vein).max() <= 1e-3
    np.testing.assert_array_equal(got.classes, expected.classes)
    assert not got.artery[~got.vessels.fov].any()
    with pytest.raises(EarnetError, match="clean-up"):
        runtime.segment_av(image, cleanup="smooth")


def test_av_on_a_vessel_only_graph_is_one_line_exit_2(tmp_path: Path) -> None:
    from earnet.models.registry import create_model
    from earnet.onnx_export import write_onnx

    model = write_onnx(create_model("wnet").eval(), None, {"threshold": 0.5, "fov_diameter": 100}, tmp_path / "v.onnx")
    with pytest.raises(EarnetError, match="no artery/vein outputs"):
        load_onnx(model).segment_av(generate_fundus(0, 64).image)
    photo = tmp_path / "p.png"
    Image.fromarray(generate_fundus(0, 64).image).save(photo)
    done = run_runtime_cli(model, photo, "--out", tmp_path / "out", "--av")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "--av needs a graph with artery/vein outputs" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.data
def test_drive_av_maps_match_earnet_segment_av(av_onnx: Path) -> None:
    runtime = load_onnx(av_onnx)
    segmenter = fp32_av_segmenter()
    for path in sorted((shared_dataset("DRIVE") / "test" / "images").glob("*.tif"))[:2]:
        image = read_rgb(path)
        got, expected = runtime.segment_av(image), segmenter.segment(image)
        np.testing.assert_array_equal(got.vessels.mask, expected.vessels.mask)
        assert np.abs(got.artery - expected.artery).max() <= 1e-3
        assert np.abs(got.vein - expected.vein).max() <= 1e-3
        # the maps agree to ~1e-5, so a label can differ only where a pixel sits on a decision
        # boundary (artery = vein, or 0.5 for crossings): session 6's drive_av has one such
        # pixel in 02_test's 31k. The clean-ups themselves are equal on equal maps (tested above).
        differing = np.count_nonzero(got.classes != expected.classes)
        assert differing <= max(5, 1e-3 * np.count_nonzero(expected.vessels.mask)), differing


@pytest.mark.parametrize("backbone", ["av_cascade", "av_cascade_fullres", "av_cascade_rr", "av_cascade_rr_maps"])
def test_cascade_av_model_in_one_graph_matches_earnet_segment_av(tmp_path: Path, backbone: str) -> None:
    """An A/V model fed the vessel probability (``av_cascade``, also with its full-resolution head or
    recursive passes): the graph feeds it the vessel output at the working scale, and ``earnet segment
    --av`` gives it the same map."""
    from earnet.av import ArteryVeinSegmenter
    from earnet.av_bundle import add_av_to_bundle
    from earnet.bundle import resolve
    from earnet.models.av import create_av_model

    torch.manual_seed(0)
    bundle = tmp_path / "cascade.safetensors"
    av = create_av_model(backbone)
    if av.refine is not None:  # a trained head, not the zeros it starts from
        torch.nn.init.normal_(av.refine[-1].weight, std=0.1)
    add_av_to_bundle(resolve("general"), av,
                     {"backbone": backbone, "fov_diameter": 540.0, "vessel_model": "general"}, bundle)
    out = tmp_path / "cascade.onnx"
    assert main(["export", str(bundle), "--format", "onnx", "--out", str(out)]) == 0
    runtime = load_onnx(out)
    segmenter = ArteryVeinSegmenter(bundle, cleanup="none")
    segmenter.predictor.bf16 = False
    segmenter.vessels.predictor.bf16 = False
    for size in (330, 560):  # rescaled to the training FOV, and as it is
        image = generate_fundus(size, size).image
        got, expected = runtime.segment_av(image, cleanup="none"), segmenter.segment(image)
        np.testing.assert_array_equal(got.vessels.mask, expected.vessels.mask)
        assert np.abs(got.artery - expected.artery).max() <= 1e-3
        assert np.abs(got.vein - expected.vein).max() <= 1e-3


def test_a_flip_av_bundle_exports_the_av_flips_inside_the_graph(tmp_path: Path) -> None:
    """A bundle whose default is flip TTA: its graph averages the A/V maps over the flips too,
    as ``earnet segment --av`` does."""
    from earnet.av import ArteryVeinSegmenter
    from earnet.av_bundle import add_av_to_bundle
    from earnet.bundle import resolve, save_bundle
    from earnet.models.av import create_av_model
    from earnet.models.registry import create_model

    torch.manual_seed(3)
    vessels = save_bundle(tmp_path / "flip.safetensors", create_model("wnet"), None,
                          {"backbone": "wnet", "threshold": 0.5, "fov_diameter": 150, "tta": "flip"})
    bundle = tmp_path / "flip_av.safetensors"
    add_av_to_bundle(resolve(str(vessels)), create_av_model("av_cascade"),
                     {"backbone": "av_cascade", "fov_diameter": 150.0, "vessel_model": "flip"}, bundle)
    out = tmp_path / "flip_av.onnx"
    assert main(["export", str(bundle), "--format", "onnx", "--out", str(out)]) == 0
    segmenter = ArteryVeinSegmenter(bundle, cleanup="none")
    assert segmenter.predictor.tta == "flip"
    segmenter.predictor.bf16 = False
    segmenter.vessels.predictor.bf16 = False
    image = generate_fundus(4, 160).image
    got, expected = load_onnx(out).segment_av(image, cleanup="none"), segmenter.segment(image)
    assert np.abs(got.artery - expected.artery).max() <= 1e-3
    assert np.abs(got.vein - expected.vein).max() <= 1e-3
    segmenter.predictor.tta = "none"
    assert np.abs(got.artery - segmenter.segment(image).artery).max() > 1e-3

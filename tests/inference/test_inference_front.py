"""The one inference front: predict, segment, export and make_bundle agree, and stay light."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from earnet.cli.main import main
from earnet.data.registry import get_dataset
from earnet.inference.loader import load_trained_model

REPO = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--samples-per-epoch", "4", "--batch-size", "4", "--crop", "64", "--val-count", "2",
        "--no-progress"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run with a trained (one-epoch) stage 1 at the images' own resolution."""
    run = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), *TINY]) == 0
    return run


def test_predict_and_segment_with_the_exported_bundle_are_bit_identical(tiny_run: Path, tmp_path: Path) -> None:
    predicted = tmp_path / "predicted"
    assert main(["predict", str(tiny_run), "synthetic", "--stage", "stage1", "--out", str(predicted)]) == 0
    bundle = tmp_path / "exported.safetensors"
    assert main(["export", str(tiny_run), "--stage", "stage1", "--format", "bundle", "--out", str(bundle)]) == 0
    dataset = get_dataset("synthetic", None, "test")
    for index in (0, 1, 2):
        sample = dataset[index]
        photo, mask = tmp_path / "in" / f"{sample.id}.png", tmp_path / "in" / f"{sample.id}_fov.png"
        photo.parent.mkdir(exist_ok=True)
        Image.fromarray(sample.image).save(photo)
        Image.fromarray(sample.fov.astype(np.uint8) * 255).save(mask)
        for model in (str(bundle), str(tiny_run)):
            out = tmp_path / f"segmented-{index}-{Path(model).name}"
            assert main(["segment", str(photo), "--model", model, "--mask", str(mask), "--out", str(out)]) == 0
            for suffix in ("prob", "mask"):
                expected = (predicted / f"{sample.id}_{suffix}.png").read_bytes()
                assert (out / f"{sample.id}_{suffix}.png").read_bytes() == expected, f"{model} {suffix}"
    manifest = json.loads((predicted / "predictions.json").read_text())
    assert manifest["threshold"] == load_trained_model(bundle).threshold == load_trained_model(tiny_run).threshold


def test_bundle_records_what_the_run_loads(tiny_run: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.safetensors"
    assert main(["export", str(tiny_run), "--format", "bundle", "--out", str(bundle)]) == 0
    from_bundle, from_run = load_trained_model(bundle), load_trained_model(tiny_run, "stage1")
    assert from_bundle.fov_diameter == from_run.fov_diameter == json.loads(
        (tiny_run / "resolution.json").read_text())["fov_diameter"]
    for (name, a), (_, b) in zip(from_bundle.stage1.state_dict().items(), from_run.stage1.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name


def test_make_bundle_records_one_set_of_test_metrics(tiny_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_bundle", REPO / "benchmarks" / "make_bundle.py")
    assert spec is not None and spec.loader is not None
    make_bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_bundle)
    monkeypatch.setattr(make_bundle, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(sys, "argv", ["make_bundle.py", str(tiny_run), "tiny"])
    assert make_bundle.main() == 0
    meta = load_trained_model(tmp_path / "tiny.safetensors").metadata
    assert set(meta["test_metrics"]) == {"f1", "auc_roc", "acc", "se", "sp", "mcc"}
    assert not any(key.endswith("test_metrics") and key != "test_metrics" for key in meta), sorted(meta)
    assert meta["selected_by"] == "best validation F1" and meta["stage"] == "stage1"
    assert "tta" not in meta
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    monkeypatch.setattr(sys, "argv", ["make_bundle.py", str(tiny_run), "tiny", "--tta", "flip"])
    assert make_bundle.main() == 0
    flipped = load_trained_model(tmp_path / "tiny.safetensors")
    assert flipped.default_tta == "flip" and 0 < flipped.metadata["tta_val_f1"] <= 1
    assert set(flipped.metadata["test_metrics"]) == {"f1", "auc_roc", "acc", "se", "sp", "mcc"}


def test_predict_and_export_do_not_import_lightning(tiny_run: Path, tmp_path: Path) -> None:
    # everything `earnet predict` imports (also lazily), and a whole `earnet export`
    code = (
        "import sys\n"
        "from earnet.cli.main import main\n"
        "import earnet.cli.predict, earnet.data.registry, earnet.manifest, earnet.output_maps, earnet.segment\n"
        f"assert main(['export', {str(tiny_run)!r}, '--format', 'bundle', '--out', "
        f"{str(tmp_path / 'b.safetensors')!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_load_model_is_a_deprecated_alias_of_load_segmenter(tiny_run: Path) -> None:
    import earnet

    with pytest.warns(DeprecationWarning, match="load_segmenter"):
        old = earnet.load_model(str(tiny_run))
    new = earnet.load_segmenter(tiny_run)
    assert type(old) is type(new) and old.threshold == new.threshold and new.metadata["stage"] == "stage1"

#!/usr/bin/env bash
# Arrange tests/ to mirror src/earnet/ (issue 9): tests of a subpackage go into the folder
# of the same name; tests of top-level modules, conftest.py and scripts/ stay in tests/.
# Re-runnable: files already moved (or absent) are skipped, so after a merge that adds
# tests in the old places, running it again moves those too (add new files to MAPPING).
# Each moved file is one level deeper, so its Path(__file__).resolve().parents[N] becomes
# parents[N+1]. conftest.py stays at tests/, so `from conftest import ...` keeps working
# (pytest puts tests/ on sys.path when it loads it).
set -euo pipefail
cd "$(dirname "$0")/.."

MAPPING="
data      test_check.py test_datasets.py test_download.py test_fov.py test_resolution.py
          test_synthetic_fundus.py test_transforms.py
models    test_backbones.py test_models.py
inference test_fusion.py test_inference_front.py test_tiling_predictor.py
engine    test_resume.py test_training_cli.py test_training_parts.py
measure   test_measure_graph.py test_measure_cli.py test_measure_data.py test_measure_geometry.py test_measure_synthetic.py
serve     serve_helpers.py test_serve_api.py test_serve_browser.py test_serve_cli.py test_serve_soak.py
runtime   test_onnx.py test_onnx_av.py
sweep     test_summarize.py test_sweep.py test_sweep_e2e.py
"

folder=""
for word in $MAPPING; do
    case "$word" in
        *.py)
            [ -f "tests/$word" ] || continue
            mkdir -p "tests/$folder"
            git mv "tests/$word" "tests/$folder/$word"
            perl -pi -e 's/(Path\(__file__\)\.resolve\(\)\.parents\[)(\d+)\]/$1 . ($2 + 1) . "]"/ge' "tests/$folder/$word"
            echo "tests/$word -> tests/$folder/$word"
            ;;
        *) folder="$word" ;;
    esac
done

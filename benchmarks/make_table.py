"""Render BENCHMARKS.md's generated tables from benchmarks/results/*.json and the bundles.

Three blocks: training results (train_benchmark.py: earnet sweep + summarize), segmentation speed
(bench_segment.py -> results/segment.json) and the bundled models' metadata.

    python benchmarks/make_table.py            # rewrites the generated parts of BENCHMARKS.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"stage1": "stage 1 only", "stage2-correct": "EAR-Net `correct`, out-of-fold errors",
          "stage2-paper": "EAR-Net `paper`, out-of-fold errors",
          "stage2-paper-in_sample": "EAR-Net `paper`, in-sample errors (as the authors)",
          "stage2-correct-in_sample": "EAR-Net `correct`, in-sample errors"}


def render(document: dict) -> str:
    """One dataset's section: provenance, then a row per variant."""
    machine = document["machine"]
    lines = [f"### {document['dataset']} (test split)", "",
             f"- command: `{document['command']}`",
             f"- date {document['date']}, revision `{document['revision']}`; machine: {machine['cpu']}, "
             f"{machine['cores']} cores, torch {machine['torch']}" + (f", GPU {machine['gpu']}" if machine.get("gpu")
                                                                    else ", CPU only"),
             f"- protocol: {document['protocol']}", "",
             "| variant | F1 | AUC-ROC | Acc | Se | Sp | MCC | F1 mean ± std | params | train time (min) | s/image |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, record in document["variants"].items():
        pooled, mean, std = record["pooled"], record["mean"], record["std"]
        lines.append(
            f"| {LABELS.get(name, name)} | {pooled['f1']:.4f} | {pooled['auc_roc']:.4f} | {pooled['acc']:.4f} | "
            f"{pooled['se']:.4f} | {pooled['sp']:.4f} | {pooled['mcc']:.4f} | {mean['f1']:.4f} ± {std['f1']:.4f} | "
            f"{record['parameters']:,} | {record['train_seconds_total'] / 60:.1f} | {record['seconds_per_image']:.3f} |")
    lines.append("")
    lines.append("Train time of a stage-2 variant includes stage 1 and, for out-of-fold errors, the fold models.")
    return "\n".join(lines)


def render_sweep(document: dict) -> str:
    """An experiment's section (train_benchmark.py over earnet sweep/summarize): provenance, then its table."""
    machine = document["machine"]
    return "\n".join([
        f"### {document['experiment']} ({document['dataset']}, test split)", "",
        f"- command: `{document['command']}` (`python benchmarks/train_benchmark.py "
        f"experiments/{document['experiment']}.yaml` also writes benchmarks/results/{document['experiment']}.json)",
        f"- date {document['date']}, revision `{document['revision']}`; machine: {machine['cpu']}, "
        f"{machine['cores']} cores, torch {machine['torch']}" + (f", GPU {machine['gpu']}" if machine.get("gpu")
                                                               else ", CPU only"),
        f"- protocol: {document['protocol']}", "", document["markdown"].rstrip(), "",
        "train_min of a stage-2 row includes stage 1 and, for out-of-fold errors, the fold models; params of a "
        "stage-2 row count both networks."])


def render_speed(document: dict) -> str:
    """The segmentation speed table, then the per-part breakdown."""
    machine = document["machine"]
    lines = [f"- command: `{document['command']}`",
             f"- date {document['date']}; machine: {machine['cpu']}, {machine['cores']} cores"
             + (f", torch {machine['torch']}" if machine.get("torch") else ""),
             "- inputs: synthetic fundus photographs with DRIVE's size and FOV (565x584, 540 px) and HRF's "
             "(3504x2336, ~3300 px); time of `Segmenter.segment` (FOV, resampling, both stages), "
             "after one warm-up, excluding reading and writing files", "",
             "| model | TTA | input | s/image | images/s | peak RSS | threads | bf16 |",
             "|---|---|---|---|---|---|---|---|"]
    for row in document["rows"]:
        lines.append(f"| {row['model']} | {row['tta']} | {row['input']} | {row['seconds_per_image']:.3f} | "
                     f"{row['images_per_second']:.2f} | {row['peak_rss_mib'] / 1024:.2f} GiB | {row['threads']} | "
                     f"{'yes' if row['bf16'] else 'no'} |")
    parts = document.get("breakdown")
    if parts:
        lines += ["", f"Where the time goes ({parts['model']}, {parts['input']}, no TTA, "
                      f"{parts['seconds']['threads']} threads):", "", "| part | s/image |", "|---|---|"]
        lines += [f"| {name} | {value:.3f} |" for name, value in parts["seconds"].items() if name != "threads"]
    return "\n".join(lines)


def render_models() -> str:
    """Every bundled model with its metadata and test metrics."""
    from earnet.bundle import bundled_models, read_bundle_metadata

    lines = ["| model | trained on | variant | TTA | FOV diameter | threshold | test F1 | AUC | Se | Sp | size |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, path in sorted(bundled_models().items()):
        meta = read_bundle_metadata(path)
        metrics = meta.get("test_metrics", {})
        lines.append(f"| `{name}` | {meta['dataset']} | {meta.get('stage', '?')} | {meta.get('tta', 'none')} | "
                     f"{meta['fov_diameter']:.0f} px | "
                     f"{meta['threshold']:.4f} | {metrics.get('f1', float('nan')):.4f} | "
                     f"{metrics.get('auc_roc', float('nan')):.4f} | {metrics.get('se', float('nan')):.4f} | "
                     f"{metrics.get('sp', float('nan')):.4f} | {path.stat().st_size / 1e6:.2f} MB |")
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    """Swap the generated block ``name`` of ``text`` for ``body`` (appended if absent)."""
    begin, end = f"<!-- {name}: begin (benchmarks/make_table.py) -->", f"<!-- {name}: end -->"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{begin}\n{body}\n{end}{tail}"


def main() -> int:
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    documents = [json.loads(p.read_text()) for p in results]
    # results of the earlier per-dataset script ("variants") until their experiment is run again
    documents = [d for d in documents if "variants" in d or d.get("kind") == "earnet-sweep-results"]
    body = "\n\n".join(render_sweep(d) if d.get("kind") == "earnet-sweep-results" else render(d)
                       for d in documents) or "_No training benchmark recorded yet._"
    target = ROOT / "BENCHMARKS.md"
    text = target.read_text() if target.exists() else "# Benchmarks\n"
    text = replace_block(text, "training results", body)
    speed = ROOT / "benchmarks" / "results" / "segment.json"
    if speed.is_file():
        text = replace_block(text, "segmentation speed", render_speed(json.loads(speed.read_text())))
    text = replace_block(text, "bundled models", render_models())
    target.write_text(text)
    print(f"wrote {target} ({len(documents)} datasets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

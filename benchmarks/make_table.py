"""Render BENCHMARKS.md's accuracy tables from benchmarks/results/*.json.

    python benchmarks/make_table.py            # rewrites the generated part of BENCHMARKS.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- training results: begin (benchmarks/make_table.py) -->", "<!-- training results: end -->"
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


def main() -> int:
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    documents = [json.loads(p.read_text()) for p in results if "variants" in json.loads(p.read_text())]
    body = "\n\n".join(render(d) for d in documents) or "_No training benchmark recorded yet._"
    target = ROOT / "BENCHMARKS.md"
    text = target.read_text() if target.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    target.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    print(f"wrote {target} ({len(documents)} datasets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Network time alone, per backbone, on a DRIVE-size input: which capacity is cheap on this CPU.

Each vessel backbone (BN folded, channels-last, bf16 autocast where the CPU has it: as
``earnet segment`` runs it) is timed on one 592x576 input (a DRIVE photograph padded to the
W-Net's multiple), after warm-up; medians. The order is run twice, reversed the second time,
so a drift of the machine's speed shows as a disagreement between the two passes. Excludes
everything outside the network (FOV, resampling, normalisation): see bench_segment.py.

    python benchmarks/bench_backbones.py --threads 2 --results benchmarks/results/backbones.json
    python benchmarks/bench_backbones.py --modes bf16-cl bf16 fp32-cl fp32 --results ...  # layouts, precisions

Modes: ``bf16-cl`` (what ``earnet segment`` runs where the CPU has bf16), ``bf16`` (contiguous
layout), ``fp32-cl``, ``fp32``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from results_file import write_results

from earnet.inference.fusion import fold_batch_norm
from earnet.inference.predictor import bf16_supported
from earnet.models.registry import count_parameters, create_model

BACKBONES = ("wnet", "wnet_mid", "wnet_deep", "wnet_wide_first", "wnet_wide")


MODES = {"bf16-cl": (True, True), "bf16": (True, False), "fp32-cl": (False, True), "fp32": (False, False)}


def seconds(name: str, repeat: int, bf16: bool, channels_last: bool = True) -> float:
    """Median seconds of one forward pass of ``name``'s stage-1 network."""
    model = fold_batch_norm(create_model(name).eval())
    image = torch.randn(1, 3, 592, 576)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for index in range(repeat + 3):
            start = time.perf_counter()
            model(image)
            if index >= 3:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--modes", nargs="+", choices=list(MODES), help="precision and layout (default: bf16-cl "
                        "where the CPU has bf16, else fp32-cl)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = args.modes or ["bf16-cl" if bf16_supported(torch.device("cpu")) else "fp32-cl"]
    jobs = [(name, mode) for name in args.backbones for mode in modes]
    passes = [{job: seconds(job[0], args.repeat, *MODES[job[1]]) for job in order} for order in (jobs, jobs[::-1])]
    records = [{"backbone": name, "mode": mode, "parameters": count_parameters(create_model(name)),
                "seconds": [p[(name, mode)] for p in passes],
                "seconds_median": statistics.median(p[(name, mode)] for p in passes)} for name, mode in jobs]
    for record in records:
        print(f"{record['backbone']:>12} {record['mode']:>8}  {record['parameters']:>8,} parameters  "
              f"{' / '.join(f'{s:.4f}' for s in record['seconds'])} s (pass 1 / pass 2)")
    write_results(args.results, protocol="one 592x576 input, stage-1 network only (BN folded; mode = autocast "
                  "precision and memory layout), median of --repeat passes after 3 warm-ups; two passes over the "
                  "backbones, the second in reverse order", threads=args.threads, modes=modes, records=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Score a model file through the full engine pipeline on the trainer's validation split of a photo folder.

The split and the composites are the trainer's own: trainer.datasets.build_datasets holds out the same
source photos (obj_src from index.csv when there is one), and every held-out photo gets the same fixed
perturbation the trainer validates on, here made at the photo's native resolution (the centre square of
its short side; the whole photo for square ones). Each composite then goes through
`engine.harmonizer.Harmonizer(model=PATH).harmonize(composite, mask)` (the network at the model's working
size, its colour transform lifted to full resolution), and is scored against the untouched photo with
engine.metrics, next to the untouched composite and the classical method. The network's own score at
its working size (what the trainer's `val` events report) is listed too, for comparison.

    python benchmarks/evaluate_model.py MODEL --data /path/to/photos [--max-images N] [--json]

Give the training run's --val-fraction and --max-images, if it had them, to get its split.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.errors import HarmonizerError, MaskError  # noqa: E402
from engine.harmonizer import Harmonizer  # noqa: E402
from engine.metrics import MetricAverager, image_metrics  # noqa: E402
from engine.registry import resolve_model  # noqa: E402
from trainer.datasets import build_datasets  # noqa: E402
from trainer.validation import evaluate, to_uint8  # noqa: E402

KEYS = ("mse", "fmse", "psnr")


def evaluate_model(model: str, data: list[str], val_fraction: float = 0.1, max_images: int | None = None,
                   limit: int | None = None, device: str = "cpu", classical: bool = True, log=None,
                   working_size: int | None = None) -> dict:
    """{"rows": {method: {"mse", "fmse", "psnr"}}, ...} on the validation split of `data`."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    path = resolve_model(model)
    net = Harmonizer(model=str(path), device=device, working_size=working_size)
    size = net.info.train_size
    # The trainer's datasets at the model's training size: the same split, cache and donors, so the
    # same perturbation for every held-out photo, and its validation score for comparison.
    _, val, report = build_datasets(data, size, val_fraction, 0, max_images, log=lambda m: None)
    count = min(len(val), limit) if limit else len(val)
    if not count:
        raise HarmonizerError("the validation split is empty; use a larger folder or --val-fraction")
    methods = {"composite": None, "model": net}
    if classical:
        methods["classical"] = Harmonizer(method="classical")
    scores = {name: MetricAverager() for name in methods}
    by_family: dict[str, dict[str, MetricAverager]] = {}  # the perturbation's first family -> method -> scores
    refused = {name: 0 for name in methods}
    resolutions = set()
    for i in range(count):
        comp_t, mask_t, real_t, family, _ = val.native(i)
        family_scores = by_family.setdefault(family.split("+")[0] or "given", {n: MetricAverager() for n in methods})
        comp, real = (to_uint8(t[None])[0] for t in (comp_t, real_t))
        mask = mask_t[0].numpy()
        resolutions.add(f"{comp.shape[1]}x{comp.shape[0]}")
        for name, harmonizer in methods.items():
            out = comp
            if harmonizer is not None:
                try:
                    out = harmonizer.harmonize(comp, mask)
                except MaskError:  # e.g. a foreground too small for the working size: left as it is
                    refused[name] += 1
            metrics = image_metrics(out, real, mask, with_ssim=False)
            scores[name].add(metrics)
            family_scores[name].add(metrics)
        if (i + 1) % 50 == 0:
            log(f"  {i + 1}/{count} validation images")
    rows = {name: {k: avg.mean()[k] for k in KEYS} for name, avg in scores.items()}
    subset = torch.utils.data.Subset(val, range(count))
    working, _, _ = evaluate(net.net, subset, net.device, batch=8, with_composite=False)
    lead = "lead network alone" if len(net._members()) > 1 else "model"  # a blend's forward is its lead's
    rows[f"{lead} @ {size} px (trainer's validation)"] = working
    return {
        "model": str(path), "model_name": net.model_name, "working_size": net.working_size, "train_size": size,
        "data": [str(d) for d in data], "val_fraction": val_fraction, "max_images": max_images,
        "val_images": count, "resolution": ", ".join(sorted(resolutions)), "skipped_images": report.skipped,
        "refused": {k: v for k, v in refused.items() if v}, "device": net.device_name,
        "rows": rows, "seconds": round(time.monotonic() - t0, 1),
        "by_family": {f: {"count": m["composite"].count, **{n: avg.mean()["fmse"] for n, avg in m.items()}}
                      for f, m in sorted(by_family.items())},
    }


def print_table(result: dict) -> None:
    comp = result["rows"]["composite"]["fmse"]
    print(f"{result['model_name']} ({result['model']}), working size {result['working_size']} px "
          f"(trained at {result.get('train_size', result['working_size'])} px); "
          f"{result['val_images']} validation images at {result['resolution']} from {', '.join(result['data'])}")
    print("| method | MSE | fMSE | PSNR (dB) | fMSE vs composite |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in result["rows"].items():
        change = f"{100.0 * (r['fmse'] - comp) / comp:+.1f}%" if comp else "-"
        print(f"| {name} | {r['mse']:.2f} | {r['fmse']:.2f} | {r['psnr']:.2f} | {change} |")
    if result.get("by_family"):
        names = [n for n in result["rows"] if n in next(iter(result["by_family"].values()))]
        print("\nfMSE by the perturbation's (first) family, and the model's share of the composite's:")
        print("| family | images | " + " | ".join(names) + " | model / composite |")
        print("| --- | --- | " + " | ".join("---" for _ in names) + " | --- |")
        for fam, r in result["by_family"].items():
            share = f"{100.0 * r['model'] / r['composite']:.0f}%" if r["composite"] else "-"
            print(f"| {fam} | {r['count']} | " + " | ".join(f"{r[n]:.0f}" for n in names) + f" | {share} |")
    if result["refused"]:
        print(f"left unchanged (mask too small for the method): {result['refused']}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="model file, or the name of an installed model")
    p.add_argument("--data", action="append", required=True, metavar="DIR", help="photo folder (repeatable)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="the training run's (default 0.1)")
    p.add_argument("--max-images", type=int, help="the training run's --max-images, if it had one")
    p.add_argument("--limit", type=int, help="score only the first N validation images (quick checks)")
    p.add_argument("--device", default="cpu", help="where the network runs (default cpu)")
    p.add_argument("--working-size", type=int, metavar="PX",
                   help="run the network at this size instead of the model file's (e.g. to choose it)")
    p.add_argument("--threads", type=int, help="CPU threads for the network")
    p.add_argument("--no-classical", dest="classical", action="store_false")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = evaluate_model(args.model, args.data, args.val_fraction, args.max_images, args.limit,
                                args.device, args.classical, working_size=args.working_size)
    except HarmonizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a model follow the reference area? Scored on scenes where it matters.

Every held-out photo of the trainer's split gets its fixed synthetic composite, a reference area (a part
of the background, trainer.references) and a second light on the rest of the background (that part
re-coloured in the composite and the target alike). The object's true colours then agree with the
reference area only: a method that reads the whole background is misled by the second light, one that
follows the reference is not. Each method runs through the full pipeline without and with the area:

    python benchmarks/reference_check.py MODEL [MODEL ...] --data ../shared/data/photos [--limit N]

Prints fMSE / PSNR per method; a model that has not been trained with reference areas runs without one
(the engine ignores it and says so), so its two rows agree.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.errors import MaskError  # noqa: E402
from engine.harmonizer import Harmonizer  # noqa: E402
from engine.metrics import MetricAverager, image_metrics  # noqa: E402
from trainer.datasets import build_datasets  # noqa: E402
from trainer.validation import to_uint8  # noqa: E402


def check(models: list[str], data: list[str], limit: int | None = None, size: int = 128) -> dict:
    """{method: {"fmse", "psnr", "refused"}} over the split's scenes with a second light."""
    _, val, _ = build_datasets(data, size, log=lambda m: None)
    val.reference_share, val.distractor_share = 1.0, 1.0
    methods = {h.model_name: h for h in [Harmonizer(method="classical")] + [Harmonizer(model=m, device="cpu") for m in models]}
    scores = {"composite": MetricAverager()}
    refused: dict[str, int] = {}
    count = min(len(val), limit) if limit else len(val)
    for i in range(count):
        comp_t, mask_t, real_t, _, ref_t = val.native(i)
        comp, real = (to_uint8(t[None])[0] for t in (comp_t, real_t))
        mask, reference = mask_t[0].numpy(), ref_t[0].numpy()
        scores["composite"].add(image_metrics(comp, real, mask, with_ssim=False))
        for name, h in methods.items():
            for label, ref in ((name, None), (f"{name} + reference area", reference)):
                try:
                    out = h.harmonize(comp, mask, reference=ref)
                except MaskError:
                    out = comp
                    refused[label] = refused.get(label, 0) + 1
                scores.setdefault(label, MetricAverager()).add(image_metrics(out, real, mask, with_ssim=False))
    return {name: {**{k: avg.mean()[k] for k in ("fmse", "psnr")}, "refused": refused.get(name, 0)}
            for name, avg in scores.items()} | {"images": count}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model files or installed model names")
    p.add_argument("--data", action="append", required=True, metavar="DIR")
    p.add_argument("--limit", type=int, help="score only the first N held-out photos")
    args = p.parse_args(argv)
    result = check(args.models, args.data, args.limit)
    print(f"{result.pop('images')} held-out photos, each with a second light on the background outside the reference area")
    print("| method | fMSE | PSNR (dB) |")
    print("| --- | --- | --- |")
    for name, r in result.items():
        note = f" ({r['refused']} refused)" if r["refused"] else ""
        print(f"| {name}{note} | {r['fmse']:.1f} | {r['psnr']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

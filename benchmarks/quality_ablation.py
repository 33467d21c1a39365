"""The quality ablation: what each part of the training recipe is worth, at an equal budget.

Every run trains the same generator from scratch with `harmonizer train` (the shipped trainer, not a
copy), for the same number of steps, batch, size and seed; each changes one thing against the current
recipe (transform head with the local correction, foreground-normalised MSE, synthesis v2), and the
last one is the previous default's recipe (pixel head, L1 + hinge GAN, synthesis v1). Each model is then
scored by benchmarks/evaluate_model.py on the same validation split (synthesis v2 composites), per
family of appearance change, and the script prints one markdown table.

    python benchmarks/quality_ablation.py --data ../shared/data/photos --runs work_local/ablation
    python benchmarks/quality_ablation.py --data ../shared/data/photos --runs work_local/ablation --report-only
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evaluate_model import evaluate_model  # noqa: E402
from benchmarks.training_runs import train_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# name -> (what it tests, trainer options)
RECIPES = {
    "transform-fnmse-v2": ("current recipe", ["--head", "transform", "--loss", "fnmse", "--synthesis", "v2"]),
    "global-fnmse-v2": ("no local correction", ["--head", "transform", "--no-local", "--loss", "fnmse",
                                                "--synthesis", "v2"]),
    "transform-l1-v2": ("L1 instead of fnMSE", ["--head", "transform", "--loss", "l1", "--synthesis", "v2"]),
    "transform-fnmse-v1": ("old synthesis", ["--head", "transform", "--loss", "fnmse", "--synthesis", "v1"]),
    "pixel-fnmse-v2": ("pixel head", ["--head", "pixel", "--loss", "fnmse", "--gan", "none", "--synthesis", "v2"]),
    "pixel-l1gan-v1": ("previous recipe", ["--head", "pixel", "--loss", "l1", "--gan", "hinge", "--synthesis", "v1"]),
    "transform-fnmse-v2-scene": ("current recipe + scene light", ["--head", "transform", "--loss", "fnmse",
                                                                  "--synthesis", "v2", "--scene-share", "0.5"]),
}


def run_one(args, name: str) -> None:
    train_run(args.runs, name, [
        "--data", str(args.data), "--size", str(args.size), "--steps", str(args.steps),
        "--batch", str(args.batch), "--seed", str(args.seed), "--ngf", str(args.ngf),
        "--depth", str(args.depth), "--threads", str(args.threads), "--workers", "0", "--device", "cpu",
        # Scene light came after the first rows were measured: off unless a recipe turns it on.
        "--progress", "json", "--run-dir", str(args.runs / name), "--scene-share", "0", *RECIPES[name][1]])


def score(args, name: str) -> dict:
    path = args.runs / name / "score.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = evaluate_model(str(args.runs / name / "model.safetensors"), [str(args.data)], classical=False,
                            log=lambda m: None)
    path.write_text(json.dumps(result, indent=1))
    return result


def report(args, scores: dict[str, dict]) -> None:
    first = next(iter(scores.values()))
    comp = first["rows"]["composite"]
    families = list(first["by_family"])
    print(f"{args.steps} steps at batch {args.batch}, {args.size} px, from scratch, seed {args.seed}; "
          f"{first['val_images']} validation photos (synthesis v2), scored through the full pipeline at "
          f"{first['working_size']} px. Composite: fMSE {comp['fmse']:.0f}, PSNR {comp['psnr']:.2f} dB.\n")
    print("| run | changes | fMSE | PSNR (dB) | share of composite | " + " | ".join(families) + " |")
    print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in families) + " |")
    for name, r in scores.items():
        row = r["rows"]["model"]
        fams = " | ".join(f"{100 * r['by_family'][f]['model'] / r['by_family'][f]['composite']:.0f}%"
                          for f in families)
        print(f"| {name} | {RECIPES[name][0]} | {row['fmse']:.0f} | {row['psnr']:.2f} | "
              f"{100 * row['fmse'] / comp['fmse']:.0f}% | {fams} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--runs", type=Path, default=ROOT / "work_local" / "ablation")
    p.add_argument("--only", nargs="+", choices=list(RECIPES), help="these runs only")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--depth", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="per run")
    p.add_argument("--parallel", type=int, default=2, help="runs at once")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    names = args.only or list(RECIPES)
    args.runs.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda n: run_one(args, n), names))
    report(args, {n: score(args, n) for n in names if (args.runs / n / "model.safetensors").is_file()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The normalization study: the same generator, data, budget and seed with each decoder normalization.

Trains one run per normalization with `harmonizer train` (so the study measures the shipped trainer,
not a copy of it), then writes docs/normalization_study.md (a per-epoch table) and
docs/normalization_study.png (validation MSE and PSNR against epoch, one line per normalization).

    python benchmarks/normalization_study.py --data ../shared/data/photos            # train + report
    python benchmarks/normalization_study.py --runs work_local/study --report-only   # report again
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.atomic import atomic_write_bytes  # noqa: E402
from benchmarks.training_runs import train_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NORMS = ("instance", "adain", "rain", "spade")
FINDINGS = "## Findings"


def train_args(args, norm: str, run_dir: Path) -> list[str]:
    return [
        "--data", str(args.data), "--norm", norm, "--ngf", str(args.ngf), "--size", str(args.size),
        "--epochs", str(args.epochs), "--batch", str(args.batch), "--seed", str(args.seed),
        "--threads", str(args.threads), "--workers", "1", "--device", "cpu",
        "--progress", "json", "--run-dir", str(run_dir), "--head", args.head,
        # The recorded study used the pixel head's recipe and the first synthesis; with --head transform it
        # compares the normalizations under the transform head's own defaults instead.
        *(["--loss", "l1", "--gan", "hinge", "--synthesis", "v1"] if args.head == "pixel" else []),
    ]


def run_one(args, norm: str) -> None:
    train_run(args.runs, norm, train_args(args, norm, args.runs / norm))


def read_history(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(args) -> None:
    histories = {n: read_history(args.runs / n) for n in NORMS}
    histories = {n: h for n, h in histories.items() if h}
    if not histories:
        raise SystemExit(f"no finished runs under {args.runs}")
    epochs = sorted({r["epoch"] for h in histories.values() for r in h})
    comp = next(iter(histories.values()))[0]
    lines = [
        "# The normalization study",
        "",
        "Same generator (RainNet, ngf {ngf}, working size {size}), data (`{data}`, validation = 10% of source "
        "photos), batch {batch}, seed {seed} and budget ({epochs} epochs) for every run; only the decoder's "
        "normalization changes. Validation composites are fixed, so every row scores the same inputs.".format(
            ngf=args.ngf, size=args.size, data=args.data_label, batch=args.batch, seed=args.seed, epochs=args.epochs),
        "",
        f"The untouched composites score MSE {comp['comp_mse']:.1f}, fMSE {comp['comp_fmse']:.1f}, "
        f"PSNR {comp['comp_psnr']:.2f} dB.",
        "",
        "Reproduce (about {m:.0f} minutes per normalization on one CPU core):".format(m=args.minutes_note),
        "",
        "```sh",
        f"python benchmarks/normalization_study.py --data {args.data_label} --size {args.size} --ngf {args.ngf} "
        f"--epochs {args.epochs} --batch {args.batch} --seed {args.seed}",
        "```",
        "",
        "![MSE and PSNR against epoch](normalization_study.png)",
        "",
        "| epoch | " + " | ".join(f"{n} MSE | {n} PSNR" for n in histories) + " |",
        "| --- | " + " | ".join("--- | ---" for _ in histories) + " |",
    ]
    for e in epochs:
        cells = []
        for n, h in histories.items():
            row = next((r for r in h if r["epoch"] == e), None)
            cells.append(f"{row['mse']:.1f} | {row['psnr']:.2f}" if row else "- | -")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines += ["", "Final epoch, with fMSE:", "", "| normalization | MSE | fMSE | PSNR (dB) |", "| --- | --- | --- | --- |"]
    for n, h in histories.items():
        r = h[-1]
        lines.append(f"| {n} | {r['mse']:.1f} | {r['fmse']:.1f} | {r['psnr']:.2f} |")
    out_md = args.docs / "normalization_study.md"
    body = "\n".join(lines) + "\n"
    # The discussion is written by hand under "## Findings"; regenerating the tables keeps it.
    if out_md.is_file() and FINDINGS in out_md.read_text():
        body += "\n" + FINDINGS + out_md.read_text().split(FINDINGS, 1)[1]
    atomic_write_bytes(out_md, body.encode("utf-8"))
    plot(histories, args.docs / "normalization_study.png", comp)
    print(f"wrote {out_md} and {args.docs / 'normalization_study.png'}")


def plot(histories: dict, path: Path, comp: dict) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for n, h in histories.items():
        # Epoch 0 (untrained, zero-initialised affines) is in the table; drawn, it would flatten the
        # differences that matter into one line.
        h = [r for r in h if r["epoch"] > 0]
        xs = [r["epoch"] for r in h]
        axes[0].plot(xs, [r["mse"] for r in h], "o-", label=n)
        axes[1].plot(xs, [r["psnr"] for r in h], "o-", label=n)
    axes[0].axhline(comp["comp_mse"], ls="--", c="gray", label="composite")
    axes[1].axhline(comp["comp_psnr"], ls="--", c="gray", label="composite")
    axes[0].set(title="validation MSE (lower is better)", xlabel="epoch")
    axes[1].set(title="validation PSNR, dB (higher is better)", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    p.add_argument("--runs", type=Path, default=ROOT / "work_local" / "study")
    p.add_argument("--docs", type=Path, default=ROOT / "docs")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--norms", default=",".join(NORMS))
    p.add_argument("--head", choices=["pixel", "transform"], default="pixel",
                   help="the generator's head (default pixel: the recorded study's recipe)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--minutes-note", type=float, default=15)
    args = p.parse_args()
    args.data_label = "../shared/data/photos" if args.data.resolve() == (ROOT.parent / "shared/data/photos").resolve() else str(args.data)
    args.runs.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for norm in args.norms.split(","):
            run_one(args, norm)
    report(args)


if __name__ == "__main__":
    main()

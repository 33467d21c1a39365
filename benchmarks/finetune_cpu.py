"""Does fine-tuning pay off on a CPU? Fine-tune a model on the photos of one domain and score it before/after.

A domain is one `keyword` of the photo folder's index.csv (a user with a folder of car photos, say). The
script links that domain's photos (and their index.csv rows, so the split by source photo holds) into a
folder of its own, runs

    harmonizer train --data DOMAIN --init MODEL --minutes 10 --threads 2 --progress json

and reports the domain's validation fMSE before and after: the trainer's own numbers (its `done` event,
the network at its working size) and the full engine pipeline's at the photos' resolution
(benchmarks/evaluate_model.py), next to the untouched composite and the classical method.

    python benchmarks/finetune_cpu.py --model default --photos ../shared/data/photos
    python benchmarks/finetune_cpu.py --model MODEL --photos DIR --keyword water --minutes 0.5
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evaluate_model import evaluate_model  # noqa: E402
from engine.registry import resolve_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIN_DOMAIN = 100  # photos: enough to train on and to hold out ~10 for validation
MAX_SHARE = 0.10  # of all photos: a domain the base model saw little of


def read_index(photos: Path) -> tuple[list[str], list[dict]]:
    index = photos / "index.csv"
    if not index.is_file():
        sys.exit(f"error: {index} not found (a `keyword` column picks the domain)")
    with open(index, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    if not rows or "keyword" not in rows[0]:
        sys.exit(f"error: {index} has no keyword column")
    return list(reader.fieldnames), rows


def pick_keyword(counts: Counter) -> str:
    """The largest domain that is still a minority of the data (at most MAX_SHARE of the photos) and has
    at least MIN_DOMAIN photos; the largest domain when none qualifies."""
    total = sum(counts.values())
    fits = [(n, k) for k, n in counts.items() if MIN_DOMAIN <= n <= MAX_SHARE * total]
    return max(fits)[1] if fits else counts.most_common(1)[0][0]


def link_domain(photos: Path, fields: list[str], rows: list[dict], keyword: str, folder: Path) -> int:
    """Symlinks to the domain's photos and masks, plus its rows of index.csv; returns the photo count."""
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for row in rows:
        if row["keyword"] != keyword:
            continue
        stem = Path(row["name"]).stem
        found = [p for p in photos.glob(f"{stem}.*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        found += list(photos.glob(f"{stem}_mask.*"))
        if not found:
            continue
        for src in found:
            dst = folder / src.name
            if not dst.exists():
                dst.symlink_to(src.resolve())
        kept.append(row)
    with open(folder / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    return len(kept)


def fine_tune(model: Path, domain: Path, run_dir: Path, minutes: float, threads: int, val_fraction: float) -> dict:
    """Runs the trainer as the application does and returns its events by kind (the last of each)."""
    args = ["--data", str(domain), "--init", str(model), "--minutes", f"{minutes:g}", "--threads", str(threads),
            "--progress", "json", "--run-dir", str(run_dir), "--val-fraction", f"{val_fraction:g}"]
    print("harmonizer train " + " ".join(args), file=sys.stderr, flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "trainer", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    last, steps = {}, 0
    for line in proc.stdout:
        event = json.loads(line)
        last[event["event"]] = event
        if event["event"] == "val":
            print(f"  step {event['step']}: validation fMSE {event['fmse']:.2f}", file=sys.stderr, flush=True)
        steps = event.get("step", steps)
    if proc.wait() != 0 or "done" not in last:
        message = last.get("error", {}).get("message", f"exit status {proc.returncode}")
        sys.exit(f"error: fine-tuning failed: {message}")
    last["steps"] = steps
    return last


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", help="the model to fine-tune: default, a name or a file")
    p.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos",
                   help="photo folder with an index.csv that has a keyword column")
    p.add_argument("--keyword", help="the domain (default: the largest minority domain, see pick_keyword)")
    p.add_argument("--minutes", type=float, default=10.0, help="fine-tuning wall time (default 10)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--work", type=Path, help="folder for the domain links and the run (default: a new temp folder)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = resolve_model(args.model)
    fields, rows = read_index(args.photos)
    counts = Counter(r["keyword"] for r in rows)
    print("photos per keyword: " + ", ".join(f"{k} {n}" for k, n in counts.most_common()), file=sys.stderr)
    keyword = args.keyword or pick_keyword(counts)
    if keyword not in counts:
        sys.exit(f"error: no photos with keyword {keyword!r}")
    work = args.work or Path(tempfile.mkdtemp(prefix="finetune_cpu_"))
    domain = work / f"domain-{keyword}"
    n = link_domain(args.photos, fields, rows, keyword, domain)
    print(f"domain {keyword!r}: {n} photos ({100.0 * n / len(rows):.1f}% of {len(rows)}), linked in {domain}",
          file=sys.stderr, flush=True)

    t0 = time.monotonic()
    before = evaluate_model(str(model), [str(domain)], args.val_fraction)
    events = fine_tune(model, domain, work / "run", args.minutes, args.threads, args.val_fraction)
    done = events["done"]
    after = evaluate_model(done["model_path"], [str(domain)], args.val_fraction)
    result = {
        "model": str(model), "keyword": keyword, "domain_photos": n, "train_images": events["start"]["train_images"],
        "val_images": before["val_images"], "minutes": args.minutes, "threads": args.threads,
        "steps": events["steps"], "device": events["start"]["device"], "fine_tuned_model": done["model_path"],
        "trainer": {"before": done["before"], "after": done["after"]},
        "full_pipeline": {"composite": before["rows"]["composite"], "classical": before["rows"].get("classical"),
                          "before": before["rows"]["model"], "after": after["rows"]["model"]},
        "resolution": before["resolution"], "working_size": before["working_size"],
        "seconds": round(time.monotonic() - t0, 1),
    }
    (work / "finetune_result.json").write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    tr, fp = result["trainer"], result["full_pipeline"]
    gain = lambda b, a: f"{100.0 * (a - b) / b:+.1f}%"
    print(f"fine-tuning {model.name} on {keyword!r} ({result['train_images']} training / {result['val_images']} "
          f"validation photos), {args.minutes:g} min on {result['device']}: {result['steps']} steps")
    print("| validation fMSE | before | after | change |")
    print("| --- | --- | --- | --- |")
    print(f"| trainer (network at {result['working_size']} px) | {tr['before']['fmse']:.2f} | {tr['after']['fmse']:.2f} "
          f"| {gain(tr['before']['fmse'], tr['after']['fmse'])} |")
    print(f"| full pipeline at {result['resolution']} | {fp['before']['fmse']:.2f} | {fp['after']['fmse']:.2f} "
          f"| {gain(fp['before']['fmse'], fp['after']['fmse'])} |")
    print(f"untouched composite fMSE {fp['composite']['fmse']:.2f}"
          + (f", classical {fp['classical']['fmse']:.2f}" if fp["classical"] else "")
          + f"; details in {work / 'finetune_result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

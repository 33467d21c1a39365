"""Package a trained model as a bundled one: its full-resolution evaluation goes into the model card.

    python benchmarks/evaluate_model.py RUN/model.safetensors --data ../shared/data/photos --json > eval.json
    python benchmarks/ship_model.py RUN/model.safetensors --eval eval.json --name default

Writes resources/models/NAME.safetensors (the card inside, next to the weights) and NAME.md, the same
card for people. The trainer's own card fields (data, command, steps, wall time, hardware, validation at
the working size) are kept; what is added is the score through the shipped pipeline at the photos' own
resolution, next to the untouched composite and the classical method on the same split.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.atomic import atomic_write_bytes  # noqa: E402
from engine.model_file import ARCH_KEYS, load_model, save_blend, save_model  # noqa: E402
from engine.rainnet import Blend  # noqa: E402
from engine.registry import bundled_models_dir, validate_name  # noqa: E402


def card_markdown(name: str, info, card: dict, size_mb: float) -> str:
    cfg = info.config
    ev = card.get("evaluation", {})
    rows = ev.get("rows", {})
    comp = rows.get("composite", {}).get("fmse")
    blend = card.get("blend") or []
    lines = [
        f"# Model card: `{name}`",
        "",
        (f"A blend of {len(blend) + 1} RainNet generators (engine.blend); {card.get('parameters', 0):,} parameters in "
         f"all, {size_mb:.1f} MB. The lead: " if blend else "") +
        f"RainNet generator with the {cfg.get('head', 'pixel')} head"
        f"{' (tone curves, a global affine colour map and a smooth local correction)' if cfg.get('head') == 'transform' else ''}, "
        f"decoder normalization `{cfg['norm']}`, ngf {cfg['ngf']}, depth {cfg['depth']}, "
        f"working size {info.working_size} px (trained at {info.train_size} px)" +
        ("." if blend else f"; {card.get('parameters', 0):,} parameters, {size_mb:.1f} MB (fp16 safetensors)."),
        "",
        "## Training",
        f"- Data: {', '.join(card.get('data_label', card.get('data', [])))} "
        f"({card.get('train_images')} training / {card.get('val_images')} validation photos, split by source photo)",
        f"- Command: `{card.get('command_label', card.get('command', ''))}`",
        f"- Steps: {card.get('steps')} at batch {card.get('batch')} ({card.get('epochs')} epochs); "
        f"wall time {card.get('wall_time_s', 0) / 60:.0f} min on {card.get('hardware')}",
        f"- Losses: {json.dumps(card.get('losses', {}))}; seed {card.get('seed')}; "
        f"synthesis {card.get('synthesis', 'v1')}",
        f"- Started from: {card['init_label'] if card.get('init_label') else card.get('init') or 'scratch'}",
    ]
    if card.get("history_note"):
        lines.append(f"- {card['history_note']}")
    if card.get("blend"):
        lines += ["", "## Blended with", "The network above is the lead of a blend (engine.blend): its tone curves "
                  "and colour transform are averaged with each of these networks' (fitted to their output) with the "
                  f"weights given; the lead's weight is {cfg.get('weight', 1.0):g}.", ""]
        for m in card["blend"]:
            lines.append(f"- `{m.get('file')}` (weight {m.get('weight'):g}, run at {m.get('size', '?')} px): {m.get('head', 'pixel')} head, "
                         f"{m.get('steps')} steps, {m.get('wall_time_s', 0) / 60:.0f} min on {m.get('hardware')}; "
                         f"synthesis {m.get('synthesis', 'v1')}; command `{m.get('command', '')}`")
    if rows:
        lines += [
            "",
            "## Validation",
            f"{ev.get('val_images')} held-out photos at {ev.get('resolution')}, each with the trainer's fixed "
            "synthetic composite; scored through the shipped pipeline (network at the working size, colour "
            "transform lifted to full resolution) with `engine.metrics`.",
            "",
            "| method | MSE | fMSE | PSNR (dB) | fMSE vs composite |",
            "| --- | --- | --- | --- | --- |",
        ]
        for method, r in rows.items():
            if r is None:
                continue
            change = f"{100.0 * (r['fmse'] - comp) / comp:+.1f}%" if comp else "-"
            lines.append(f"| {method} | {r['mse']:.1f} | {r['fmse']:.1f} | {r['psnr']:.2f} | {change} |")
        if ev.get("by_family"):
            lines += ["", "By the perturbation's (first) family, fMSE:", "",
                      "| family | images | composite | model | classical | model / composite |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for fam, r in ev["by_family"].items():
                share = f"{100.0 * r['model'] / r['composite']:.0f}%" if r.get("composite") else "-"
                lines.append(f"| {fam} | {r['count']} | {r['composite']:.0f} | {r['model']:.0f} | "
                             f"{r.get('classical', float('nan')):.0f} | {share} |")
        lines += ["", "Reproduce: `python benchmarks/evaluate_model.py resources/models/"
                  f"{name}.safetensors --data ../shared/data/photos`"]
    if card.get("notes"):
        lines += ["", "## Notes", *[f"- {n}" for n in card["notes"]]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--eval", type=Path, required=True, help="evaluate_model.py --json output")
    p.add_argument("--name", default="default")
    p.add_argument("--data-label", default="../shared/data/photos",
                   help="how the card names the training data (not a path on the trainer's machine)")
    p.add_argument("--note", action="append", default=[], help="a line for the card's notes (repeatable)")
    p.add_argument("--init-label", help="how the card names the model the run started from")
    p.add_argument("--working-size", type=int, metavar="PX",
                   help="the size the shipped model runs at (default: the model file's); the --eval "
                        "result must have been measured at it")
    p.add_argument("--out-dir", type=Path, default=bundled_models_dir())
    args = p.parse_args(argv)
    name = args.name if args.name == "default" else validate_name(args.name)
    model, info = load_model(args.model)
    evaluation = json.loads(args.eval.read_text())
    working_size = args.working_size or info.working_size
    if evaluation.get("working_size") != working_size:
        sys.exit(f"error: {args.eval} was measured at working size {evaluation.get('working_size')}, "
                 f"not {working_size}; run evaluate_model.py with --working-size {working_size}")
    card = dict(info.card)
    card.pop("parameters", None)  # recounted by save_model
    card.update(name=name, evaluation=evaluation, data_label=[args.data_label], notes=args.note)
    if args.init_label:
        card["init_label"] = args.init_label
    card["command_label"] = card.get("command", "").replace(str(Path(card.get("data", [""])[0])), args.data_label)
    out = args.out_dir / f"{name}.safetensors"
    if isinstance(model, Blend):
        members = [(net, {k: v for k, v in c.items() if k not in ARCH_KEYS}) for net, c in zip(model.members, info.members)]
        members[0][1]["size"] = working_size
        save_blend(out, members, card)
    else:
        # Everything but the architecture (which comes from the network) is kept: sizes, reference training.
        config = {k: v for k, v in info.config.items() if k not in ARCH_KEYS}
        save_model(out, model, {**config, "size": working_size, "train_size": info.train_size}, card)
    size_mb = out.stat().st_size / 1e6
    _, shipped = load_model(out)
    atomic_write_bytes(args.out_dir / f"{name}.md", card_markdown(name, shipped, shipped.card, size_mb).encode())
    print(f"wrote {out} ({size_mb:.1f} MB) and {args.out_dir / (name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

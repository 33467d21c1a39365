"""Blend two (or more) model files into one (engine.blend): the first is the lead, whose tone curves the
blend applies; every network's colour transform is averaged with the given weights.

    python benchmarks/blend_models.py LEAD.safetensors OTHER.safetensors [--weights 0.5 0.5] -o BLEND.safetensors

Then score it (benchmarks/evaluate_model.py) and package it (benchmarks/ship_model.py) like any model.
The lead's card stays the blend's card; each other network's card is kept under "blend".
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.model_file import ARCH_KEYS, BLEND, load_model, save_blend  # noqa: E402
from engine.registry import resolve_model  # noqa: E402

CARD_KEYS = ("name", "command", "init", "steps", "wall_time_s", "hardware", "head", "synthesis", "losses",
             "trained", "notes")


def member_config(info, weight: float) -> dict:
    """What a blend keeps of a network's config: all but the architecture (taken from the network) and any
    blend of its own."""
    return {**{k: v for k, v in info.config.items() if k not in ARCH_KEYS and k != BLEND}, "weight": weight}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="model files or names, the lead first")
    p.add_argument("--weights", type=float, nargs="+", help="one per model (default: equal)")
    p.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    if len(args.models) < 2:
        sys.exit("error: a blend needs at least two models")
    weights = args.weights or [1.0 / len(args.models)] * len(args.models)
    if len(weights) != len(args.models) or any(not 0 < w <= 1 for w in weights):
        sys.exit("error: give one weight in (0, 1] per model")
    members, infos = [], []
    for path, weight in zip(args.models, weights):
        net, info = load_model(resolve_model(path), lead_only=True)
        members.append((net, member_config(info, weight)))
        infos.append(info)
    card = {k: v for k, v in infos[0].card.items() if k != "parameters"}
    card["blend"] = [{"file": info.path.name, "weight": w, "size": info.working_size,
                      **{k: info.card[k] for k in CARD_KEYS if k in info.card}}
                     for info, w in zip(infos[1:], weights[1:])]
    save_blend(args.out, members, card)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

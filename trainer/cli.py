"""`harmonizer train` (also `python -m trainer`): argument parsing and the error contract.

Exit status: 0 when training finished or was stopped cleanly (SIGINT/SIGTERM), 1 on an error, which is
printed as one line to stderr (and, with --progress json, as an `error` event on stdout).
"""
from __future__ import annotations

import argparse
import shlex
import sys

from engine.errors import HarmonizerError
from engine.presets import DEFAULT_PRESET, PRESETS
from trainer.progress import make_reporter

EPILOG = """\
Examples:
  harmonizer train --data ~/Pictures/beach --init default --minutes 10 --out beach
  harmonizer train --data photos/ --ngf 32 --size 256 --epochs 40 --out my-model
  harmonizer train --data photos/ --resume RUN/checkpoints/last.pt
  torchrun --nproc_per_node 4 -m trainer --data iHarmony4/ --epochs 60   (DDP; --batch is per process)

Photo folders: X.jpg with an optional X_mask.png; composites are synthesized on the fly. Folders with
X_comp/X_mask/X_real triplets and the iHarmony4 layout are recognised too. The validation split is a
fixed share of source photos (by name hash), the same for every seed.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harmonizer train", description="Train or fine-tune a RainNet harmonization model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", default=[], metavar="DIR", help="training data folder (repeatable)")
    p.add_argument("--init", metavar="MODEL", help="fine-tune from a model: default, a model name, or a file")
    p.add_argument("--norm", choices=["rain", "instance", "adain", "spade", "batch"],
                   help="decoder normalization (default rain)")
    p.add_argument("--preset", choices=list(PRESETS),
                   help=f"generator architecture (default {DEFAULT_PRESET}: " + "; ".join(
                       f"{k} ngf {v['ngf']} depth {v['depth']}" for k, v in PRESETS.items()) + ")")
    p.add_argument("--ngf", type=int, help="generator width, overriding the preset's (64 is the published network)")
    p.add_argument("--depth", type=int, help="U-Net depth, overriding the preset's (fewer for sizes not divisible by 256)")
    p.add_argument("--size", type=int, help="working size in pixels (default 256, or the --init model's)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="train for E epochs (default 10)")
    budget.add_argument("--minutes", type=float, help="train for M minutes of wall time, then validate and export")
    budget.add_argument("--steps", type=int, help="train for S optimizer steps")
    p.add_argument("--max-steps", type=int, metavar="N",
                   help="stop after N steps at the latest, whatever the budget (quick trials)")
    p.add_argument("--batch", type=int, default=4, help="images per step and process (default 4)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--out", metavar="NAME", help="register the trained model under NAME in your model folder")
    p.add_argument("--resume", metavar="CKPT", help="continue a run from its checkpoint (its data and settings)")
    p.add_argument("--progress", choices=["tqdm", "json"], default="tqdm",
                   help="a progress bar (default) or JSON lines on stdout for the application")
    p.add_argument("--run-dir", metavar="DIR", help="folder for logs, samples and checkpoints (default: a new "
                   "folder under the user data folder's runs/; with --resume, the run folder the checkpoint is in)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of source photos held out (default 0.1)")
    p.add_argument("--max-images", type=int, help="use at most N images per data folder (quick runs)")
    p.add_argument("--checkpoint-every", type=int, default=500, metavar="N",
                   help="save a checkpoint every N steps (and every 10 minutes, and at the end)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-decay", type=float, metavar="SHARE",
                   help="let the learning rate fall linearly to zero over this last share of the budget "
                        "(e.g. 0.5; default 0 = constant; with --resume, the checkpoint's unless given)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="validate and export an exponential moving average of the weights with this decay "
                        "(e.g. 0.999; default 0 = the weights as trained)")
    p.add_argument("--reference-share", type=float, metavar="P",
                   help="train this share of samples (e.g. 0.3) to take the scene's light from a reference area, so "
                        "the model follows the area a user paints (default: 0.3 when the --init model follows "
                        "reference areas, as the default model does; else 0)")
    p.add_argument("--distractor-share", type=float, metavar="P",
                   help="of the samples with a reference area, re-light the background outside it in this share "
                        "(default 0.5), so the model learns to leave a second light out")
    p.add_argument("--scene-share", type=float, metavar="P",
                   help="re-light the whole scene around the pasted object in this share of samples (e.g. 0.5), "
                        "so the model learns to take the scene's light (default 0.5; 0 with --synthesis v1)")
    p.add_argument("--workers", type=int, help="data loader processes (default min(2, cores); 0 = in-process)")
    p.add_argument("--threads", type=int, help="CPU threads for the network (default: all cores)")
    p.add_argument("--head", choices=["transform", "pixel"],
                   help="what the network predicts: a colour transform (default) or pixels (the published RainNet)")
    p.add_argument("--no-local", dest="local", action="store_false",
                   help="transform head: one global transform, without the smooth local correction")
    p.add_argument("--loss", choices=["fnmse", "l1"],
                   help="reconstruction loss: foreground-normalised MSE (default for the transform head) or L1")
    p.add_argument("--synthesis", choices=["v2", "v1"], default="v2",
                   help="training composites: v2 (default, matched to real composites) or v1 (the first recipe)")
    p.add_argument("--gan", choices=["hinge", "lsgan", "none"],
                   help="adversarial loss (default none for the transform head, hinge for the pixel head)")
    p.add_argument("--gan-weight", type=float, default=1.0)
    p.add_argument("--no-gan", dest="gan", action="store_const", const="none",
                   help="no discriminator")
    p.add_argument("--l1-weight", type=float, default=100.0, help="the reconstruction loss's weight")
    p.add_argument("--l1-region", choices=["foreground", "full"], default="foreground",
                   help="average L1 over the foreground (default) or the full image (RainNet paper)")
    p.add_argument("--ndf", type=int, help="discriminator width (default min(64, 2 * ngf))")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no mixed precision on CUDA")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep tensors in the default memory format on CUDA")
    p.add_argument("--val-samples", type=int, default=4, help="sample strips saved per validation")
    return p


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"cannot write {exc.filename}: {reason}" if exc.filename else reason


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    # Passive OpenMP waiting (2 threads on 2 busy cores ran ~9x slower spinning) is set by `import engine`
    # above, before torch loads.
    from trainer.train import TrainConfig, train  # torch import after --help is answered
    from trainer import distributed

    info = distributed.from_env()
    reporter = make_reporter(args.progress, info.rank)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items()},
                      command="harmonizer train " + " ".join(shlex.quote(a) for a in argv))
    try:
        train(cfg, reporter)
    except (HarmonizerError, OSError) as exc:
        # OSError: a write outside our own writers (a full disk under a log or plot); still one line.
        message = str(exc) if isinstance(exc, HarmonizerError) else _os_error(exc)
        reporter.close()
        reporter.error(message)
        if args.progress == "json":
            print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C: the user wants out now, without a checkpoint
        reporter.close()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        reporter.close()
    return 0

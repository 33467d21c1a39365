"""The engine's commands of the `harmonizer` command line (harmonize, batch, eval, models). Failures are
one line on stderr (exit 1), usage errors exit 2, Ctrl+C exits 130; `--verbose` adds tracebacks.

Commands that bring their own arguments and dependencies (training, the editor) are handed in as
`Delegate`s by the composition root (harmonizer_cli), so this module never names them."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine import __version__
from engine.errors import CancelledError, HarmonizerError

DISTRIBUTION = "photo-harmonizer"  # what pip installs (pyproject's name); the command is `harmonizer`
EPILOG = "Run `harmonizer COMMAND --help` for a command's options."


@dataclass(frozen=True)
class Delegate:
    """A command that owns its arguments: everything after its name is handed to `run` untouched."""

    help: str
    run: Callable[[list[str]], int]


def _common(parser: argparse.ArgumentParser, device: bool = True) -> None:
    parser.add_argument("--model", default="default", help="model name (see `harmonizer models`) or .safetensors path")
    parser.add_argument("--method", choices=("rain", "classical"), default="rain",
                        help="rain: the trained network (default); classical: Lab statistics transfer, no weights")
    if device:
        parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    parser.add_argument("--fast", action="store_true",
                        help="a blended model (the default is one) runs its lead network alone: about 4x the "
                             "throughput of a batch, at some cost in quality (docs/quality.md)")


def _fraction(what: str):
    """An argparse type for a number in 0..1 whose errors name the option."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number between 0 and 1, got {text!r}") from None
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(f"{what} must be between 0 and 1, got {text}")
        return value

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


_strength = _fraction("strength")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _quality(text: str) -> int:
    value = _positive(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"quality must be between 1 and 100, got {text}")
    return value


def _shadow(text: str):
    """`ANGLE[,LENGTH[,OPACITY]]` -> ShadowSettings (engine.shadow), checked now rather than per file."""
    from engine.shadow import ShadowSettings

    try:
        values = [float(v) for v in text.split(",")] if text else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shadow takes ANGLE[,LENGTH[,OPACITY]] in numbers, got {text!r}") from None
    if len(values) > 3:
        raise argparse.ArgumentTypeError(f"--shadow takes at most ANGLE,LENGTH,OPACITY, got {text!r}")
    keys = ("angle", "length", "opacity")
    try:
        return ShadowSettings(**dict(zip(keys, values))).checked()
    except HarmonizerError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_shadow_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shadow", type=_shadow, nargs="?", const="", metavar="ANGLE[,LENGTH[,OPACITY]]",
                   help="cast the object's shadow on the scene: ANGLE in degrees (0 right, 90 back, 180 left, "
                        "270 towards you; default 235), LENGTH as a share of its height (0.6), OPACITY (0.6)")


def build_parser(delegates: Mapping[str, Delegate] = {}) -> argparse.ArgumentParser:
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")
    parser = argparse.ArgumentParser(prog="harmonizer", parents=[verbose], epilog=EPILOG,
                                     description="Image harmonization with a RAIN generator.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} ({DISTRIBUTION})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("harmonize", parents=[verbose], help="harmonize one composite")
    p.add_argument("composite", type=Path)
    p.add_argument("mask", type=Path, nargs="?",
                   help="mask image (white = foreground); omit to use the composite's alpha channel")
    p.add_argument("-o", "--out", type=Path, required=True, help="output file (.png, .jpg, .webp, .tif)")
    _common(p)
    p.add_argument("--strength", type=_strength, default=1.0, help="0 = unchanged, 1 = full correction")
    p.add_argument("--quality", type=_quality, default=95, help="JPEG/WebP quality (default 95)")
    _add_shadow_option(p)
    p.add_argument("--reference", type=Path, metavar="MASK",
                   help="mask of the area whose light the object should take (sun or shade, say) instead of "
                        "the background around it (the classical method and the default model use it)")
    p.add_argument("--match-photo", type=Path, metavar="IMAGE",
                   help="take the light of another photo instead of the scene's own")
    p.add_argument("--match-area", type=Path, metavar="MASK", help="with --match-photo: only this area of the photo")
    p.add_argument("--alpha", type=_fraction("alpha"), default=1.0,
                   help="with --match-photo: 0 = the scene's own light, 1 = the photo's (default 1)")

    p = sub.add_parser("batch", parents=[verbose], help="harmonize every composite in a folder, and .ora projects")
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                   help="a folder of composites (X.jpg with X_mask.png) or an .ora project; several may be given")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--masks", type=Path, help="folder of masks named X.png or X_mask.png (default: X_mask.png beside X)")
    p.add_argument("--format", choices=("png", "jpg", "webp", "tif"), default="png")
    p.add_argument("--quality", type=_quality, default=95, help="JPEG/WebP quality (default 95)")
    p.add_argument("--name", default="{name}", help="output name template, e.g. '{name}_harmonized'")
    p.add_argument("--overwrite", choices=("overwrite", "skip", "rename"), default="overwrite",
                   help="when an output exists (default: overwrite)")
    p.add_argument("--workers", type=_positive, default=1, help="files processed in parallel (threads)")
    _add_shadow_option(p)
    _common(p)
    p.add_argument("--strength", type=_strength, default=1.0)
    p.add_argument("--max-side", type=_positive, help="shrink inputs so the longer side is at most this")
    p.add_argument("--report", type=Path, help="also save the report as a text file")

    p = sub.add_parser("eval", parents=[verbose], help="score a method on iHarmony4 or X_comp/X_mask/X_real triplets")
    p.add_argument("root", type=Path)
    p.add_argument("--subset", help="only this subset (e.g. HCOCO)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    _common(p)
    p.add_argument("--baseline", action="store_true", help="score the unharmonized composites instead")
    p.add_argument("--size", type=int, default=256,
                   help="evaluate at SIZE x SIZE as the iHarmony4 protocol does (0 = each image's own size)")
    p.add_argument("--limit", type=_positive, help="at most this many images per subset")

    sub.add_parser("models", parents=[verbose], help="list installed models")
    for name, delegate in delegates.items():
        sub.add_parser(name, help=delegate.help, add_help=False)
    return parser


def _harmonizer(args):
    from engine.harmonizer import Harmonizer

    return Harmonizer(model=args.model, method=args.method, device=getattr(args, "device", "auto"),
                      lead_only=getattr(args, "fast", False))


def cmd_harmonize(args) -> int:
    import numpy as np

    from engine.atomic import check_writable_folder
    from engine.image_io import ALPHA_FORMATS, read_image, read_mask, write_format, write_image

    if write_format(args.out) is None:  # before the work, not after it
        raise HarmonizerError(f"cannot write {args.out}: unknown format; use .png, .jpg, .webp or .tif")
    check_writable_folder(args.out)
    rgb, alpha = read_image(args.composite)
    keep_alpha = None
    if args.mask is not None:
        mask = read_mask(args.mask, size=(rgb.shape[1], rgb.shape[0]))
        keep_alpha = alpha if write_format(args.out) in ALPHA_FORMATS else None
    elif alpha is not None:
        mask = alpha.astype(np.float32) / 255.0  # a layered export: its alpha marks the pasted object
    else:
        raise HarmonizerError(f"no mask given and {args.composite.name} has no alpha channel to use as one")
    start = time.monotonic()
    reference = None if args.reference is None else read_mask(args.reference, size=(rgb.shape[1], rgb.shape[0]))
    style = None
    if args.match_photo is not None:
        from engine.photo_match import PhotoStyle

        photo, _ = read_image(args.match_photo)
        area = None if args.match_area is None else read_mask(args.match_area, size=(photo.shape[1], photo.shape[0]))
        style = PhotoStyle(photo, area, args.alpha)
    elif args.match_area is not None:
        raise HarmonizerError("--match-area needs --match-photo")
    harmonizer = _harmonizer(args)
    out = harmonizer.harmonize(rgb, mask, strength=args.strength, reference=reference, style=style)
    if args.shadow is not None:
        from engine.shadow import add_shadow

        out = add_shadow(out, mask, args.shadow)
    write_image(args.out, out, quality=args.quality, alpha=keep_alpha)
    if harmonizer.notice:
        print(f"note: {harmonizer.notice}", file=sys.stderr)
    print(f"wrote {args.out} ({harmonizer.model_name} on {harmonizer.device_name}, "
          f"{time.monotonic() - start:.2f} s)", file=sys.stderr)
    return 0


def cmd_batch(args) -> int:
    from tqdm import tqdm

    from engine.atomic import check_writable_folder
    from engine.batch import BatchOptions, find_items, run_batch

    options = BatchOptions(format=args.format, quality=args.quality, name_template=args.name,
                           overwrite=args.overwrite, strength=args.strength, max_side=args.max_side,
                           method=args.method, model=args.model, workers=args.workers, shadow=args.shadow)
    check_writable_folder(args.out / "output", what=f"into {args.out}")  # before loading the model
    if args.report:
        check_writable_folder(args.report)
    items, unmatched = find_items(args.inputs, args.masks)
    for path in unmatched:
        print(f"no mask for {path.name}: not processed", file=sys.stderr)
    if not items:
        where = ", ".join(str(p) for p in args.inputs)[:300]
        raise HarmonizerError(f"no composites with a mask (X_mask.png) nor .ora projects in {where}")
    harmonizer = _harmonizer(args)
    stop = threading.Event()
    with tqdm(total=len(items), unit="img", file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(fraction, stage):
            bar.n = round(fraction * len(items), 2)
            bar.set_postfix_str(stage[-40:], refresh=False)
            bar.refresh()

        try:
            report = run_batch(items, args.out, options, harmonizer, progress=progress, cancel=stop.is_set)
        except KeyboardInterrupt:
            stop.set()  # worker threads finish their current stage and stop
            raise
    for name, reason in report.failed:
        print(f"failed: {name}: {reason}", file=sys.stderr)
    for name, reason in report.skipped:
        print(f"skipped: {name}: {reason}", file=sys.stderr)
    for name, note in report.notes:
        print(f"note: {name}: {note}", file=sys.stderr)
    if args.report:
        report.save(args.report)
    print(report.summary() + f" -> {args.out}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from engine.evaluation import evaluate, find_subsets, format_table

    subsets, problems = find_subsets(args.root, args.subset)
    harmonizer = None if args.baseline else _harmonizer(args)
    total = sum(min(len(s), args.limit or len(s)) for s in subsets.values())
    with tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(fraction, stage):
            bar.n = round(fraction * total)
            bar.refresh()

        result = evaluate(subsets, harmonizer, size=args.size or None, limit=args.limit, progress=progress)
    result["method"] = "composite (no harmonization)" if harmonizer is None else harmonizer.model_name
    result["problems"] = problems
    for line in problems + result["errors"]:
        print(f"skipped: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"method: {result['method']}" + (f", {args.size}x{args.size}" if args.size else ", native size"))
        print(format_table(result))
    return 0 if result["overall"]["count"] else 1


def _card_fmse(card: dict):
    """The validation fMSE a model card reports: the full-pipeline score when the card has one (bundled
    models), else the trainer's own after-training validation."""
    rows = (card.get("evaluation") or {}).get("rows") or {}
    if isinstance(rows.get("model"), dict):
        return rows["model"].get("fmse")
    val = card.get("validation") or {}
    return (val.get("after") or {}).get("fmse", val.get("fmse"))


def cmd_models(args) -> int:
    from engine.registry import bundled_models_dir, list_models, user_models_dir

    models = list_models()
    if not models:
        print("no trained models installed.")
        print(f"Put .safetensors model files in {user_models_dir()} (yours) or {bundled_models_dir()} (bundled),")
        print("train one with `harmonizer train`, or use `--method classical`, which needs no weights.")
        return 0
    rows = [("name", "norm", "ngf", "size", "params", "val fMSE", "path")]
    for m in models:
        params = m.parameters
        fmse = _card_fmse(m.card)
        rows.append((
            m.name + ("" if m.bundled else " *"),
            str(m.config.get("norm", "?")),
            str(m.config.get("ngf", "?")),
            str(m.working_size) + ("" if m.train_size == m.working_size else f" (trained {m.train_size})"),
            f"{params / 1e6:.1f}M" if isinstance(params, (int, float)) else "?",
            f"{fmse:.1f}" if isinstance(fmse, (int, float)) else "-",
            str(m.path),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    if any(not m.bundled for m in models):
        print("* your own model")
    return 0


COMMANDS = {"harmonize": cmd_harmonize, "batch": cmd_batch, "eval": cmd_eval, "models": cmd_models}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Warnings (a resized mask, a fallback) are one line for the user, not a source location.
    print(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds exactly like Ctrl+C: running writes remove
    their temp files, batch workers stop at their next stage."""


def _on_sigterm(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_unwinds():
    # Only around our own commands: `train` has its own handler (a checkpoint, then a clean exit), and in
    # the GUI's Qt event loop an exception from a signal handler would land in some slot.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None, delegates: Mapping[str, Delegate] = {}) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv, delegates)


def _main(argv: list[str], delegates: Mapping[str, Delegate]) -> int:
    verbose = False
    # Delegates own their arguments: hand everything after the command over untouched. Only flags
    # before the command are ours.
    n_lead = 0
    while n_lead < len(argv) and argv[n_lead] in ("-v", "--verbose"):
        n_lead += 1
    rest = argv[n_lead:]
    try:
        if rest and rest[0] in delegates:
            verbose = n_lead > 0
            return int(delegates[rest[0]].run(rest[1:]) or 0)
        args = build_parser(delegates).parse_args(argv)
        verbose = getattr(args, "verbose", False)
        with _sigterm_unwinds():
            return COMMANDS[args.command](args)
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except CancelledError:
        print("cancelled", file=sys.stderr)
        return 130
    except HarmonizerError as exc:
        if verbose:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:
        if verbose:
            traceback.print_exc()
        print("error: out of memory; try --max-side or a smaller image", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line by default, the traceback on request
        if verbose:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: unexpected {type(exc).__name__}: {first} (run with --verbose for details)", file=sys.stderr)
        return 1



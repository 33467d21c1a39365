"""A corpus of crafted inputs (docs/reliability.md), generated at test time and small on disk, run in a
subprocess under a memory cap (RLIMIT_AS) and a file-size cap (RLIMIT_FSIZE, standing in for a full disk).

Each case must end in one clear line naming the problem (or load cleanly where the input is harmless),
never in a crash, a MemoryError, garbage pixels or a leftover temp file. The crafted files declare
sizes they do not contain (a 3.9 GiB zero entry is ~4 MB of deflate, a 196 MP layer is a 60-byte PNG
header), so without the limits the capped process runs out of memory.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

resource = pytest.importorskip("resource")  # POSIX only, like the caps themselves

import engine  # noqa: E402

CODE_ROOT = Path(engine.__file__).resolve().parent.parent  # the tree under test (PYTHONPATH may point elsewhere)
# The address space the capped process may add once everything is imported (torch alone reserves ~1 GiB,
# more in CUDA builds, so the cap is set relative to what the process holds at that point).
HEADROOM = 1536 * 1024**2
FILE_CAP = 8 * 1024**2
ZERO_CHUNK = 64 * 1024**2


# -- crafting ----------------------------------------------------------------------------------------------
def _zip(path: Path, entries) -> None:
    """Write a zip by hand: entries are dicts with name and data, optionally method (8 = data is raw
    deflate), size and crc as declared, and flags. zipfile itself cannot declare what is not there."""
    out, central = bytearray(), bytearray()
    for e in entries:
        name, data = e["name"].encode(), e["data"]
        method, flags = e.get("method", 0), e.get("flags", 0)
        size, crc = e.get("size", len(data)), e.get("crc", zlib.crc32(data))
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 33, crc, len(data), size, len(name), 0)
        out += name + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0, 33, crc, len(data), size,
                               len(name), 0, 0, 0, 0, 0, offset)
        central += name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _png_header(w: int, h: int) -> bytes:
    """A PNG that declares w x h RGBA and holds almost nothing: sizing it is free, decoding it is not."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _zeros_deflate(total: int) -> bytes:
    """Raw deflate of `total` zero bytes in ~total/1000 bytes: one fully flushed chunk repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = c.compress(bytes(ZERO_CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)
    return chunk * (total // ZERO_CHUNK) + c.flush(zlib.Z_FINISH)


def _ora(path: Path, stack: str, extra=(), layer=None) -> Path:
    layer = _png(np.full((8, 8, 4), 200, np.uint8)) if layer is None else layer
    entries = [{"name": "mimetype", "data": b"image/openraster"},
               {"name": "stack.xml", "data": stack.encode()},
               {"name": "data/bg.png", "data": layer}, *extra]
    _zip(path, entries)
    return path


def _stack(body: str, w: int = 8, h: int = 8) -> str:
    return f'<image w="{w}" h="{h}"><stack>{body}</stack></image>'


BG = '<layer name="bg" src="data/bg.png"/>'


def _state(**state) -> dict:
    text = json.dumps({"format": 1, "has_foreground": False, "has_result": False, **state})
    return {"name": "harmonizer/document.json", "data": text.replace('"INF"', "Infinity").encode()}


def _model(path: Path, **config) -> Path:
    import torch
    from safetensors.torch import save_file

    from engine.model_file import FORMAT
    from engine.rainnet import RainNet

    torch.manual_seed(0)
    net = RainNet(ngf=4, depth=3)
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps({**net.config, "size": 64, **config}), "card": "{}"}
    save_file(tensors, str(path), metadata=meta)
    return path


def build_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.full((32, 48, 3), 120, np.uint8)
    Image.fromarray(rgb).save(folder / "comp.png")
    for name, top in (("nan255", 255.0), ("nan01", 1.0)):
        m = np.zeros((32, 48), np.float32)
        m[8:24, 12:36] = top
        m[10, 20] = np.nan
        Image.fromarray(m, "F").save(folder / f"mask_{name}.tif")
    _ora(folder / "opacity_negative.ora", _stack(BG), [_state(opacity=-3)])
    _ora(folder / "opacity_inf.ora", _stack(BG), [_state(opacity="INF")])
    _ora(folder / "offset_inf.ora", _stack('<layer name="bg" src="data/bg.png" x="inf"/>'))
    _ora(folder / "stack_opacity_nan.ora", _stack('<layer name="bg" src="data/bg.png" opacity="nan"/>'))
    _ora(folder / "nested.ora", _stack("<stack>" * 5000 + BG + "</stack>" * 5000))
    layer = _png(np.full((8, 8, 4), 200, np.uint8))
    _zip(folder / "encrypted.ora", [{"name": "mimetype", "data": b"image/openraster"},
                                    {"name": "stack.xml", "data": _stack(BG).encode()},
                                    {"name": "data/bg.png", "data": layer, "flags": 1}])
    size = (4 * 1024**3 - 200 * 1024**2) // ZERO_CHUNK * ZERO_CHUNK  # ~3.9 GiB, just under the archive limit
    unused = {"name": "junk/zeros.bin", "data": _zeros_deflate(size), "method": 8, "size": size, "crc": 0}
    _ora(folder / "unused_entry.ora", _stack(BG), [unused, _state(opacity=1)])
    _ora(folder / "canvas_over_limit.ora", _stack(BG, 20000, 20000))
    big = _png_header(14000, 14000)  # 196 MP each: under the per-image limit, four are far over a project's
    layers = "".join(f'<layer name="l{i}" src="data/l{i}.png"/>' for i in range(4))
    _ora(folder / "four_big_layers.ora", _stack(layers, 14000, 14000),
         [{"name": f"data/l{i}.png", "data": big} for i in range(4)])
    _ora(folder / "layer_over_limit.ora", _stack(BG), layer=_png_header(15000, 15000))
    _model(folder / "ngf4096.safetensors", ngf=4096)
    _model(folder / "ngf256.safetensors", ngf=256, depth=8)  # allowed width, but not what the tensors hold
    _model(folder / "bad_norm.safetensors", norm="nonsense")
    _model(folder / "ngf_text.safetensors", ngf="32")
    (folder / "a_file").write_bytes(b"not a folder")
    # Metadata that must never cost the picture: a profile whose tag table points past its end, and an
    # EXIF block whose directory claims entries it does not hold.
    profile = b"\0\0\x01\0" + b"\0" * 32 + b"acsp" + b"\0" * 88 + b"\xff\xff\xff\xff" + b"\0" * 120
    Image.fromarray(rgb).save(folder / "icc_garbage.png", icc_profile=profile)
    Image.fromarray(rgb).save(folder / "exif_garbage.jpg", exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff" + b"\x07" * 64)
    op = "svg:" + "x" * 100_000
    _ora(folder / "long_op.ora", _stack(f'<stack isolation="{op}"><layer name="a" src="data/bg.png" composite-op="{op}"/>'
                                        f'</stack>' + BG))


# -- the capped run ----------------------------------------------------------------------------------------
def _cases(folder: Path) -> dict:
    """name -> a callable that returns a short description of success or raises."""
    from engine.batch import BatchOptions, run_batch
    from harmonizer_cli import main
    from engine.harmonizer import Harmonizer
    from engine.image_io import read_image, read_mask, read_picture, write_image
    from engine.model_file import load_model
    from engine import openraster as ora
    from harmonizer_gui import document_io
    from harmonizer_gui.document import Document

    rgb = np.full((32, 48, 3), 120, np.uint8)
    mask = np.zeros((32, 48), np.float32)
    mask[8:24, 12:36] = 1
    classical = Harmonizer(method="classical")

    def project(name):
        doc = Document()
        try:
            document_io.load_project(doc, folder / name)
        except Exception:
            assert doc.background is None, "a refused project half-loaded"
            raise
        return f"loaded {doc.background.shape}"

    def nan_api():
        bad = mask.copy()
        bad[9, 20] = np.nan
        classical.harmonize(rgb, bad)

    def cli(*argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main([str(a) for a in argv])
        lines = err.getvalue().strip().splitlines()
        raise RuntimeError(f"rc {rc}: {' | '.join(lines)}")

    def cli_batch(project):
        """`harmonizer batch` on one crafted project: its failure line, as the command line reports it."""
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main(["batch", str(folder / project), "-o", str(folder / "batch_out"), "--method", "classical"])
        lines = [ln for ln in err.getvalue().splitlines() if ln.startswith(("failed:", "error:"))]
        raise RuntimeError(f"rc {rc}: {' | '.join(lines)}")

    def full_disk(write, path):
        try:
            write(path)
        finally:
            left = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
            assert not left, f"temp files left: {left}"

    def checkpoint(path):
        import torch

        from trainer.checkpoint import save_checkpoint

        save_checkpoint(path, {"weights": torch.zeros(3_000_000).uniform_()})

    noise = np.random.default_rng(0).integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    (folder / "disk").mkdir(exist_ok=True)
    return {
        "mask_nan255": lambda: read_mask(folder / "mask_nan255.tif"),
        "mask_nan01": lambda: read_mask(folder / "mask_nan01.tif"),
        "image_nan": lambda: read_image(folder / "mask_nan01.tif"),
        "cli_nan_mask": lambda: cli("harmonize", folder / "comp.png", folder / "mask_nan255.tif", "-o",
                                    folder / "out.png", "--method", "classical"),
        "api_nan_mask": nan_api,
        "api_strength_text": lambda: classical.harmonize(rgb, mask, strength="0.5"),
        "opacity_negative": lambda: project("opacity_negative.ora"),
        "opacity_inf": lambda: project("opacity_inf.ora"),
        "offset_inf": lambda: ora.load_ora(folder / "offset_inf.ora"),
        "stack_opacity_nan": lambda: ora.load_ora(folder / "stack_opacity_nan.ora"),
        "nested": lambda: ora.load_ora(folder / "nested.ora"),
        "encrypted": lambda: ora.load_ora(folder / "encrypted.ora"),
        "unused_entry": lambda: project("unused_entry.ora"),
        "unused_entry_ora": lambda: sorted(ora.load_ora(folder / "unused_entry.ora").extras),
        "unused_entry_batch": lambda: ora.load_composite(folder / "unused_entry.ora")[0].shape,
        "canvas_over_limit": lambda: ora.load_ora(folder / "canvas_over_limit.ora"),
        "four_big_layers": lambda: ora.load_ora(folder / "four_big_layers.ora"),
        "four_big_layers_batch": lambda: ora.load_composite(folder / "four_big_layers.ora"),
        "layer_over_limit": lambda: ora.load_ora(folder / "layer_over_limit.ora"),
        "cli_batch_four_big_layers": lambda: cli_batch("four_big_layers.ora"),
        "cli_batch_layer_over_limit": lambda: cli_batch("layer_over_limit.ora"),
        "cli_batch_nested": lambda: cli_batch("nested.ora"),
        "cli_batch_unused_entry": lambda: cli_batch("unused_entry.ora"),
        "model_ngf4096": lambda: load_model(folder / "ngf4096.safetensors"),
        "model_ngf256": lambda: load_model(folder / "ngf256.safetensors"),
        "model_bad_norm": lambda: load_model(folder / "bad_norm.safetensors"),
        "model_ngf_text": lambda: load_model(folder / "ngf_text.safetensors"),
        "template_width": lambda: BatchOptions(name_template="{name:>999999999}"),
        "cli_template_width": lambda: cli("batch", folder, "-o", folder / "out", "--name", "{name:>999999999}",
                                          "--method", "classical"),
        "out_parent_is_file": lambda: cli("harmonize", folder / "missing.png", "-o", folder / "a_file" / "x.png",
                                          "--method", "classical"),
        "batch_out_is_file": lambda: run_batch([], folder / "a_file", BatchOptions(), classical),
        "icc_garbage": lambda: read_picture(folder / "icc_garbage.png").notes,
        "exif_garbage": lambda: read_picture(folder / "exif_garbage.jpg").rgb.shape,
        "long_op": lambda: project("long_op.ora"),
        "tiff_full_disk": lambda: full_disk(lambda p: write_image(p, noise), folder / "disk" / "big.tif"),
        "checkpoint_full_disk": lambda: full_disk(checkpoint, folder / "disk" / "last.pt"),
    }


def child(folder: str) -> None:
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the file cap a write fails (EFBIG) like a full disk
    cases = _cases(Path(folder))
    cap = _address_space() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    results = {}
    for name, case in cases.items():
        try:
            value = case()
        except BaseException as exc:  # noqa: BLE001 - the corpus records whatever happens
            results[name] = {"raised": type(exc).__name__, "message": str(exc)[:2000]}
        else:
            results[name] = {"ok": str(value)[:200]}
    print("RESULTS " + json.dumps(results))


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:  # no /proc (macOS): a fixed guess
        return 2 * 1024**3


def _file_cap():
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_CAP, FILE_CAP))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    build_corpus(folder)
    assert sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) < 20 * 1024**2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CODE_ROOT), str(Path(__file__).parent)]),
           "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    code = f"import test_hostile_inputs as t; t.child({str(folder)!r})"
    proc = subprocess.run([sys.executable, "-c", code], env=env, preexec_fn=_file_cap, capture_output=True,
                          text=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line is not None, f"the capped run died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(line[len("RESULTS "):])


# name -> (exception type, pattern in its one-line message); None: loads cleanly.
EXPECTED = {
    "mask_nan255": ("MaskError", r"mask_nan255\.tif.*NaN"),
    "mask_nan01": ("MaskError", r"mask_nan01\.tif.*NaN"),
    "image_nan": ("ImageReadError", r"mask_nan01\.tif.*NaN"),
    "cli_nan_mask": ("RuntimeError", r"^rc 1: error: .*mask_nan255\.tif.*NaN[^|]*$"),
    "api_nan_mask": ("MaskError", r"NaN"),
    "api_strength_text": ("HarmonizerError", r"strength must be a number between 0 and 1, got '0\.5'"),
    "opacity_negative": ("ImageReadError", r"opacity_negative\.ora.*opacity -3"),
    "opacity_inf": ("ImageReadError", r"opacity_inf\.ora.*opacity inf"),
    "offset_inf": ("ImageReadError", r"offset_inf\.ora.*invalid x 'inf'"),
    "stack_opacity_nan": ("ImageReadError", r"invalid opacity 'nan'"),
    "nested": ("ImageReadError", r"nested\.ora.*nests groups more than 64 deep"),
    "encrypted": ("ImageReadError", r"encrypted\.ora.*data/bg\.png is encrypted"),
    "unused_entry": None,
    "unused_entry_ora": None,
    "unused_entry_batch": ("MaskError", r"needs a background layer and a foreground"),
    "canvas_over_limit": ("ImageReadError", r"20000x20000, above the 200 MP limit"),
    "four_big_layers": ("ImageReadError", r"four_big_layers\.ora.*above the 600 MP limit for a project"),
    "four_big_layers_batch": ("ImageReadError", r"above the 600 MP limit for a project"),
    "layer_over_limit": ("ImageReadError", r"15000x15000, above the 200 MP limit"),
    # The same limits from the command line, one `failed:` line each (exit 1), never the whole batch.
    "cli_batch_four_big_layers": ("RuntimeError", r"^rc 1: failed: four_big_layers: cannot read .*four_big_layers"
                                                  r"\.ora: .*above the 600 MP limit for a project$"),
    "cli_batch_layer_over_limit": ("RuntimeError", r"^rc 1: failed: layer_over_limit: .*15000x15000, above the 200 MP "
                                                   r"limit$"),
    "cli_batch_nested": ("RuntimeError", r"^rc 1: failed: nested: .*nests groups more than 64 deep$"),
    "cli_batch_unused_entry": ("RuntimeError", r"^rc 1: failed: unused_entry: .*needs a background layer and a "
                                               r"foreground"),
    "model_ngf4096": ("HarmonizerError", r"ngf4096\.safetensors.*ngf must be a whole number from 1 to 512, got 4096"),
    "model_ngf256": ("HarmonizerError", r"ngf256\.safetensors does not match its architecture config: tensor \S+ is"),
    "model_bad_norm": ("HarmonizerError", r"bad_norm\.safetensors.*unknown norm 'nonsense'"),
    "model_ngf_text": ("HarmonizerError", r"ngf_text\.safetensors.*ngf must be a whole number"),
    "template_width": ("HarmonizerError", r"bad name template .*width above 255"),
    "cli_template_width": ("RuntimeError", r"^rc 1: error: bad name template"),
    "out_parent_is_file": ("RuntimeError",
                           r"^rc 1: error: cannot write .*a_file/x\.png: .*a_file is a file, not a folder$"),
    "batch_out_is_file": ("ImageWriteError", r"a_file is a file, not a folder"),
    "icc_garbage": None,
    "exif_garbage": None,
    "long_op": None,
    "tiff_full_disk": ("ImageWriteError", r"^cannot write .*big\.tif: File too large$"),
    "checkpoint_full_disk": ("ImageWriteError", r"^cannot write .*last\.pt: File too large$"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_case(results, name):
    got = results[name]
    expected = EXPECTED[name]
    if expected is None:
        assert "ok" in got, got
        return
    kind, pattern = expected
    assert got.get("raised") == kind, got
    message = got["message"]
    assert "\n" not in message.strip() and len(message) < 400, message
    assert re.search(pattern, message), message


def test_unused_entry_is_never_read(results):
    assert results["unused_entry_ora"]["ok"] == "['harmonizer/document.json']"


def test_corpus_has_every_case(results):
    assert set(results) == set(EXPECTED)


def test_training_onto_a_full_disk_reports_an_error_event(monkeypatch, capsys, tmp_path):
    """A write failure outside our own writers (a log, a plot) still ends as one line and, with
    --progress json, an `error` event the application can show."""
    import trainer.train
    from trainer import cli

    def full(cfg, reporter):
        raise OSError(28, "No space left on device", str(tmp_path / "run" / "metrics.csv"))

    monkeypatch.setattr(trainer.train, "train", full)
    rc = cli.main(["--data", str(tmp_path), "--progress", "json"])
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert rc == 1
    message = f"cannot write {tmp_path / 'run' / 'metrics.csv'}: No space left on device"
    assert events[-1] == {"event": "error", "message": message}
    assert err.strip().splitlines() == [f"error: {events[-1]['message']}"]


def test_a_training_run_onto_a_full_disk_ends_with_one_line_and_an_error_event(tmp_path):
    """End to end, with the file-size cap standing in for a full disk: the first checkpoint cannot be
    written, the run ends with one stderr line and an `error` event, and leaves no temp file."""
    from test_trainer_loop import TINY, photo_folder

    data = photo_folder(tmp_path / "photos", n=6)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(CODE_ROOT), "HARMONIZER_DATA_DIR": str(tmp_path / "userdata")}
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384)); "
            "from harmonizer_cli import main; sys.exit(main())")
    proc = subprocess.run([sys.executable, "-c", code, "train", "--data", str(data), "--steps", "2", "--run-dir",
                           str(run), "--progress", "json", *TINY], env=env, capture_output=True, text=True,
                          timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert events[-1]["event"] == "error" and events[-1]["message"].endswith(": File too large"), events[-1]
    assert proc.stderr.strip().splitlines()[-1] == f"error: {events[-1]['message']}"
    assert "Traceback" not in proc.stderr
    assert not [p for p in run.rglob(".*") if p.is_file()]

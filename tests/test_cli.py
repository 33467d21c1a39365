"""The `harmonizer` command line end to end: harmonize, batch, eval, models, gui, and the error contract.

Every test runs with an empty bundled-model folder and a private user data folder, so the results are
the same whether or not a trained resources/models/default.safetensors has been installed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harmonizer_cli import main
from engine.model_file import save_model
from engine.rainnet import RainNet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_models(no_bundled_models):
    return no_bundled_models


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A test-only RainNet(ngf=4) with a visible colour shift; never shipped anywhere."""
    torch.manual_seed(0)
    net = RainNet(ngf=4)
    with torch.no_grad():
        net.decoder[0].up.bias.copy_(torch.tensor([0.6, -0.4, 0.2]))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_model(path, net, {"size": 256}, {"purpose": "test fixture"})


def scene(h=96, w=128, seed=0):
    """A warm textured background with a cold object pasted in; mask as uint8 0/255."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal((170, 120, 80), 20, (h, w, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 255
    obj = np.clip(rng.normal((60, 90, 170), 15, (h, w, 3)), 0, 255).astype(np.uint8)
    img[mask > 0] = obj[mask > 0]
    return img, mask


def write_pair(folder: Path, stem: str, seed=0, ext="png"):
    folder.mkdir(parents=True, exist_ok=True)
    img, mask = scene(seed=seed)
    Image.fromarray(img).save(folder / f"{stem}.{ext}", quality=95)
    Image.fromarray(mask).save(folder / f"{stem}_mask.png")
    return folder / f"{stem}.{ext}", folder / f"{stem}_mask.png"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


# --- harmonize ---------------------------------------------------------------------------------


def test_harmonize_classical_with_non_ascii_paths(tmp_path, capsys):
    comp, mask = write_pair(tmp_path / "entrée", "café_写真")
    out = tmp_path / "sortie" / "résultat.png"
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", out, "--method", "classical")
    assert code == 0, err
    got = np.asarray(Image.open(out))
    img, m = scene()
    np.testing.assert_array_equal(got[m == 0], img[m == 0])
    assert np.abs(got[m > 0].astype(int) - img[m > 0]).mean() > 3
    assert "wrote" in err and "classical" in err


def test_harmonize_rain_with_a_model_file_and_strength(tmp_path, capsys, tiny_model):
    comp, mask = write_pair(tmp_path, "x")
    img, m = scene()
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", tmp_path / "full.png", "--model", tiny_model,
                       "--device", "cpu")
    assert code == 0, err
    full = np.asarray(Image.open(tmp_path / "full.png"))
    np.testing.assert_array_equal(full[m == 0], img[m == 0])
    assert np.abs(full[m > 0].astype(int) - img[m > 0]).mean() > 3
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", tmp_path / "none.png", "--model", tiny_model,
                       "--strength", "0")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "none.png")), img)


def test_harmonize_with_a_user_model_by_name_and_jpeg_output(tmp_path, capsys, tiny_model):
    models = Path(os.environ["HARMONIZER_DATA_DIR"]) / "models"
    models.mkdir(parents=True)
    (models / "mine.safetensors").write_bytes(tiny_model.read_bytes())
    comp, mask = write_pair(tmp_path, "x")
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", tmp_path / "o.jpg", "--model", "mine",
                       "--quality", "80")
    assert code == 0, err
    assert "mine" in err
    with Image.open(tmp_path / "o.jpg") as im:
        assert im.format == "JPEG" and im.size == (128, 96)


def test_harmonize_uses_the_alpha_channel_when_no_mask_is_given(tmp_path, capsys):
    img, m = scene()
    Image.fromarray(np.dstack([img, m]), "RGBA").save(tmp_path / "layered.png")
    code, _, err = run(capsys, "harmonize", tmp_path / "layered.png", "-o", tmp_path / "o.png",
                       "--method", "classical")
    assert code == 0, err
    got = np.asarray(Image.open(tmp_path / "o.png"))
    assert got.shape == (96, 128, 3)
    np.testing.assert_array_equal(got[m == 0], img[m == 0])
    Image.fromarray(img).save(tmp_path / "flat.png")
    code, _, err = run(capsys, "harmonize", tmp_path / "flat.png", "-o", tmp_path / "o2.png", "--method", "classical")
    assert code == 1 and "no alpha channel" in err and len(error_lines(err)) == 1


def test_a_mask_of_another_size_is_resized_with_a_one_line_warning(tmp_path, capsys):
    comp, _ = write_pair(tmp_path, "x")
    Image.fromarray(scene()[1]).resize((64, 48), Image.NEAREST).save(tmp_path / "small_mask.png")
    code, _, err = run(capsys, "harmonize", comp, tmp_path / "small_mask.png", "-o", tmp_path / "o.png",
                       "--method", "classical")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "64x48" in warnings[0] and "128x96" in warnings[0]
    assert not [line for line in err.splitlines() if "UserWarning" in line or ".py:" in line]


def test_missing_default_model_says_which_method_to_use(tmp_path, capsys):
    comp, mask = write_pair(tmp_path, "x")
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", tmp_path / "o.png")
    assert code == 1
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: no trained weights")
    assert "--method classical" in lines[0]
    assert not (tmp_path / "o.png").exists()


def test_installed_default_model_is_used(tmp_path, capsys, tiny_model, isolated_models):
    (isolated_models / "default.safetensors").write_bytes(tiny_model.read_bytes())
    comp, mask = write_pair(tmp_path, "x")
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", tmp_path / "o.png", "--device", "cpu")
    assert code == 0 and "default" in err


# --- error contract ----------------------------------------------------------------------------


def test_failures_are_one_line_and_exit_1(tmp_path, capsys):
    comp, mask = write_pair(tmp_path, "x")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("L", (128, 96), 255).save(tmp_path / "white.png")
    cases = [
        (["harmonize", tmp_path / "nope.png", mask, "-o", tmp_path / "o.png"], "no such file"),
        (["harmonize", tmp_path / "broken.png", mask, "-o", tmp_path / "o.png"], "broken.png"),
        (["harmonize", comp, mask, "-o", tmp_path / "o.gif", "--method", "classical"], "unknown format"),
        (["harmonize", comp, mask, "-o", tmp_path / "o.png", "--model", tmp_path / "no.safetensors"], "not found"),
        (["harmonize", comp, mask, "-o", tmp_path / "o.png", "--model", "nobody"], "no model named 'nobody'"),
        (["harmonize", comp, tmp_path / "white.png", "-o", tmp_path / "o.png", "--method", "classical"], "whole image"),
    ]
    for argv, expected in cases:
        code, out, err = run(capsys, *argv)
        lines = error_lines(err)
        assert code == 1, (argv, err)
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (argv, err)
        assert "Traceback" not in err and out == ""
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.gif").exists()


def test_verbose_adds_the_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "--verbose", "harmonize", tmp_path / "nope.png", tmp_path / "m.png", "-o",
                       tmp_path / "o.png")
    assert code == 1 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: cannot read")
    code, _, err = run(capsys, "harmonize", tmp_path / "nope.png", tmp_path / "m.png", "-o", tmp_path / "o.png", "-v")
    assert code == 1 and "Traceback" in err


def test_an_unexpected_exception_is_one_line_unless_verbose(tmp_path, capsys, monkeypatch):
    from engine.harmonizer import Harmonizer

    def boom(self, *a, **k):
        raise RuntimeError("kaput\nmore detail")

    monkeypatch.setattr(Harmonizer, "harmonize", boom)
    comp, mask = write_pair(tmp_path, "x")
    code, _, err = run(capsys, "harmonize", comp, mask, "-o", tmp_path / "o.png", "--method", "classical")
    assert code == 1 and error_lines(err) == ["error: unexpected RuntimeError: kaput (run with --verbose for details)"]
    code, _, err = run(capsys, "-v", "harmonize", comp, mask, "-o", tmp_path / "o.png", "--method", "classical")
    assert code == 1 and "Traceback" in err and "more detail" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["harmonize", "a.png", "m.png"],  # no -o
        ["harmonize", "a.png", "m.png", "-o", "o.png", "--strength", "2"],
        ["harmonize", "a.png", "m.png", "-o", "o.png", "--strength", "lots"],
        ["harmonize", "a.png", "m.png", "-o", "o.png", "--method", "magic"],
        ["harmonize", "a.png", "m.png", "-o", "o.png", "--quality", "0"],
        ["batch", "in", "-o", "out", "--format", "gif"],
        ["batch", "in", "-o", "out", "--workers", "0"],
        ["eval"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


def test_the_installed_command_exit_codes_and_streams(tmp_path):
    """The real process: what a shell script sees."""
    env = {**os.environ, "HARMONIZER_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    comp, mask = write_pair(tmp_path, "x")

    def harmonizer(*argv):
        return subprocess.run([sys.executable, "-m", "harmonizer_cli", *map(str, argv)], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=300)

    ok = harmonizer("harmonize", comp, mask, "-o", tmp_path / "o.webp", "--method", "classical")
    assert ok.returncode == 0 and ok.stdout == "" and (tmp_path / "o.webp").is_file(), ok.stderr
    bad = harmonizer("harmonize", tmp_path / "missing.png", mask, "-o", tmp_path / "o.png")
    assert bad.returncode == 1 and error_lines(bad.stderr) == [f"error: cannot read {tmp_path / 'missing.png'}: no such file"]
    verbose = harmonizer("--verbose", "harmonize", tmp_path / "missing.png", mask, "-o", tmp_path / "o.png")
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr
    usage = harmonizer("harmonize", comp)
    assert usage.returncode == 2 and "usage:" in usage.stderr


# --- batch -------------------------------------------------------------------------------------


def test_batch_skips_and_lists_bad_inputs_and_exits_1(tmp_path, capsys):
    folder = tmp_path / "in"
    write_pair(folder, "a")
    write_pair(folder, "b", seed=1, ext="jpg")
    write_pair(folder, "c", seed=2)
    (folder / "b.jpg").write_bytes((folder / "b.jpg").read_bytes()[:200])  # truncated
    Image.fromarray(scene()[0]).save(folder / "lonely.png")
    code, out, err = run(capsys, "batch", folder, "-o", tmp_path / "out", "--format", "webp", "--method", "classical",
                         "--report", tmp_path / "report.txt")
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.webp", "c.webp"]
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and failed[0].startswith("failed: b.jpg: cannot read") and "Traceback" not in err
    assert "no mask for lonely.png" in err and "2 written" in err and "1 failed" in err
    assert "b.jpg" in (tmp_path / "report.txt").read_text()


@pytest.mark.parametrize("fmt, pil_format", [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP"), ("tif", "TIFF")])
def test_batch_formats_with_a_masks_folder(tmp_path, capsys, fmt, pil_format):
    folder, masks = tmp_path / "in", tmp_path / "masks"
    masks.mkdir()
    for i, stem in enumerate(("p", "q")):
        img, m = scene(seed=i)
        (folder).mkdir(exist_ok=True)
        Image.fromarray(img).save(folder / f"{stem}.png")
        Image.fromarray(m).save(masks / f"{stem}.png")
    code, _, err = run(capsys, "batch", folder, "-o", tmp_path / "out", "--masks", masks, "--format", fmt,
                       "--quality", "90", "--workers", "2", "--method", "classical")
    assert code == 0, err
    outputs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outputs] == [f"p.{fmt}", f"q.{fmt}"]
    for path in outputs:
        with Image.open(path) as im:
            assert im.format == pil_format and im.size == (128, 96)


def test_batch_with_the_rain_method_and_no_pairs(tmp_path, capsys, tiny_model):
    folder = tmp_path / "in"
    write_pair(folder, "a")
    code, _, err = run(capsys, "batch", folder, "-o", tmp_path / "out", "--model", tiny_model, "--device", "cpu")
    assert code == 0 and (tmp_path / "out" / "a.png").is_file(), err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "batch", empty, "-o", tmp_path / "out2")
    assert code == 1 and error_lines(err)[-1].startswith("error: no composites with a mask")


def test_batch_reads_ora_projects_as_the_batch_dialog_does(tmp_path, capsys):
    """Folders and .ora projects in one run: a project is flattened by engine.openraster (the dialog's
    reader, with its limits) into the composite and the mask of everything above the bottom layer."""
    from engine import openraster
    from engine.classical import harmonize_classical

    folder = tmp_path / "in"
    write_pair(folder, "a")
    img, mask = scene(seed=3)
    cutout = np.dstack([img, mask])
    layers = [openraster.OraLayer("paper", np.dstack([img, np.full(mask.shape, 255, np.uint8)])),
              openraster.OraLayer("object", cutout)]
    openraster.save_ora(tmp_path / "scene.ora", layers, {}, (img.shape[1], img.shape[0]))
    code, _, err = run(capsys, "batch", folder, tmp_path / "scene.ora", "-o", tmp_path / "out", "--method", "classical")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "scene.png"]
    expected = harmonize_classical(*openraster.load_composite(tmp_path / "scene.ora"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "scene.png")), expected)
    code, _, err = run(capsys, "batch", tmp_path / "missing.ora", "-o", tmp_path / "out2")
    assert code == 1 and error_lines(err) == [f"error: project not found: {tmp_path / 'missing.ora'}"]


# --- eval --------------------------------------------------------------------------------------


def eval_scene(seed):
    """A 256x256 target and a composite whose foreground is off by +10 in every channel."""
    rng = np.random.default_rng(seed)
    real = rng.integers(20, 200, (256, 256, 3), dtype=np.uint8)
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:128] = 255  # 1/8 of the frame
    comp = real.copy()
    comp[mask > 0] += 10
    return comp, mask, real


def test_eval_triplets_baseline_by_hand_and_json(tmp_path, capsys):
    for i, stem in enumerate(("one", "two")):
        comp, mask, real = eval_scene(i)
        Image.fromarray(comp).save(tmp_path / f"{stem}_comp.png")
        Image.fromarray(mask).save(tmp_path / f"{stem}_mask.png")
        Image.fromarray(real).save(tmp_path / f"{stem}_real.png")
    code, out, err = run(capsys, "eval", tmp_path, "--baseline", "--json")
    assert code == 0, err
    result = json.loads(out)
    overall = result["overall"]
    assert overall["count"] == 2
    assert overall["mse"] == pytest.approx(100 / 8) and overall["fmse"] == pytest.approx(100)
    assert overall["psnr"] == pytest.approx(10 * np.log10(255**2 / (100 / 8)), abs=1e-6)
    code, out, err = run(capsys, "eval", tmp_path, "--method", "classical")
    assert code == 0, err
    assert "overall" in out and "fMSE" in out and "classical" in out


def make_iharmony(root: Path, subset: str, photos: list[str], missing_real: str | None = None):
    base = root / subset
    for d in ("composite_images", "masks", "real_images"):
        (base / d).mkdir(parents=True, exist_ok=True)
    names = []
    for i, photo in enumerate(photos):
        comp, mask, real = eval_scene(i)
        name = f"{photo}_1_2.png"
        names.append(name)
        Image.fromarray(comp).save(base / "composite_images" / name)
        Image.fromarray(mask).save(base / "masks" / f"{photo}_1.png")
        if photo != missing_real:
            Image.fromarray(real).save(base / "real_images" / f"{photo}.png")
    (base / f"{subset}_test.txt").write_text("\n".join(names) + "\n")


def test_eval_iharmony4_layout_per_subset_and_json(tmp_path, capsys):
    make_iharmony(tmp_path, "HCOCO", ["c1", "c2"])
    make_iharmony(tmp_path, "HFlickr", ["f1", "f2"], missing_real="f2")
    code, out, err = run(capsys, "eval", tmp_path, "--baseline", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result["subsets"]) == {"HCOCO", "HFlickr"}
    assert result["subsets"]["HCOCO"]["count"] == 2 and result["subsets"]["HFlickr"]["count"] == 1
    assert result["overall"]["count"] == 3 and result["overall"]["fmse"] == pytest.approx(100)
    assert "f2_1_2.png: real image not found" in err
    code, out, err = run(capsys, "eval", tmp_path, "--subset", "HFlickr", "--method", "classical", "--json")
    assert code == 0 and list(json.loads(out)["subsets"]) == ["HFlickr"]
    code, out, err = run(capsys, "eval", tmp_path, "--subset", "HAdobe5k")
    assert code == 1 and error_lines(err)[-1].startswith("error: no subset 'HAdobe5k'")
    code, out, err = run(capsys, "eval", tmp_path / "nowhere")
    assert code == 1 and "dataset folder not found" in err


# --- models and gui ----------------------------------------------------------------------------


def test_models_lists_bundled_and_user_models(tmp_path, capsys, tiny_model, isolated_models):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "no trained models installed" in out and "--method classical" in out
    (isolated_models / "default.safetensors").write_bytes(tiny_model.read_bytes())
    users = Path(os.environ["HARMONIZER_DATA_DIR"]) / "models"
    users.mkdir(parents=True)
    (users / "mine.safetensors").write_bytes(tiny_model.read_bytes())
    code, out, _ = run(capsys, "models")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["name", "norm", "ngf"]
    assert lines[1].split()[:4] == ["default", "rain", "4", "256"]
    assert lines[2].split()[:2] == ["mine", "*"] and "your own model" in lines[-1]


def test_gui_is_delegated_with_its_own_arguments(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("harmonizer_gui.app")
    fake.main = lambda argv: calls.append(argv) or 3
    monkeypatch.setitem(sys.modules, "harmonizer_gui.app", fake)
    assert main(["gui", "photo.png", "--verbose"]) == 3
    assert main(["-v", "gui"]) == 3
    assert calls == [["photo.png", "--verbose"], []]


def test_gui_without_pyside6_is_a_one_line_error(monkeypatch, capsys):
    import importlib

    real = importlib.import_module

    def no_pyside(name, *a, **k):
        if name == "harmonizer_gui.app":
            raise ModuleNotFoundError("No module named 'PySide6'", name="PySide6")
        return real(name, *a, **k)

    monkeypatch.delitem(sys.modules, "harmonizer_gui.app", raising=False)
    monkeypatch.setattr(importlib, "import_module", no_pyside)
    code, _, err = run(capsys, "gui")
    assert code == 1 and error_lines(err) == ["error: the editor needs PySide6: pip install 'photo-harmonizer[gui]'"]


def test_models_shows_the_cards_validation_fmse(tmp_path, capsys, isolated_models):
    net = RainNet(ngf=4)
    # A trainer-exported card (validation after training) and a shipped one (full-pipeline evaluation).
    save_model(isolated_models / "trained.safetensors", net, {"size": 256},
               {"validation": {"before": {"fmse": 900.0}, "after": {"fmse": 321.5}}})
    save_model(isolated_models / "shipped.safetensors", net, {"size": 256, "train_size": 128},
               {"validation": {"after": {"fmse": 999.0}},
                "evaluation": {"rows": {"composite": {"fmse": 1500.0}, "model": {"fmse": 654.3}}}})
    code, out, _ = run(capsys, "models")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert code == 0 and "654.3" in rows["shipped"] and "321.5" in rows["trained"]
    # A model shipped to run larger than it trained says both.
    assert "256 (trained 128)" in next(line for line in out.splitlines() if line.startswith("shipped"))

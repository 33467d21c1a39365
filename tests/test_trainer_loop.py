"""The training loop end to end, in-process: outputs, the JSON protocol, exact resume, --init, --out, layouts.

Runs are tiny (32 px, ngf 4, a few steps) so each takes seconds on a loaded CPU. The photo folders are
generated here: smooth random colour fields with a few shapes, some with masks, some without.
"""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from engine.model_file import load_model, read_info, save_model
from trainer import cli
from trainer.checkpoint import load_checkpoint

TINY = ["--size", "32", "--ngf", "4", "--batch", "2", "--workers", "0", "--threads", "1", "--val-samples", "1"]
EVENT_KEYS = {
    "start": {"total_steps", "epochs", "minutes", "train_images", "val_images", "device", "run_dir"},
    "step": {"step", "epoch", "loss_g", "loss_d", "loss_l1", "img_per_s", "eta_s", "fraction"},
    "val": {"step", "epoch", "mse", "fmse", "psnr", "samples"},
    "checkpoint": {"step", "path"},
    "done": {"model_path", "checkpoint", "before", "after", "stopped"},
    "error": {"message"},
}


# -- synthetic data ------------------------------------------------------------------------------------
def smooth_photo(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random colour field with an ellipse and a rectangle on it; returns (rgb, ellipse mask)."""
    coarse = rng.uniform(30, 225, (3, 4, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros((h, w), np.uint8)
    centre = (int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3)))
    axes = (int(rng.integers(w // 8, w // 4)), int(rng.integers(h // 8, h // 4)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    img[mask > 0] = img[mask > 0] * 0.5 + rng.uniform(0, 255, 3) * 0.5
    x, y = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    cv2.rectangle(img, (x, y), (x + w // 5, y + h // 6), [float(v) for v in rng.uniform(0, 255, 3)], -1)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def photo_folder(folder: Path, n: int = 10, seed: int = 0, masks_every: int = 2, corrupt: int = 1,
                 index_groups: int | None = None) -> Path:
    """X.jpg (+ X_mask.png for every `masks_every`-th photo) of assorted sizes, plus `corrupt` broken files.

    `index_groups`: write an index.csv whose obj_src puts photos into that many source groups.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [(48, 64), (64, 48), (56, 56), (40, 72)]
    for i in range(n):
        h, w = sizes[i % len(sizes)]
        img, mask = smooth_photo(h, w, rng)
        Image.fromarray(img).save(folder / f"img{i:03d}.jpg", quality=92)
        if masks_every and i % masks_every == 0:
            Image.fromarray(mask).save(folder / f"img{i:03d}_mask.png")
    for k in range(corrupt):
        (folder / f"broken{k}.jpg").write_bytes(b"\xff\xd8\xff this is not a JPEG")
    if index_groups:
        rows = "".join(f"img{i:03d},thing,obj,src{i % index_groups}.jpg\n" for i in range(n))
        (folder / "index.csv").write_text("name,keyword,object_name,obj_src\n" + rows)
    return folder


# -- running the CLI in-process ------------------------------------------------------------------------
def run_cli(capsys, *args) -> tuple[int, list[dict], str]:
    """-> (exit status, JSON events from stdout, stderr). Fails if stdout holds anything but JSON lines."""
    rc = cli.main(["--progress", "json", *map(str, args)])
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return rc, events, err


def check_protocol(events: list[dict], resumed: bool = False) -> None:
    """The order and fields docs/architecture.md promises for a run that ran to its end or was stopped."""
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("start") == kinds.count("done") == 1
    for e in events:
        assert EVENT_KEYS[e["event"]] <= e.keys(), e
    first_step = kinds.index("step") if "step" in kinds else len(kinds)
    vals = [e for e in events if e["event"] == "val"]
    if not resumed:
        assert vals and vals[0]["epoch"] == 0 and kinds.index("val") < first_step  # "before" comes first
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    for e in events:
        if e["event"] == "step":
            assert 0.0 <= e["fraction"] <= 1.0 and e["img_per_s"] > 0 and np.isfinite(e["loss_l1"])
        if e["event"] == "val":
            assert e["fmse"] >= 0 and e["psnr"] > 0 and all(Path(p).is_file() for p in e["samples"])
        if e["event"] == "checkpoint":
            assert Path(e["path"]).is_file()
    done = events[-1]
    assert Path(done["checkpoint"]).is_file()
    if not done["stopped"]:
        assert Path(done["model_path"]).is_file()
        assert set(done["before"]) == set(done["after"]) == {"mse", "fmse", "psnr"}


def generator_state(ckpt_path) -> dict:
    return load_checkpoint(ckpt_path)["generator"]


# -- tests ---------------------------------------------------------------------------------------------
def test_tiny_run_writes_model_logs_plot_and_checkpoint(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos")
    run = tmp_path / "run"
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 5, "--run-dir", run, *TINY)
    assert rc == 0, err
    check_protocol(events)
    start, done = events[0], events[-1]
    assert start["total_steps"] == 5 and start["train_images"] + start["val_images"] == 10
    assert start["run_dir"] == str(run) and not done["stopped"]
    assert done["model_path"] == str(run / "model.safetensors")
    assert [e["step"] for e in events if e["event"] == "step"][-1] == 5

    # The unreadable file is skipped with a warning naming it, and counted in the model card.
    assert "broken0.jpg" in err
    info = read_info(run / "model.safetensors")
    assert info.card["skipped_images"] == 1 and info.card["steps"] == 5
    assert info.config["ngf"] == 4 and info.working_size == 32 and info.config["depth"] == 5  # auto depth
    assert info.card["validation"]["before"] == done["before"]

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    with open(run / "metrics.csv", newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == [int(r["step"]) for r in csv_rows] == [
        e["step"] for e in events if e["event"] == "val"]
    assert rows[0]["epoch"] == 0 and rows[-1]["step"] == 5
    assert rows[-1]["fmse"] == pytest.approx(done["after"]["fmse"])
    assert rows[0]["comp_fmse"] > 0  # the untouched composite's score is logged next to the model's
    assert Image.open(run / "curves.png").size[0] > 100
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    # The default recipe: the transform head, trained without a discriminator.
    assert ckpt["state"]["step"] == 5 and ckpt["discriminator"] is None and info.config["head"] == "transform"

    # The exported fp16 weights are the trained generator's.
    model, _ = load_model(run / "model.safetensors")
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, ckpt["generator"][k].float(), atol=2e-3, rtol=2e-3), k


def test_resume_continues_exactly(tmp_path, capsys):
    """6 steps in one go == 3 steps, stop, resume to 6: same weights, optimizer state and history.
    With the pixel head and its GAN: the run with the most state (two networks, two optimizers, dropout)."""
    data = photo_folder(tmp_path / "photos", n=8, corrupt=0)
    common = ["--data", data, *TINY, "--checkpoint-every", 0, "--head", "pixel"]
    rc, _, err = run_cli(capsys, *common, "--steps", 6, "--run-dir", tmp_path / "a")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, *common, "--steps", 3, "--run-dir", tmp_path / "b")
    assert rc == 0, err
    # Steps per epoch are 3 here, so the break falls on an epoch boundary; resume once more mid-epoch.
    rc, events, err = run_cli(capsys, "--resume", tmp_path / "b/checkpoints/last.pt", "--steps", 4,
                              "--workers", 0, "--threads", 1)
    assert rc == 0, err
    assert events[0]["run_dir"] == str(tmp_path / "b")
    rc, events, err = run_cli(capsys, "--resume", tmp_path / "b/checkpoints/last.pt", "--steps", 6,
                              "--workers", 0, "--threads", 1)
    assert rc == 0, err
    assert [e["event"] for e in events].count("val") >= 1 and events[-1]["stopped"] is False

    a = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 6
    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"
    exp_a = a["opt_g"]["state"][0]["exp_avg"]
    assert torch.equal(exp_a, b["opt_g"]["state"][0]["exp_avg"])
    drop = ("elapsed_s",)
    hist = lambda ck: [{k: v for k, v in r.items() if k not in drop} for r in ck["state"]["history"]]
    assert [r["step"] for r in hist(b)] == [0, 3, 4, 6]  # the mid-epoch resume validated at its end
    assert {r["step"]: r["fmse"] for r in hist(a)}[6] == {r["step"]: r["fmse"] for r in hist(b)}[6]


def test_resume_writes_beside_the_checkpoint_never_where_the_checkpoint_says(tmp_path, capsys):
    """A checkpoint is a file people send each other: the folder it records is not where a resumed run
    writes. The run folder is the one the checkpoint lies in (RUN/checkpoints/), a loose checkpoint's
    own folder, or --run-dir."""
    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    rc, _, err = run_cli(capsys, "--data", data, *TINY, "--steps", 1, "--run-dir", tmp_path / "run")
    assert rc == 0, err
    path = tmp_path / "run/checkpoints/last.pt"
    ckpt = load_checkpoint(path)
    ckpt["run_dir"] = str(tmp_path / "elsewhere")
    torch.save(ckpt, path)
    loose = tmp_path / "mail" / "sent.pt"
    loose.parent.mkdir()
    torch.save(ckpt, loose)
    fast = ["--workers", 0, "--threads", 1]

    rc, events, err = run_cli(capsys, "--resume", path, "--steps", 2, *fast)
    assert rc == 0, err
    assert events[0]["run_dir"] == str((tmp_path / "run").resolve())
    assert load_checkpoint(path)["state"]["step"] == 2
    rc, events, err = run_cli(capsys, "--resume", loose, "--steps", 2, *fast)
    assert rc == 0, err
    assert events[-1]["checkpoint"] == str((loose.parent / "checkpoints" / "last.pt").resolve())
    rc, events, err = run_cli(capsys, "--resume", loose, "--steps", 2, "--run-dir", tmp_path / "chosen", *fast)
    assert rc == 0, err
    assert events[-1]["checkpoint"] == str(tmp_path / "chosen" / "checkpoints" / "last.pt")
    assert not (tmp_path / "elsewhere").exists()


def test_init_fine_tunes_from_a_model_file_and_refuses_other_widths(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 2, "--run-dir", tmp_path / "base", *TINY)
    assert rc == 0, err
    base = events[-1]["model_path"]
    base_model, _ = load_model(base)

    tiny_no_ngf = [a for a in TINY if a not in ("--ngf", "4")]
    rc, events, err = run_cli(capsys, "--data", data, "--init", base, "--steps", 2, "--run-dir", tmp_path / "ft",
                              *tiny_no_ngf)
    assert rc == 0, err
    check_protocol(events)
    # Fine-tuning starts from the base weights: "before" is the base model's score on this split.
    # (The file holds fp16 weights, the run scored fp32 ones: close, not equal.)
    assert events[-1]["before"] == pytest.approx(read_info(base).card["validation"]["after"], rel=2e-2)
    tuned, info = load_model(events[-1]["model_path"])
    assert info.config["ngf"] == 4 and info.working_size == 32 and info.card["init"] == base
    changed = [k for k, v in tuned.state_dict().items() if v.is_floating_point()
               and not torch.equal(v, base_model.state_dict()[k])]
    assert changed  # it trained
    assert info.train_size == 32

    # A base that runs larger than it trained (as the default model does) is fine-tuned at its training
    # size, and the result runs where the base ran.
    save_model(tmp_path / "runs-big.safetensors", base_model, {"size": 64, "train_size": 32}, {})
    rc, events, err = run_cli(capsys, "--data", data, "--init", tmp_path / "runs-big.safetensors", "--steps", 1,
                              "--run-dir", tmp_path / "ft-big", *[a for a in tiny_no_ngf if a not in ("--size", "32")])
    assert rc == 0, err
    big = read_info(events[-1]["model_path"])
    assert big.working_size == 64 and big.train_size == 32

    rc, events, err = run_cli(capsys, "--data", data, "--init", base, "--ngf", 8, "--steps", 1,
                              "--run-dir", tmp_path / "bad", *tiny_no_ngf)
    assert rc == 1
    assert events[-1]["event"] == "error" and "--ngf 8 conflicts" in events[-1]["message"]
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_out_registers_the_model_in_the_user_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARMONIZER_DATA_DIR", str(tmp_path / "userdata"))
    from engine.registry import list_models, resolve_model

    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 2, "--out", "my beach", *TINY)
    assert rc == 0, err
    registered = tmp_path / "userdata" / "models" / "my beach.safetensors"
    assert events[-1]["model_path"] == str(registered) and registered.is_file()
    assert resolve_model("my beach") == registered
    assert "my beach" in [m.name for m in list_models()]
    assert read_info(registered).card["name"] == "my beach"
    # Without --run-dir the run folder lives under the user data folder.
    assert Path(events[0]["run_dir"]).parent == tmp_path / "userdata" / "runs"

    # A name that cannot be registered is refused before any training, not after it.
    for name in ("default", "a/b"):
        rc, events, err = run_cli(capsys, "--data", data, "--steps", 1, "--out", name, *TINY)
        assert rc == 1 and [e["event"] for e in events] == ["error"], events


@pytest.mark.parametrize("kind", ["empty", "all corrupt", "missing"])
def test_unusable_data_is_one_clear_error(tmp_path, capsys, kind):
    folder = tmp_path / "data"
    if kind != "missing":
        photo_folder(folder, n=0, corrupt=0 if kind == "empty" else 3)
    rc = cli.main(["--data", str(folder), "--steps", "2", "--run-dir", str(tmp_path / "run"), *TINY])
    out, err = capsys.readouterr()
    assert rc == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert str(folder) in errors[0]
    expected = {"empty": "no images found", "all corrupt": "no usable training images", "missing": "not found"}
    assert expected[kind] in errors[0]
    if kind == "all corrupt":
        assert "(3 unreadable)" in errors[0]
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_bad_options_are_one_clear_error(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos", n=4, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 1, "--size", 40, "--depth", 5,
                              "--run-dir", tmp_path / "r")
    assert rc == 1 and "multiple of 32" in events[-1]["message"]
    rc, events, err = run_cli(capsys, "--resume", tmp_path / "nope.pt")
    assert rc == 1 and "checkpoint not found" in events[-1]["message"]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    rc, events, err = run_cli(capsys, "--resume", junk)
    assert rc == 1 and "junk.pt" in events[-1]["message"] and "Traceback" not in err


def test_odd_sized_masks_are_resized_and_photos_without_masks_get_one(tmp_path, capsys, caplog):
    data = photo_folder(tmp_path / "photos", n=6, masks_every=3, corrupt=0)
    small = cv2.resize(np.array(Image.open(data / "img000_mask.png")), (20, 13), interpolation=cv2.INTER_NEAREST)
    Image.fromarray(small).save(data / "img000_mask.png")
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 2, "--run-dir", tmp_path / "r", *TINY)
    assert rc == 0, err
    # The user is told which mask was resized (engine.image_io logs it; stderr outside pytest).
    assert any("img000_mask.png" in r.getMessage() and "resized" in r.getMessage() for r in caplog.records)
    assert events[-1]["after"]["fmse"] > 0


def _triplets(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        real, mask = smooth_photo(48, 64, rng)
        comp = real.copy()
        comp[mask > 0] = np.clip(comp[mask > 0].astype(int) * [1.3, 0.9, 0.7], 0, 255).astype(np.uint8)
        Image.fromarray(real).save(folder / f"t{i}_real.png")
        Image.fromarray(comp).save(folder / f"t{i}_comp.png")
        Image.fromarray(mask).save(folder / f"t{i}_mask.png")
    return folder


def _iharmony(root: Path, subset: str = "HSub", n: int = 4) -> Path:
    sub = root / subset
    for d in ("composite_images", "masks", "real_images"):
        (sub / d).mkdir(parents=True)
    rng = np.random.default_rng(4)
    names = []
    for i in range(n):
        real, mask = smooth_photo(56, 56, rng)
        Image.fromarray(real).save(sub / "real_images" / f"s{i}.jpg")
        Image.fromarray(mask).save(sub / "masks" / f"s{i}_1.png")
        for j in (1, 2):
            comp = real.copy()
            comp[mask > 0] = (comp[mask > 0] * (0.6 + 0.3 * j)).clip(0, 255).astype(np.uint8)
            Image.fromarray(comp).save(sub / "composite_images" / f"s{i}_1_{j}.jpg")
            names.append(f"s{i}_1_{j}.jpg")
    (sub / f"{subset}_train.txt").write_text("\n".join(names) + "\n")
    (sub / f"{subset}_test.txt").write_text(names[0] + "\n")
    return root


@pytest.mark.parametrize("layout", ["triplets", "iharmony4", "both"])
def test_triplet_and_iharmony4_folders_train(tmp_path, capsys, layout):
    dirs = []
    if layout in ("triplets", "both"):
        dirs.append(_triplets(tmp_path / "trip"))
    if layout in ("iharmony4", "both"):
        dirs.append(_iharmony(tmp_path / "ih"))
    data_args = [a for d in dirs for a in ("--data", d)]
    rc, events, err = run_cli(capsys, *data_args, "--steps", 2, "--val-fraction", 0.3,
                              "--run-dir", tmp_path / "r", *TINY)
    assert rc == 0, err
    check_protocol(events)
    info = read_info(events[-1]["model_path"])
    expected = {"triplets": ["triplets"], "iharmony4": ["iharmony4"], "both": ["triplets", "iharmony4"]}
    assert info.card["data_kinds"] == expected[layout]
    # Given composites are scored as they are: "before" differs from a perfect score.
    assert events[1]["event"] == "val" and events[1]["fmse"] > 1.0


def test_validation_split_is_by_source_and_fixed(tmp_path, capsys):
    from trainer.datasets import build_datasets

    data = photo_folder(tmp_path / "photos", n=16, corrupt=0, index_groups=5)
    groups = lambda ds: {e.group for e in ds.entries}
    tr0, va0, _ = build_datasets([data], 32, 0.3, seed=0)
    tr7, va7, _ = build_datasets([data], 32, 0.3, seed=7)
    assert va0.entries and not groups(tr0) & groups(va0)  # obj_src groups never straddle the split
    assert groups(va0) <= {f"src{i}.jpg" for i in range(5)}
    # Every photo of a held-out source is held out, whatever the seed, with the same composites.
    assert [e.image for e in va0.entries] == [e.image for e in va7.entries]
    assert {e.image.stem for e in va0.entries} == {f"img{i:03d}" for i in range(16) if f"src{i % 5}.jpg" in groups(va0)}
    for i in range(len(va0)):
        assert all(torch.equal(a, b) for a, b in zip(va0[i], va7[i]))
    assert not torch.equal(tr0[(1, 0)][0], tr7[(1, 0)][0])  # training samples do follow the seed

    # Two runs with different seeds score the same untouched composites.
    comp = []
    for seed in (0, 3):
        rc, events, err = run_cli(capsys, "--data", data, "--steps", 1, "--seed", seed, "--val-fraction", 0.3,
                                  "--run-dir", tmp_path / f"r{seed}", *TINY)
        assert rc == 0, err
        assert events[0]["val_images"] == len(va0)
        comp.append(json.loads((tmp_path / f"r{seed}" / "metrics.jsonl").read_text().splitlines()[0])["comp_fmse"])
    assert comp[0] == comp[1]


def test_a_stop_during_validation_is_made_up_on_resume(tmp_path, capsys):
    """SIGINT arriving just as an epoch's validation starts: the run stops, and the resumed run validates
    that epoch first instead of leaving a hole in the history."""
    import os
    import signal

    from trainer.progress import JsonReporter
    from trainer.train import TrainConfig, train

    class StopAtEpochEnd(JsonReporter):
        def step(self, force=False, **info):
            super().step(force, **info)
            if info["step"] == 3:  # 6 training images, batch 2: step 3 ends epoch 1
                os.kill(os.getpid(), signal.SIGINT)

    data = photo_folder(tmp_path / "photos", n=7, corrupt=0)
    cfg = TrainConfig(data=[str(data)], steps=6, size=32, ngf=4, batch=2, workers=0, threads=1,
                      run_dir=str(tmp_path / "run"), val_fraction=0.15, val_samples=0)
    result = train(cfg, StopAtEpochEnd())
    assert result["stopped"] is True and result["model_path"] is None
    ckpt = load_checkpoint(result["checkpoint"])
    assert ckpt["state"]["step"] == 3 and [r["step"] for r in ckpt["state"]["history"]] == [0]
    capsys.readouterr()
    rc, events, err = run_cli(capsys, "--resume", result["checkpoint"], "--workers", 0, "--threads", 1)
    assert rc == 0, err
    check_protocol(events, resumed=True)
    vals = [(e["epoch"], e["step"]) for e in events if e["event"] == "val"]
    assert vals == [(1, 3), (2, 6)]
    assert [r["epoch"] for r in load_checkpoint(events[-1]["checkpoint"])["state"]["history"]] == [0, 1, 2]


def test_max_steps_caps_any_budget(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos", n=8, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--epochs", 5, "--max-steps", 2, "--run-dir", tmp_path / "r", *TINY)
    assert rc == 0, err
    check_protocol(events)
    assert events[0]["total_steps"] == 2 and events[0]["epochs"] == 5
    assert [e["step"] for e in events if e["event"] == "step"][-1] == 2
    assert events[-1]["stopped"] is False and read_info(events[-1]["model_path"]).card["steps"] == 2
    rc, events, err = run_cli(capsys, "--data", data, "--minutes", 5, "--max-steps", 1, "--run-dir", tmp_path / "m", *TINY)
    assert rc == 0 and read_info(events[-1]["model_path"]).card["steps"] == 1
    rc, events, err = run_cli(capsys, "--data", data, "--max-steps", 0, "--run-dir", tmp_path / "z", *TINY)
    assert rc == 1 and "positive" in events[-1]["message"]


def test_lr_decay_falls_to_zero_over_the_budgets_end_and_resumes_exactly(tmp_path, capsys):
    """--lr-decay 0.5 over 8 steps: full rate for steps 1-4, then linearly down (the 8th step at a quarter).
    A run stopped halfway and resumed without the option keeps its checkpoint's decay, and ends exactly as
    the uninterrupted run."""
    data = photo_folder(tmp_path / "photos", n=8, corrupt=0)
    common = ["--data", data, *TINY, "--checkpoint-every", 0, "--head", "pixel"]
    rc, events, err = run_cli(capsys, *common, "--steps", 8, "--lr-decay", 0.5, "--run-dir", tmp_path / "a")
    assert rc == 0, err
    rates = [e["lr"] for e in events if e["event"] == "step"]
    assert rates[0] == pytest.approx(2e-4) and rates == sorted(rates, reverse=True)
    a = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    assert a["opt_g"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.25)
    assert a["opt_d"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.25)
    assert read_info(events[-1]["model_path"]).card["lr_decay"] == 0.5

    rc, _, err = run_cli(capsys, *common, "--steps", 8, "--max-steps", 4, "--lr-decay", 0.5, "--run-dir", tmp_path / "b")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "--resume", tmp_path / "b/checkpoints/last.pt", "--steps", 8, "--workers", 0, "--threads", 1)
    assert rc == 0, err
    b = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    for k in a["generator"]:
        assert torch.equal(a["generator"][k], b["generator"][k]), k

    rc, events, err = run_cli(capsys, *common, "--steps", 2, "--lr-decay", 1.5, "--run-dir", tmp_path / "z")
    assert rc == 1 and "--lr-decay" in events[-1]["message"]


def test_a_checkpoint_from_before_heads_resumes_as_the_pixel_recipe(tmp_path, capsys):
    """Checkpoints written before the transform head existed have no head, loss or synthesis in their
    config: they are pixel-head runs with L1, the hinge GAN and the first synthesis, and resume as such."""
    data = photo_folder(tmp_path / "photos", n=8, corrupt=0)
    rc, _, err = run_cli(capsys, "--data", data, *TINY, "--steps", 2, "--head", "pixel", "--loss", "l1",
                         "--run-dir", tmp_path / "old")
    assert rc == 0, err
    path = tmp_path / "old/checkpoints/last.pt"
    ckpt = load_checkpoint(path)
    for key in ("head", "loss", "synthesis"):
        del ckpt["config"][key]
    ckpt["config"]["gan"] = "hinge"
    torch.save(ckpt, path)
    rc, events, err = run_cli(capsys, "--resume", path, "--steps", 3, "--workers", 0, "--threads", 1)
    assert rc == 0, err
    resumed = load_checkpoint(path)
    assert resumed["state"]["step"] == 3 and resumed["discriminator"] is not None
    assert (resumed["config"]["head"], resumed["config"]["loss"], resumed["config"]["synthesis"]) == ("pixel", "l1", "v1")
    assert read_info(events[-1]["model_path"]).config["head"] == "pixel"


def test_init_from_a_pixel_model_with_the_transform_head_carries_its_encoder_over(tmp_path, capsys):
    """--init PIXEL_MODEL --head transform: the trained encoder, decoder and gates start the new network;
    only the transform head is new (and starts as the identity, so "before" is the composite's score)."""
    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 2, "--head", "pixel", "--run-dir", tmp_path / "base", *TINY)
    assert rc == 0, err
    base, _ = load_model(events[-1]["model_path"])
    tiny_no_ngf = [a for a in TINY if a not in ("--ngf", "4")]
    rc, events, err = run_cli(capsys, "--data", data, "--init", events[-1]["model_path"], "--head", "transform",
                              "--steps", 1, "--lr", 1e-12, "--run-dir", tmp_path / "conv", *tiny_no_ngf)
    assert rc == 0, err
    assert "starting a transform head from" in err and "carried over" in err
    model, info = load_model(events[-1]["model_path"])
    assert info.config["head"] == "transform" and info.card["losses"]["reconstruction"] == "fnmse"
    assert torch.allclose(model.encoder[1].weight, base.encoder[1].weight, atol=1e-3)
    assert events[-1]["before"]["fmse"] == pytest.approx(load_checkpoint(tmp_path / "conv/checkpoints/last.pt")
                                                         ["state"]["composite"]["fmse"])


def test_ema_validates_and_exports_the_weight_average_and_resumes_exactly(tmp_path, capsys):
    """--ema keeps a moving average of the weights: the exported model is that average (not the last
    weights), the card says so, and a run stopped and resumed ends with the very same average."""
    data = photo_folder(tmp_path / "photos", n=8, corrupt=0)
    common = ["--data", data, *TINY, "--checkpoint-every", 0, "--ema", 0.9]
    rc, events, err = run_cli(capsys, *common, "--steps", 6, "--run-dir", tmp_path / "a")
    assert rc == 0, err
    a = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    assert a["ema"]["updates"] == 6
    model, info = load_model(events[-1]["model_path"], "cpu")
    assert info.card["ema"] == 0.9
    exported = model.state_dict()
    differs_from_live = False
    for k, v in a["ema"]["weights"].items():
        assert torch.allclose(exported[k].float(), v.float(), atol=2e-3), k  # fp16 file
        differs_from_live |= not torch.equal(v, a["generator"][k])
    assert differs_from_live

    rc, _, err = run_cli(capsys, *common, "--steps", 6, "--max-steps", 4, "--run-dir", tmp_path / "b")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "--resume", tmp_path / "b/checkpoints/last.pt", "--steps", 6,
                         "--workers", 0, "--threads", 1)
    assert rc == 0, err
    b = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    assert b["ema"]["updates"] == 6
    for k in a["ema"]["weights"]:
        assert torch.equal(a["ema"]["weights"][k], b["ema"]["weights"][k]), k

    rc, events, err = run_cli(capsys, *common, "--steps", 2, "--ema", 1.0, "--run-dir", tmp_path / "z")
    assert rc == 1 and "--ema" in events[-1]["message"]


def test_a_run_from_scratch_builds_a_registry_preset(tmp_path, capsys):
    """--preset picks the architecture from engine.presets (the default is DEFAULT_PRESET); --ngf
    overrides the preset's width; a preset with --init, or an unknown one, is one clear line."""
    from engine.presets import DEFAULT_PRESET, PRESETS

    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    small = ["--data", data, "--size", "32", "--batch", "2", "--workers", "0", "--threads", "1", "--steps", "1"]
    rc, events, err = run_cli(capsys, *small, "--preset", "tiny", "--run-dir", tmp_path / "t")
    assert rc == 0, err
    config = read_info(events[-1]["model_path"]).config
    assert config["ngf"] == PRESETS["tiny"]["ngf"] and config["depth"] == 5  # 32 px allows depth 5 at most
    rc, events, err = run_cli(capsys, *small, "--run-dir", tmp_path / "d")
    assert rc == 0 and read_info(events[-1]["model_path"]).config["ngf"] == PRESETS[DEFAULT_PRESET]["ngf"]
    rc, events, err = run_cli(capsys, *small, "--preset", "tiny", "--ngf", 4, "--run-dir", tmp_path / "o")
    assert rc == 0 and read_info(events[-1]["model_path"]).config["ngf"] == 4
    rc, events, err = run_cli(capsys, *small, "--preset", "tiny", "--init", events[-1]["model_path"],
                              "--run-dir", tmp_path / "i")
    assert rc == 1 and "--preset" in events[-1]["message"]


def test_a_fine_tune_with_reference_areas_widens_the_encoder_and_resumes_so(tmp_path, capsys, monkeypatch):
    """--init a model without the reference input and train reference areas: the run adds the channel,
    keeps --distractor-share, and a resumed run rebuilds the same 5-channel network from its checkpoint."""
    import trainer.train

    shares = []
    real_build = trainer.train.build_datasets

    def recording_build(*args, **kwargs):
        train_set, val_set, report = real_build(*args, **kwargs)
        shares.append(train_set.distractor_share)
        return train_set, val_set, report

    monkeypatch.setattr(trainer.train, "build_datasets", recording_build)
    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 1, "--run-dir", tmp_path / "base", *TINY)
    assert rc == 0, err
    base = events[-1]["model_path"]
    assert read_info(base).config["reference_input"] is False
    tiny_no_ngf = [a for a in TINY if a not in ("--ngf", "4")]
    rc, events, err = run_cli(capsys, "--data", data, "--init", base, "--steps", 1, "--reference-share", 0.5,
                              "--distractor-share", 1.0, "--run-dir", tmp_path / "ft", *tiny_no_ngf)
    assert rc == 0, err
    ckpt = events[-1]["checkpoint"]
    assert load_checkpoint(ckpt)["config"]["distractor_share"] == 1.0
    assert generator_state(ckpt)["encoder.0.weight"].shape[1] == 5
    rc, events, err = run_cli(capsys, "--resume", ckpt, "--steps", 2)
    assert rc == 0, err
    tuned, info = load_model(events[-1]["model_path"])
    assert info.config["reference_input"] is True and tuned.encoder[0].in_channels == 5
    assert info.card["distractor_share"] == 1.0 and info.card["reference_share"] == 0.5
    assert shares == [0.5, 1.0, 1.0]  # the base run's default, then the option, kept on resume

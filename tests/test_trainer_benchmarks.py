"""The trainer's benchmark scripts: the training step they time, the split and composites they score on."""
import json
from collections import Counter

import cv2
import numpy as np
import pytest

from engine.model_file import read_info
from test_trainer_loop import TINY, photo_folder, run_cli
from trainer.datasets import build_datasets
from trainer.validation import to_uint8

from benchmarks import evaluate_model, finetune_cpu, ship_model, train_speed


def test_native_validation_composites_are_the_trainers(tmp_path):
    data = photo_folder(tmp_path / "photos", n=12, masks_every=1, corrupt=0)
    _, val, _ = build_datasets([data], 32, 0.4)
    assert len(val) >= 2
    for i in range(len(val)):
        comp, mask, real, family, _ = val.native(i)
        assert family  # synthesized: names the perturbation it used
        small_comp, small_mask, small_real, _ = val[i]
        side = min(cv2.imread(str(val.entries[i].image)).shape[:2])
        assert comp.shape[1:] == (side, side)
        # Brought down to the working size, the full-resolution composite is the trainer's composite:
        # the same perturbation (up to resampling), unlike the untouched photo.
        down = cv2.resize(to_uint8(comp[None])[0], (32, 32), interpolation=cv2.INTER_AREA).astype(int)
        fg = small_mask[0].numpy() > 0.5
        same = np.abs(down - to_uint8(small_comp[None])[0])[fg].mean()
        other = np.abs(to_uint8(small_real[None])[0].astype(int) - to_uint8(small_comp[None])[0])[fg].mean()
        assert same < 4.0 and same < other / 2, (same, other)


def test_evaluate_model_scores_the_trainers_split(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos", n=12, corrupt=1)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 3, "--val-fraction", 0.3,
                              "--run-dir", tmp_path / "run", *TINY)
    assert rc == 0, err
    result = evaluate_model.evaluate_model(events[-1]["model_path"], [str(data)], val_fraction=0.3,
                                           log=lambda m: None)
    assert result["val_images"] == events[0]["val_images"] and result["skipped_images"] == 1
    rows = result["rows"]
    assert set(rows) == {"composite", "model", "classical", "model @ 32 px (trainer's validation)"}
    # The network at its working size on these composites is exactly what the trainer reported.
    working = rows["model @ 32 px (trainer's validation)"]
    assert working["fmse"] == pytest.approx(events[-1]["after"]["fmse"], rel=2e-2)
    assert rows["composite"]["fmse"] > 0 and rows["model"]["fmse"] != rows["composite"]["fmse"]
    evaluate_model.print_table(result)
    assert "| composite |" in capsys.readouterr().out
    assert evaluate_model.main([str(tmp_path / "none.safetensors"), "--data", str(data)]) == 1


def test_train_speed_times_the_real_step(tmp_path):
    row = train_speed.measure("cpu", 32, 4, 2, amp=True, channels_last=True, steps=1, warmup=1, threads=1,
                              work=tmp_path)
    # On the CPU neither AMP nor channels-last apply, and the row says so.
    assert row["device"] == "cpu" and row["amp"] is False and row["channels_last"] is False
    assert row["depth"] == 5 and row["params_g"] > 0 and row["img_per_s"] > 0


def test_finetune_domain_folder_keeps_the_split(tmp_path):
    photos = photo_folder(tmp_path / "photos", n=24, masks_every=1, corrupt=0, index_groups=12)
    fields, rows = finetune_cpu.read_index(photos)
    for i, r in enumerate(rows):
        r["keyword"] = "car" if i % 3 == 0 else "tree"
    assert finetune_cpu.pick_keyword(Counter({"tree": 1500, "car": 150, "sky": 120, "cat": 40})) == "car"
    assert finetune_cpu.pick_keyword(Counter({"tree": 50, "car": 30})) == "tree"
    n = finetune_cpu.link_domain(photos, fields, rows, "car", tmp_path / "car")
    assert n == 8 and len(list((tmp_path / "car").glob("*_mask.png"))) == 8
    _, val_all, _ = build_datasets([photos], 32, 0.3)
    _, val_car, _ = build_datasets([tmp_path / "car"], 32, 0.3)
    names = lambda ds: {e.image.name for e in ds.entries}
    # A held-out source photo stays held out in the domain's folder: no validation photo leaks into training.
    held_out_cars = {x for x in names(val_all) if int(x[3:6]) % 3 == 0}
    assert held_out_cars and names(val_car) >= held_out_cars


def test_a_model_ships_at_the_working_size_it_was_scored_at(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos", n=12, corrupt=0)
    rc, events, err = run_cli(capsys, "--data", data, "--steps", 2, "--val-fraction", 0.3,
                              "--run-dir", tmp_path / "run", *TINY)
    assert rc == 0, err
    model = events[-1]["model_path"]
    result = evaluate_model.evaluate_model(model, [str(data)], val_fraction=0.3, log=lambda m: None,
                                           working_size=64, classical=False)
    assert result["working_size"] == 64 and result["train_size"] == 32
    assert set(result["rows"]) == {"composite", "model", "model @ 32 px (trainer's validation)"}
    scored = tmp_path / "eval.json"
    scored.write_text(json.dumps(result))
    ship = ["--eval", str(scored), "--name", "mine", "--out-dir", str(tmp_path / "ship")]
    with pytest.raises(SystemExit, match="working size 64, not 32"):  # the card must not claim another size
        ship_model.main([model, *ship])
    assert ship_model.main([model, *ship, "--working-size", "64"]) == 0
    info = read_info(tmp_path / "ship" / "mine.safetensors")
    assert info.working_size == 64 and info.train_size == 32 and info.card["evaluation"]["working_size"] == 64
    assert "working size 64 px (trained at 32 px)" in (tmp_path / "ship" / "mine.md").read_text()

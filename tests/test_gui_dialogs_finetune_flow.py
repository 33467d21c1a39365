"""Fine-tune dialog behaviour against a protocol-faithful stand-in trainer (fast and deterministic):
finish and offer the model, stop and resume later, close while training, the Tools menu hookup."""
from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402

from engine.devices import cuda_if_known  # noqa: E402
from harmonizer_gui.curves_widget import LEFT, RIGHT  # noqa: E402
from harmonizer_gui.finetune_dialog import FinetuneDialog  # noqa: E402
from harmonizer_gui.finetune_settings import (  # noqa: E402
    FinetuneSettings, count_photos, propose_name, val_fraction,
)
from harmonizer_gui.training_process import TrainingProcess  # noqa: E402
from harmonizer_gui.training_run import FINISHED, STOPPED  # noqa: E402

# Speaks the documented protocol; `--steps-slow` makes it wait so a test can stop it mid-run.
FAKE = """
import argparse, json, os, signal, sys, time
p = argparse.ArgumentParser()
p.add_argument("--data", action="append"); p.add_argument("--out"); p.add_argument("--resume")
p.add_argument("--slow", action="store_true"); p.add_argument("--deaf", action="store_true")
p.add_argument("--no-gan", action="store_true")
args, _ = p.parse_known_args()
run_dir = os.environ["FAKE_RUN_DIR"]
os.makedirs(run_dir, exist_ok=True)
with open(os.path.join(run_dir, "argv.json"), "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
def emit(**ev):
    print(json.dumps(ev), flush=True)
step = 0
def stop(*_):
    ck = os.path.join(run_dir, "ck.pt"); open(ck, "w").write(str(step))
    emit(event="checkpoint", step=step, path=ck)
    emit(event="done", model_path=None, checkpoint=ck, before={}, after={}, stopped=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if args.deaf else stop)
if args.resume:
    step = int(open(args.resume).read())
emit(event="start", total_steps=10, epochs=1, minutes=None, train_images=4, val_images=1, device="cpu",
     run_dir=run_dir)
emit(event="val", step=0, epoch=0, mse=50.0, fmse=500.0, psnr=29.0, samples=[os.environ["FAKE_SAMPLE"]])
while step < 10:
    step += 1
    emit(event="step", step=step, epoch=1, loss_g=10.0 / step if args.no_gan else 3.0 / step,
         loss_d=0.0 if args.no_gan else 0.5, loss_l1=0.1 / step if args.no_gan else 0.1, img_per_s=5.0,
         eta_s=10 - step, fraction=step / 10)
    if step == 1 and not args.resume:
        ck = os.path.join(run_dir, "ck.pt"); open(ck, "w").write("1")
        emit(event="checkpoint", step=1, path=ck)
    time.sleep(0.5 if args.slow and step >= 2 else 0.01)
emit(event="val", step=10, epoch=1, mse=40.0, fmse=300.0, psnr=30.5, samples=[os.environ["FAKE_SAMPLE"]])
model = os.path.join(os.environ["HARMONIZER_DATA_DIR"], "models", args.out + ".safetensors")
os.makedirs(os.path.dirname(model), exist_ok=True); open(model, "w").write("weights")
emit(event="done", model_path=model, checkpoint=os.path.join(run_dir, "ck.pt"),
     before={"mse": 50.0, "fmse": 500.0, "psnr": 29.0}, after={"mse": 40.0, "fmse": 300.0, "psnr": 30.5},
     stopped=False)
"""


@pytest.fixture
def env(tmp_path, monkeypatch, no_bundled_models):
    # The flows below start from scratch: no bundled default model, whether or not one is installed.
    monkeypatch.setenv("FAKE_RUN_DIR", str(tmp_path / "run"))
    sample = tmp_path / "sample.png"
    Image.fromarray(np.full((16, 48, 3), 128, np.uint8)).save(sample)
    monkeypatch.setenv("FAKE_SAMPLE", str(sample))
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(photos / f"p{i}.jpg")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(photos / "p0_mask.png")
    (photos / "notes.txt").write_text("not a photo")
    script = tmp_path / "fake_trainer.py"
    script.write_text(textwrap.dedent(FAKE))
    return tmp_path, photos, lambda args: (sys.executable, [str(script), *args])


def make_dialog(qtbot, command, folder, name="mine"):
    dlg = FinetuneDialog(process=TrainingProcess(command=command))
    qtbot.addWidget(dlg)
    dlg.add_folder(str(folder))
    dlg.name_edit.setText(name)
    return dlg


@pytest.mark.parametrize("known", [False, True, None])
def test_the_cuda_choice_follows_what_torch_knows(env, qtbot, monkeypatch, known):
    """Drawing the form must not import torch: without it (None) CUDA stays selectable."""
    monkeypatch.setattr("engine.devices.cuda_if_known", lambda: known)
    tmp_path, photos, command = env
    dlg = make_dialog(qtbot, command, photos)
    cuda = dlg.device_combo.model().item(2)
    assert cuda.isEnabled() == (known is not False)
    assert ("not available" in cuda.text()) == (known is False)


def test_counts_and_settings(env, qtbot):
    tmp_path, photos, command = env
    assert count_photos([photos]) == (3, 1)
    dlg = make_dialog(qtbot, command, photos)
    assert "3 photos, 1 with a mask" in dlg.count_label.text()
    assert dlg.base_combo.currentData() == ""  # nothing installed: from scratch, and the dialog says so
    assert "from scratch" in dlg.base_note.text()
    cuda = dlg.device_combo.model().item(2)
    assert cuda.isEnabled() == (cuda_if_known() is not False)
    dlg.minutes_radio.setChecked(True)
    dlg.minutes_spin.setValue(7)
    dlg.extra_edit.setText("--ngf 8 --size 32")
    args = dlg.settings().to_args()
    assert args[:2] == ["--data", str(photos)] and "--init" not in args
    assert args[args.index("--minutes") + 1] == "7" and args[-4:] == ["--ngf", "8", "--size", "32"]
    assert args[args.index("--out") + 1] == "mine" and args[args.index("--progress") + 1] == "json"
    # Three photos: the held-out share is raised so validation is not one photo, and the dialog warns.
    assert args[args.index("--val-fraction") + 1] == "0.3" and "too few" in dlg.count_label.text()
    assert val_fraction(200) == 0.1 and val_fraction(20) == 0.25


def test_photos_in_subfolders_count_as_the_trainer_finds_them(env, qtbot):
    """A folder whose photos sit in subfolders (one per trip, say), with an upper-case mask suffix and a
    hidden file: the dialog counts what the trainer will train on, and Start goes ahead."""
    from trainer.data_folders import photo_entries

    tmp_path, _, command = env
    top = tmp_path / "holidays"
    for trip, names in (("2023", ("a", "b")), ("2024", ("c",))):
        (top / trip).mkdir(parents=True)
        for n in names:
            Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(top / trip / f"{n}.jpg")
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(top / "2023" / "a_MASK.png")
    (top / "2024" / ".c.jpg").write_bytes((top / "2024" / "c.jpg").read_bytes())  # a hidden copy
    entries = photo_entries(top)
    assert count_photos([top]) == (len(entries), sum(e.mask is not None for e in entries)) == (3, 1)
    dlg = make_dialog(qtbot, command, top)
    assert "3 photos, 1 with a mask" in dlg.count_label.text()
    assert dlg.settings().to_args()[:2] == ["--data", str(top)]


def test_fine_tuning_trains_where_the_base_model_trained(env, qtbot):
    """A base that runs at 64 px but was trained at 32 (as the default model runs at 256 and trained at
    128) is fine-tuned at 32: the size list gains it when it is not one of the usual ones."""
    from engine.model_file import save_model
    from engine.rainnet import RainNet

    tmp_path, photos, command = env
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    save_model(models / "small.safetensors", RainNet(ngf=4, depth=5), {"size": 64, "train_size": 32}, {})
    save_model(models / "usual.safetensors", RainNet(ngf=4, depth=5), {"size": 256, "train_size": 128}, {})
    dlg = make_dialog(qtbot, command, photos)
    labels = [dlg.base_combo.itemText(i) for i in range(dlg.base_combo.count())]
    assert any("small" in t and "trained at 32 px" in t for t in labels), labels
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(str(models / "usual.safetensors")))
    assert dlg.size_combo.currentData() == 128
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(str(models / "small.safetensors")))
    assert dlg.size_combo.currentData() == 32
    args = dlg.settings().to_args()
    assert args[args.index("--size") + 1] == "32" and args[args.index("--init") + 1] == str(models / "small.safetensors")


def test_a_blended_base_model_says_its_lead_is_what_trains(env, qtbot):
    from engine.model_file import save_blend, save_model
    from engine.rainnet import RainNet

    tmp_path, photos, command = env
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    net = RainNet(ngf=4, depth=5)
    save_blend(models / "pair.safetensors", [(net, {"size": 64, "weight": 0.5}), (net, {"size": 64, "weight": 0.5})], {})
    save_model(models / "single.safetensors", net, {"size": 64}, {})
    dlg = make_dialog(qtbot, command, photos)
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(str(models / "pair.safetensors")))
    assert "blend of 2 networks" in dlg.base_note.text() and "trains its lead" in dlg.base_note.text()
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(str(models / "single.safetensors")))
    assert "keeps its architecture" in dlg.base_note.text()


def test_name_validation(env, qtbot):
    tmp_path, photos, command = env
    dlg = make_dialog(qtbot, command, photos, name="")
    assert not dlg.start_btn.isEnabled()
    for bad in ("a/b", "default", "  "):
        dlg.name_edit.setText(bad)
        assert not dlg.start_btn.isEnabled(), bad
    (tmp_path / "data" / "models").mkdir(parents=True)
    (tmp_path / "data" / "models" / "taken.safetensors").write_bytes(b"x")
    dlg.name_edit.setText("taken")
    assert dlg.start_btn.isEnabled() and "will be replaced" in dlg.name_note.text()


def test_a_name_is_proposed_from_the_folder_and_typed_names_stay(env, qtbot):
    tmp_path, photos, command = env
    dlg = FinetuneDialog(process=TrainingProcess(command=command))
    qtbot.addWidget(dlg)
    assert not dlg.start_btn.isEnabled() and "folder" in dlg.start_btn.toolTip()
    (tmp_path / "data" / "models").mkdir(parents=True)
    (tmp_path / "data" / "models" / "photos.safetensors").write_bytes(b"x")  # taken: not proposed again
    dlg.add_folder(str(photos))
    assert dlg.name_edit.text() == "photos-2" and dlg.start_btn.isEnabled()
    qtbot.keyClicks(dlg.name_edit, "x")  # the user's own name is never overwritten
    other = tmp_path / "Holiday 2024"
    other.mkdir()
    dlg.add_folder(str(other))
    assert dlg.name_edit.text() == "photos-2x"
    assert propose_name([str(other)]) == "holiday-2024" and propose_name([]) == "my-photos"


def test_a_run_without_a_discriminator_plots_its_loss_once(env, qtbot):
    """The transform head trains without a discriminator: its loss is the reconstruction term times its
    weight, and two lines on two axes would lie exactly on top of each other. One line, on the left."""
    tmp_path, photos, command = env
    dlg = make_dialog(qtbot, command, photos)
    dlg.extra_edit.setText("--no-gan")
    with qtbot.waitSignal(dlg.process.finished, timeout=30000):
        assert dlg.start_training()
    curves = dlg.loss_curves
    assert not curves.series[0].shown and curves.series[1].shown and curves.series[1].axis == LEFT
    assert curves._range(RIGHT) is None and curves._range(LEFT)[1] >= 0.1


def test_finish_shows_before_after_and_offers_the_model(env, qtbot):
    tmp_path, photos, command = env
    dlg = make_dialog(qtbot, command, photos)
    used = []
    dlg.use_model.connect(used.append)
    with qtbot.waitSignal(dlg.model_ready, timeout=30000) as ready:
        assert dlg.start_training()
    qtbot.waitUntil(lambda: not dlg.process.active)
    name, path = ready.args
    assert name == "mine" and path.endswith("mine.safetensors")
    assert dlg.process.state.phase == FINISHED
    assert dlg.results_box.isVisibleTo(dlg)
    table = dlg.results_table
    assert [table.item(0, c).text() for c in range(3)] == ["29.00", "30.50", "+1.50 dB"]
    assert table.item(2, 2).text() == "-40%"
    assert dlg.loss_curves.point_count() == 20 and dlg.val_curves.point_count() == 4
    assert dlg.sample_row.count() == 2  # one thumbnail + the stretch
    # The stand-in validates on one photo: the headline says so instead of presenting the gain as fact.
    assert "1 validation photo" in dlg.results_box.title() and "only 1 validation photo" in dlg.result_label.text()
    # The reconstruction loss has its own axis: on the generator's it would be a flat line.
    assert dlg.loss_curves.series[1].axis == RIGHT and dlg.loss_curves._range(RIGHT)[1] < 1
    dlg.use_btn.click()
    assert used == [path]
    assert not (tmp_path / "config" / "finetune_last_run.json").exists()


def test_stop_remembers_the_checkpoint_and_resume_continues(env, qtbot):
    tmp_path, photos, command = env
    dlg = make_dialog(qtbot, command, photos)
    dlg.extra_edit.setText("--slow")
    dlg.start_training()
    qtbot.waitUntil(lambda: dlg.process.state.last_step is not None and dlg.process.state.last_step["step"] >= 2,
                    timeout=30000)
    assert dlg.stop_btn.isEnabled() and not dlg.start_btn.isEnabled()
    with qtbot.waitSignal(dlg.process.finished, timeout=30000) as sig:
        dlg.stop_btn.click()
    assert sig.args == [STOPPED]
    ck = dlg.process.state.checkpoint
    assert ck and dlg.resume_btn.isEnabled()
    steps_before = [x for x, _ in dlg.loss_curves.series[0].points]
    saved = json.loads((tmp_path / "config" / "finetune_last_run.json").read_text())
    assert saved["checkpoint"] == ck
    dlg.close()

    # A new dialog (as after restarting the application) offers the resume and passes --resume.
    again = FinetuneDialog(process=TrainingProcess(command=command))
    qtbot.addWidget(again)
    assert again.resume_btn.isEnabled() and again.name_edit.text() == "mine"
    assert "can be resumed" in again.status_label.text()
    again._resume["settings"]["extra_args"] = []  # run to the end quickly this time
    with qtbot.waitSignal(again.process.finished, timeout=30000) as sig:
        assert again.resume_training()
    assert sig.args == [FINISHED]
    last_argv = (tmp_path / "run" / "argv.json").read_text().splitlines()[-1]
    assert json.loads(last_argv)[-2:] == ["--resume", ck]
    # The resumed run continued from the checkpoint's step, not from zero, and so do its curves.
    assert again.process.state.losses[0][0] > 2
    steps = [x for x, _ in again.loss_curves.series[0].points]
    assert steps[:len(steps_before)] == steps_before and steps[0] == 1 and steps[-1] == 10
    assert again.val_curves.series[0].points[0][0] == 0  # the check before training is still there


def test_a_trainer_that_ignores_stop_can_be_force_quit(env, qtbot, monkeypatch):
    tmp_path, photos, command = env
    monkeypatch.setattr("harmonizer_gui.finetune_dialog.STOP_GRACE_MS", 300)
    dlg = make_dialog(qtbot, command, photos)
    dlg.extra_edit.setText("--slow --deaf")
    dlg.start_training()
    qtbot.waitUntil(lambda: dlg.process.state.checkpoint is not None, timeout=30000)
    dlg.stop_btn.click()
    assert dlg.stop_btn.text() == "Stopping…" and not dlg.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: dlg.stop_btn.isEnabled(), timeout=10000)
    assert dlg.stop_btn.text() == "Force quit"
    with qtbot.waitSignal(dlg.process.finished, timeout=30000) as sig:
        dlg.stop_btn.click()
    assert sig.args == ["failed"]
    assert dlg.failure_box.isVisibleTo(dlg)
    report = dlg.failure_text.toPlainText()
    assert "killed or crashed" in report and str(tmp_path / "run" / "ck.pt") in report
    assert dlg.resume_btn.isEnabled()  # the checkpoint it left can still be resumed


def test_closing_the_editor_while_training_asks_then_stops_cleanly(env, qtbot, monkeypatch):
    from harmonizer_gui import settings
    from harmonizer_gui.main_window import MainWindow

    tmp_path, photos, command = env
    window = MainWindow(settings.Preferences(model="classical", autosave_seconds=0), device="cpu")
    window.prompt_on_close = False
    qtbot.addWidget(window)
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    assert [a.text() for a in tools.actions()] == ["Fine-tune on your photos…", "Batch export…"]
    window.show()
    window.finetune_action.trigger()  # Tools ▸ Fine-tune on your photos…
    dlg = window.dialogs.finetune
    dlg.process._command = command
    dlg.add_folder(str(photos))
    dlg.name_edit.setText("mine")
    dlg.extra_edit.setText("--slow")
    dlg.start_training()
    qtbot.waitUntil(lambda: dlg.process.state.last_step is not None, timeout=30000)

    answers = iter([False, True])
    monkeypatch.setattr(FinetuneDialog, "confirm_stop", lambda self: next(answers))
    window.close()  # "keep training": nothing changes
    assert window.isVisible() and dlg.process.active
    with qtbot.waitSignal(dlg.process.finished, timeout=30000) as sig:
        window.close()  # "stop": a checkpoint is saved, then the window closes
    assert sig.args == [STOPPED]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert dlg.process.state.checkpoint


def test_settings_round_trip_for_resume():
    s = FinetuneSettings(folders=["/a", "/b"], name="x", base_model="/m.safetensors", budget_kind="minutes",
                         budget=2.5, extra_args=["--ngf", "8"])
    args = s.to_args()
    assert args.count("--data") == 2 and args[args.index("--init") + 1] == "/m.safetensors"
    assert args[args.index("--minutes") + 1] == "2.5"

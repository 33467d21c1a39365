"""The trainer-process model and the curves, against the documented JSON protocol (no real training)."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

pytest.importorskip("PySide6")

from harmonizer_gui.curves_widget import RIGHT, CurvesWidget, nice_ticks  # noqa: E402
from harmonizer_gui.training_process import TrainingProcess  # noqa: E402
from harmonizer_gui.training_run import CANCELLED, FAILED, FINISHED, STOPPED, RunState  # noqa: E402

START = {"event": "start", "total_steps": 10, "epochs": 2, "minutes": None, "train_images": 8,
         "val_images": 2, "device": "cpu", "run_dir": "/tmp/run"}
STEP = {"event": "step", "step": 3, "epoch": 1, "loss_g": 2.5, "loss_d": 0.7, "loss_l1": 0.2,
        "img_per_s": 4.0, "eta_s": 12.0, "fraction": 0.3}
VAL0 = {"event": "val", "step": 0, "epoch": 0, "mse": 90.0, "fmse": 900.0, "psnr": 28.0, "samples": []}
VAL1 = {"event": "val", "step": 5, "epoch": 1, "mse": 60.0, "fmse": 600.0, "psnr": 30.0, "samples": []}


def test_run_state_follows_the_protocol():
    s = RunState(phase="starting")
    for ev in (START, STEP, VAL0, VAL1):
        assert s.feed_line(json.dumps(ev))["event"] == ev["event"]
    assert s.phase == "running" and s.run_dir == "/tmp/run"
    assert s.fraction == pytest.approx(0.3) and s.eta_s == 12.0
    assert s.losses == [(3, 2.5, 0.2)]
    assert s.before["fmse"] == 900.0 and s.after["fmse"] == 600.0
    s.feed_line(json.dumps({"event": "checkpoint", "step": 5, "path": "/tmp/run/ck.pt"}))
    assert s.checkpoint == "/tmp/run/ck.pt"
    done = {"event": "done", "model_path": "/m.safetensors", "checkpoint": "/tmp/run/last.pt",
            "before": {"mse": 1, "fmse": 2, "psnr": 3}, "after": {"mse": 0.5, "fmse": 1, "psnr": 4},
            "stopped": False}
    s.feed_line(json.dumps(done))
    assert s.conclude(0, False, False) == FINISHED
    assert s.fraction == 1.0 and s.checkpoint == "/tmp/run/last.pt" and s.after["psnr"] == 4


def test_run_state_tolerates_noise_and_reports_crashes():
    s = RunState(phase="running")
    assert s.feed_line("Some library warning") is None
    assert s.feed_line('{"event": "unknown"}') is None
    assert s.feed_line("[1, 2]") is None
    assert s.ignored_lines == 3
    s.feed_stderr("Traceback (most recent call last):")
    s.feed_stderr("RuntimeError: out of memory")
    s.feed_line(json.dumps({"event": "checkpoint", "step": 2, "path": "/ck.pt"}))
    assert s.conclude(None, True, False) == FAILED
    report = s.failure_report()
    assert "killed or crashed" in report and "/ck.pt" in report and "out of memory" in report
    # A clean exit code without a done event is still a failure: the run did not finish.
    s2 = RunState(phase="running")
    assert s2.conclude(0, False, False) == FAILED and "before finishing" in s2.error
    s3 = RunState(phase="running")
    s3.feed_line(json.dumps({"event": "error", "message": "no photos in /x"}))
    s3.conclude(1, False, False)
    assert s3.failure_report().startswith("no photos in /x")
    s4 = RunState(phase="stopping")
    s4.feed_line(json.dumps({"event": "done", "model_path": None, "checkpoint": "/c", "before": {},
                             "after": {}, "stopped": True}))
    assert s4.conclude(0, False, False) == STOPPED


def fake_trainer(tmp_path, body: str):
    """A stand-in trainer script: lets the process wrapper be tested for crashes without training."""
    script = tmp_path / "fake_trainer.py"
    script.write_text(textwrap.dedent(body))
    return lambda args: (sys.executable, [str(script), *args])


def test_process_reports_a_crashed_trainer_with_its_last_output(qtbot, tmp_path):
    run_dir = tmp_path / "run"
    command = fake_trainer(tmp_path, f"""
        import json, os, sys
        print(json.dumps({{**{START!r}, "run_dir": {str(run_dir)!r}}}), flush=True)
        print(json.dumps({{"event": "checkpoint", "step": 1, "path": "/tmp/run/step1.pt"}}), flush=True)
        for i in range(40):
            print(f"noise {{i}}", file=sys.stderr)
        print("CUDA error: an illegal memory access", file=sys.stderr, flush=True)
        os._exit(3)
    """)
    proc = TrainingProcess(command=command)
    events = []
    proc.event.connect(events.append)
    with qtbot.waitSignal(proc.finished, timeout=30000) as sig:
        proc.start(["--progress", "json"])
    assert sig.args == [FAILED]
    assert [e["event"] for e in events] == ["start", "checkpoint"]
    report = proc.state.failure_report()
    assert "exited with code 3" in report and "/tmp/run/step1.pt" in report
    assert report.splitlines()[-1] == "CUDA error: an illegal memory access"
    assert "noise 0" not in report  # only the tail is kept


def test_process_cancel_kills_and_removes_the_run_dir(qtbot, tmp_path):
    run_dir = tmp_path / "run"
    command = fake_trainer(tmp_path, f"""
        import json, os, time
        os.makedirs({str(run_dir)!r}, exist_ok=True)
        open(os.path.join({str(run_dir)!r}, "ck.pt"), "w").write("x")
        print(json.dumps({{**{START!r}, "run_dir": {str(run_dir)!r}}}), flush=True)
        time.sleep(60)
    """)
    proc = TrainingProcess(command=command)
    with qtbot.waitSignal(proc.event, timeout=30000):
        proc.start([])
    assert run_dir.is_dir() and proc.active
    with qtbot.waitSignal(proc.finished, timeout=30000) as sig:
        proc.cancel()
    assert sig.args == [CANCELLED]
    assert not run_dir.exists()


def test_curves_widget_draws_two_axes(qtbot):
    w = CurvesWidget("Validation")
    qtbot.addWidget(w)
    psnr = w.add_series("PSNR", "#00aa00")
    fmse = w.add_series("fMSE", "#aa5500", axis=RIGHT)
    w.resize(320, 180)
    blank = w.grab().toImage()
    for step, (p, f) in enumerate([(28, 900), (30, 600), (31, 450)]):
        w.add_point(psnr, step * 10, p)
        w.add_point(fmse, step * 10, f)
    w.add_point(psnr, 40, float("nan"))  # ignored, never breaks the axes
    assert w.point_count() == 6
    drawn = w.grab().toImage()
    assert drawn != blank
    assert w._range("left")[0] < 28 < 31 < w._range("left")[1]
    assert w._range("right")[0] < 450 and w._range("right")[1] > 900
    assert nice_ticks(0, 10) == [0, 5, 10]
    assert nice_ticks(0.13, 0.71) == [0.2, 0.4, 0.6]

"""`harmonizer train` as the application runs it: a separate process speaking JSON lines, stopped by a signal."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.model_file import read_info
from test_trainer_loop import TINY, check_protocol, photo_folder

ROOT = Path(__file__).resolve().parent.parent
HARMONIZER = [sys.executable, "-c", "import sys; from harmonizer_cli import main; sys.exit(main())"]


def _env(tmp_path) -> dict:
    return {**os.environ, "HARMONIZER_DATA_DIR": str(tmp_path / "userdata"), "PYTHONUNBUFFERED": "1"}


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM to the process group", "SIGINT to the trainer"])
def test_a_signal_saves_a_checkpoint_and_the_run_resumes(tmp_path, how):
    data = photo_folder(tmp_path / "photos", n=8)
    run = tmp_path / "run"
    tiny = list(TINY)
    tiny[tiny.index("--workers") + 1] = "1"  # a loader worker, which must survive the signal
    cmd = [*HARMONIZER, "train", "--data", str(data), "--steps", "100000", "--run-dir", str(run),
           "--progress", "json", *tiny]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=_env(tmp_path), start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(json.loads(line))
            if seen[-1]["event"] == "step" and seen[-1]["step"] >= 2:
                break
        else:
            pytest.fail(f"no step event; stderr: {proc.stderr.read()}")
        if how.startswith("SIGTERM"):
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    events = seen + _events(out)
    assert proc.returncode == 0, err
    check_protocol(events)
    assert [e["event"] for e in events[-2:]] == ["checkpoint", "done"]
    done = events[-1]
    assert done["stopped"] is True and done["model_path"] is None
    assert done["checkpoint"] == str(run / "checkpoints" / "last.pt") == events[-2]["path"]
    stopped_at = events[-2]["step"]
    assert stopped_at >= 2 and not (run / "model.safetensors").exists()
    assert "Traceback" not in err

    resumed = subprocess.run([*HARMONIZER, "train", "--resume", done["checkpoint"], "--steps", str(stopped_at + 2),
                              "--progress", "json", "--workers", "0", "--threads", "1"],
                             capture_output=True, text=True, cwd=ROOT, env=_env(tmp_path), timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    events = _events(resumed.stdout)
    check_protocol(events, resumed=True)
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps[0] == stopped_at + 1 and steps[-1] == stopped_at + 2
    assert events[-1]["stopped"] is False and events[-1]["before"] == done["before"]
    assert read_info(events[-1]["model_path"]).card["steps"] == stopped_at + 2


def test_json_errors_are_an_event_and_one_stderr_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([*HARMONIZER, "train", "--data", str(tmp_path / "empty"), "--progress", "json",
                           "--run-dir", str(tmp_path / "run"), *TINY],
                          capture_output=True, text=True, cwd=ROOT, env=_env(tmp_path), timeout=120)
    assert proc.returncode == 1
    events = _events(proc.stdout)  # stdout holds JSON and nothing else
    assert [e["event"] for e in events] == ["error"] and "no images found" in events[0]["message"]
    assert proc.stderr.strip().splitlines() == [f"error: {events[0]['message']}"]


def test_help_and_usage_errors(tmp_path):
    proc = subprocess.run([*HARMONIZER, "train", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "--init" in proc.stdout and "--progress" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "trainer", "--steps", "2", "--epochs", "2"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr

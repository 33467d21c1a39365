"""The trainer under torchrun: two CPU processes (gloo) with DistributedDataParallel."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.model_file import load_model, read_info
from test_trainer_loop import TINY, check_protocol, photo_folder
from trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_train_one_model(tmp_path):
    data = photo_folder(tmp_path / "photos", n=12, corrupt=0)
    run = tmp_path / "run"
    events = _torchrun("--data", data, "--steps", 4, "--run-dir", run, *TINY)
    check_protocol(events)  # rank 1 prints nothing: one start, one done
    start, done = events[0], events[-1]
    # Each rank trains on its half of the training images, two images per step and process.
    assert start["total_steps"] == 4 and [e["step"] for e in events if e["event"] == "step"][-1] == 4
    assert done["stopped"] is False and done["model_path"] == str(run / "model.safetensors")
    assert sorted(p.name for p in run.glob("*.safetensors")) == ["model.safetensors"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]
    info = read_info(run / "model.safetensors")
    assert info.card["processes"] == 2 and info.card["steps"] == 4 and "x2" in info.card["hardware"]

    # The saved generator is the synchronised one: the model file is the checkpoint's weights, and
    # scoring them again in one process gives the run's own final validation numbers.
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    model, _ = load_model(run / "model.safetensors")
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, ckpt["generator"][k].float(), atol=2e-3, rtol=2e-3), k
    from trainer.datasets import build_datasets
    from trainer.validation import evaluate

    gen = _generator_from(ckpt)
    _, val, _ = build_datasets([data], 32, 0.1)
    metrics, _, _ = evaluate(gen, val, torch.device("cpu"))
    assert metrics["fmse"] == pytest.approx(done["after"]["fmse"], rel=1e-5)


@pytest.mark.slow
def test_a_two_process_run_resumes_exactly(tmp_path):
    """4 steps in one go == 2 steps, stop, resume to 4: every rank continues its own random streams
    (dropout differs between ranks), so the synchronised weights come out the same."""
    data = photo_folder(tmp_path / "photos", n=12, corrupt=0)
    _torchrun("--data", data, "--steps", 4, "--checkpoint-every", 0, "--run-dir", tmp_path / "a", *TINY)
    _torchrun("--data", data, "--steps", 4, "--max-steps", 2, "--checkpoint-every", 0, "--run-dir", tmp_path / "b",
              *TINY)
    half = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    assert half["state"]["step"] == 2 and len(half["rng_ranks"]) == 2
    assert not torch.equal(half["rng_ranks"][0]["torch"], half["rng_ranks"][1]["torch"])
    _torchrun("--resume", tmp_path / "b/checkpoints/last.pt", "--steps", 4, "--workers", 0, "--threads", 1)
    a, b = (load_checkpoint(tmp_path / run / "checkpoints/last.pt") for run in ("a", "b"))
    assert b["state"]["step"] == 4
    for k in a["generator"]:
        assert torch.equal(a["generator"][k], b["generator"][k]), k


def _torchrun(*args) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "trainer", "--device", "cpu", "--progress", "json", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _generator_from(ckpt):
    from engine.rainnet import RainNet

    cfg = ckpt["config"]
    gen = RainNet(ngf=cfg["ngf"], depth=cfg["depth"], norm=cfg["norm"], head=cfg["head"])
    gen.load_state_dict(ckpt["generator"])
    return gen

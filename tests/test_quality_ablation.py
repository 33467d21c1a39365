"""The quality ablation still runs end to end (tiny settings, two of its recipes) and prints its table."""
import subprocess
import sys
from pathlib import Path

from tests.test_trainer_loop import photo_folder

ROOT = Path(__file__).resolve().parent.parent


def test_the_ablation_trains_each_recipe_and_prints_its_table(tmp_path):
    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quality_ablation.py"), "--data", str(data),
         "--runs", str(tmp_path / "runs"), "--size", "32", "--ngf", "4", "--depth", "5", "--steps", "2",
         "--batch", "2", "--only", "transform-fnmse-v2", "pixel-l1gan-v1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| run | changes | fMSE")
    assert any(r.startswith("| transform-fnmse-v2 | current recipe |") for r in rows)
    assert any(r.startswith("| pixel-l1gan-v1 | previous recipe |") for r in rows)

"""The normalization study still runs end to end (tiny settings, its default pixel-head recipe)."""
import subprocess
import sys
from pathlib import Path

from tests.test_trainer_loop import photo_folder

ROOT = Path(__file__).resolve().parent.parent


def test_the_study_trains_each_norm_and_writes_its_table(tmp_path):
    data = photo_folder(tmp_path / "photos", n=6, corrupt=0)
    docs = tmp_path / "docs"
    docs.mkdir()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "normalization_study.py"), "--data", str(data),
         "--runs", str(tmp_path / "runs"), "--docs", str(docs), "--size", "32", "--ngf", "4", "--epochs", "1",
         "--batch", "2", "--norms", "rain,instance"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = (docs / "normalization_study.md").read_text()
    assert "| rain |" in table and "| instance |" in table
    assert (docs / "normalization_study.png").stat().st_size > 1000

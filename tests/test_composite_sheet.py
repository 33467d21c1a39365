"""benchmarks/composite_sheet.py: one row per composite, a column per method, labelled."""

import numpy as np
from PIL import Image

from engine.model_file import save_model
from engine.rainnet import RainNet

from benchmarks import composite_sheet


def test_sheet_rows_columns_and_errors(tmp_path, capsys):
    rng = np.random.default_rng(0)
    folder = tmp_path / "composites"
    folder.mkdir()
    for i, (h, w) in enumerate([(60, 80), (64, 64), (50, 90)]):
        img = np.full((h, w, 3), rng.integers(60, 200, 3), np.uint8)
        img[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = rng.integers(0, 255, 3)
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
        Image.fromarray(img).save(folder / f"c{i}.png")
        Image.fromarray(mask).save(folder / f"c{i}_mask.png")
    model = save_model(tmp_path / "tiny.safetensors", RainNet(ngf=4, depth=5), {"size": 64}, {})
    out = tmp_path / "sheet.png"
    assert composite_sheet.main([str(folder), "-o", str(out), "--model", str(model), "--count", "2"]) == 0
    sheet = np.asarray(Image.open(out))
    cell, label = composite_sheet.CELL, composite_sheet.LABEL_H
    assert sheet.shape == (label + 2 * cell, 3 * cell, 3)  # composite, classical, the model; 2 rows
    # The composite column shows the picture with its mask outline; the classical one changed it.
    first = slice(label, label + cell)
    assert not np.array_equal(sheet[first, :cell], sheet[first, cell:2 * cell])

    empty = tmp_path / "empty"
    empty.mkdir()
    assert composite_sheet.main([str(empty), "-o", str(tmp_path / "x.png")]) == 1
    assert "no composites" in capsys.readouterr().err

"""engine.pairing: one rule for which file is an image and which image is whose mask."""
from pathlib import Path

from engine.batch import find_pairs
from engine.pairing import image_files, pair_masks
from trainer.data_folders import photo_entries


def touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_masks_pair_in_any_case_lossless_first_and_hidden_files_are_not_images(tmp_path):
    touch(tmp_path, "a.jpg", "a_mask.jpg", "a_mask.png", "B.JPG", "B_Mask.TIF", "c.webp", ".d.png",
          "notes.txt", ".thumbs/e.jpg", "sub/f.png", "sub/f_mask.png")
    assert [p.name for p in image_files(tmp_path)] == ["B.JPG", "B_Mask.TIF", "a.jpg", "a_mask.jpg",
                                                        "a_mask.png", "c.webp"]
    pairs = {p.name: m and m.name for p, m in pair_masks(image_files(tmp_path, recursive=True))}
    assert pairs == {"B.JPG": "B_Mask.TIF", "a.jpg": "a_mask.png", "c.webp": None, "f.png": "f_mask.png"}


def test_batch_and_trainer_pair_alike(tmp_path):
    touch(tmp_path, "x.jpg", "x_MASK.png", "y.png", "z.jpg", "z_mask.jpg")
    pairs, unmatched = find_pairs(tmp_path)
    assert [(p.name, m.name) for p, m in pairs] == [("x.jpg", "x_MASK.png"), ("z.jpg", "z_mask.jpg")]
    assert [p.name for p in unmatched] == ["y.png"]
    trainer = {e.image.name: e.mask and e.mask.name for e in photo_entries(tmp_path)}
    assert trainer == {"x.jpg": "x_MASK.png", "y.png": None, "z.jpg": "z_mask.jpg"}


def test_a_masks_folder_takes_x_or_x_mask_preferring_png(tmp_path):
    touch(tmp_path / "in", "p.jpg", "q.jpg", "r.jpg")
    touch(tmp_path / "masks", "p.jpg", "p.png", "Q_mask.webp")
    pairs, unmatched = find_pairs(tmp_path / "in", tmp_path / "masks")
    assert [(p.name, m.name) for p, m in pairs] == [("p.jpg", "p.png"), ("q.jpg", "Q_mask.webp")]
    assert [p.name for p in unmatched] == ["r.jpg"]

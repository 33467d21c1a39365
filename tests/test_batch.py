"""engine.batch: pairing, naming policies, failures that never stop the batch, cancel, workers."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.batch import BatchOptions, BatchReport, find_pairs, output_path_for, run_batch
from engine.errors import CancelledError, HarmonizerError
from engine.harmonizer import Harmonizer


def composite(seed=0, h=32, w=40):
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(30, 120, 3)
    img[8:24, 10:30] = rng.integers(150, 250, 3)
    mask = np.zeros((h, w), np.uint8)
    mask[8:24, 10:30] = 255
    return img, mask


def make_folder(folder, names=("a.png", "b.jpg")):
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        img, mask = composite(i)
        Image.fromarray(img).save(folder / name, quality=95)
        Image.fromarray(mask).save(folder / f"{name.rsplit('.', 1)[0]}_mask.png")
    return folder


@pytest.fixture
def classical():
    return Harmonizer(method="classical")


def test_find_pairs_beside_and_in_a_masks_folder(tmp_path):
    folder = make_folder(tmp_path / "in")
    Image.fromarray(composite(5)[0]).save(folder / "lonely.png")
    (folder / "notes.txt").write_text("not an image")
    pairs, unmatched = find_pairs(folder)
    assert [(p.name, m.name) for p, m in pairs] == [("a.png", "a_mask.png"), ("b.jpg", "b_mask.png")]
    assert [p.name for p in unmatched] == ["lonely.png"]

    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(composite(0)[1]).save(masks / "a.png")
    Image.fromarray(composite(0)[1]).save(masks / "lonely_mask.png")
    pairs, unmatched = find_pairs(folder, masks)
    assert [(p.name, m.name) for p, m in pairs] == [("a.png", "a.png"), ("lonely.png", "lonely_mask.png")]
    assert [p.name for p in unmatched] == ["b.jpg"]
    with pytest.raises(HarmonizerError, match="not found"):
        find_pairs(tmp_path / "missing")


def test_options_are_validated():
    with pytest.raises(HarmonizerError, match="format"):
        BatchOptions(format="gif")
    with pytest.raises(HarmonizerError, match="{name}"):
        BatchOptions(name_template="{nme}")
    with pytest.raises(HarmonizerError, match="separator"):
        BatchOptions(name_template="../{name}")
    with pytest.raises(HarmonizerError, match="strength"):
        BatchOptions(strength=2)
    with pytest.raises(HarmonizerError, match="strength must be between 0 and 1, got half"):
        BatchOptions(strength="half")
    # Bounded templates: a huge width would build a gigabyte name for every file.
    for template in ("{name:>999999999}", "{name:{name}}", "{name}" + "x" * 300):
        with pytest.raises(HarmonizerError, match="bad name template"):
            BatchOptions(name_template=template)
    assert BatchOptions(name_template="{name:.20}_h").name_template == "{name:.20}_h"
    assert BatchOptions(format="JPEG").format == "jpg"


def test_an_output_name_too_long_for_the_file_system_is_one_clear_failure(tmp_path, classical):
    folder = make_folder(tmp_path / "in", names=("a.png",))
    report = run_batch(find_pairs(folder)[0], tmp_path / "out", BatchOptions(name_template="{name:>200}" + "x" * 60),
                       classical)
    assert report.failed == [("a.png", "the output name is longer than 255 bytes; shorten the template")]


def test_run_writes_outputs_and_reports_a_corrupt_file(tmp_path, classical):
    folder = make_folder(tmp_path / "in", ("a.png", "b.jpg", "c.png"))
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    pairs, _ = find_pairs(folder)
    seen = []
    options = BatchOptions(format="png", name_template="{name}_h")
    report = run_batch(pairs, tmp_path / "out", options, classical, progress=lambda f, s: seen.append((f, s)))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_h.png", "c_h.png"]
    assert [name for name, _ in report.written] == ["a.png", "c.png"]
    assert len(report.failed) == 1 and report.failed[0][0] == "b.jpg" and "b.jpg" in report.failed[0][1]
    assert not report.ok and "2 written" in report.summary() and "1 failed" in report.summary()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    out, _ = np.asarray(Image.open(tmp_path / "out" / "a_h.png")), None
    img, mask = composite(0)
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])
    assert (out[mask > 0] != img[mask > 0]).any()
    report.save(tmp_path / "report.txt")
    assert "b.jpg" in (tmp_path / "report.txt").read_text()


def test_overwrite_policies_and_name_clashes(tmp_path, classical):
    folder = make_folder(tmp_path / "in", ("x.png", "x.jpg"))  # both want out/x.png
    pairs, _ = find_pairs(folder)
    out = tmp_path / "out"
    first = run_batch(pairs, out, BatchOptions(), classical)
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "x_2.png"] and first.notes
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    skipped = run_batch(pairs, out, BatchOptions(overwrite="skip"), classical)
    assert len(skipped.skipped) == 2 and {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    renamed = run_batch(pairs, out, BatchOptions(overwrite="rename"), classical)
    assert len(renamed.written) == 2 and len(list(out.iterdir())) == 4


def test_max_side_quality_and_identical_bytes_with_workers(tmp_path, classical):
    folder = make_folder(tmp_path / "in", ("a.png", "b.png", "c.png", "d.png"))
    pairs, _ = find_pairs(folder)
    opts = dict(format="jpg", quality=80, max_side=20, strength=0.6)
    one = run_batch(pairs, tmp_path / "one", BatchOptions(**opts), classical)
    two = run_batch(pairs, tmp_path / "two", BatchOptions(**opts, workers=3), classical)
    assert one.ok and two.ok and [n for n, _ in two.written] == ["a.png", "b.png", "c.png", "d.png"]
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
        assert Image.open(tmp_path / "one" / name).size == (20, 16)


def test_cancel_stops_between_files_and_returns_the_partial_report(tmp_path, classical):
    folder = make_folder(tmp_path / "in", ("a.png", "b.png", "c.png"))
    pairs, _ = find_pairs(folder)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 4  # lets the first file through its stage checks, then cancels

    report = run_batch(pairs, tmp_path / "out", BatchOptions(), classical, cancel=cancel)
    assert report.cancelled and "Cancelled" in report.summary()
    written = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert len(written) == len(report.written) < 3
    assert not [p for p in written if ".tmp" in p.name]


def test_loader_items_and_mask_resize_note(tmp_path, classical):
    img, mask = composite(1)
    items = [("project", lambda: (img, mask.astype(np.float32) / 255))]
    folder = make_folder(tmp_path / "in", ("a.png",))
    Image.fromarray(composite(0)[1]).resize((80, 64)).save(folder / "a_mask.png")  # twice the size
    items += find_pairs(folder)[0]
    report = run_batch(items, tmp_path / "out", BatchOptions(format="tif"), classical)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif", "project.tif"]
    assert any("resized" in note for _, note in report.notes)

    def broken():
        raise HarmonizerError("project.ora: no layers")

    bad = run_batch([("bad", broken)], tmp_path / "out2", BatchOptions(), classical)
    assert bad.failed == [("bad", "project.ora: no layers")]


def test_unexpected_errors_are_reported_not_raised(tmp_path):
    class Exploding:
        def harmonize(self, *a, **k):
            raise RuntimeError("boom\nsecond line")

    folder = make_folder(tmp_path / "in", ("a.png",))
    report = run_batch(find_pairs(folder)[0], tmp_path / "out", BatchOptions(), Exploding())
    assert report.failed == [("a.png", "unexpected RuntimeError: boom")]
    assert isinstance(report, BatchReport) and output_path_for("a", tmp_path, BatchOptions()).name == "a.png"


def test_cancelled_error_class_is_what_the_harmonizer_raises():
    # run_batch relies on the harmonizer signalling cancel with CancelledError
    h = Harmonizer(method="classical")
    img, mask = composite(0)
    with pytest.raises(CancelledError):
        h.harmonize(img, mask / 255.0, cancel=lambda: True)


def test_output_into_the_input_folder_never_overwrites_an_input(tmp_path, classical):
    folder = make_folder(tmp_path / "in", ("a.png", "b.jpg"))
    before = (folder / "a.png").read_bytes()
    report = run_batch(find_pairs(folder)[0], folder, BatchOptions(format="png"), classical)
    assert (folder / "a.png").read_bytes() == before
    assert [name for name, _ in report.failed] == ["a.png"] and "overwrite the input" in report.failed[0][1]
    assert [name for name, _ in report.written] == ["b.jpg"] and (folder / "b.png").is_file()


def test_reading_and_writing_overlap_the_network(tmp_path, monkeypatch):
    """The next picture is decoded and the last one encoded on I/O threads while the network works on
    the current one (here: the network for the first item waits until the second is being read)."""
    import threading

    import engine.batch

    img, mask = composite(0)
    second_read = threading.Event()
    threads = {"read": set(), "write": set(), "compute": set()}

    def loader(i):
        def load():
            threads["read"].add(threading.get_ident())
            if i == 1:
                second_read.set()
            return img, mask.astype(np.float32) / 255
        return load

    class Network:
        overlapped = []

        def harmonize(self, rgb, m, strength=1.0, progress=None, cancel=None, reference=None, style=None):
            threads["compute"].add(threading.get_ident())
            self.overlapped.append(second_read.wait(10))
            return rgb

    real_write = engine.batch.write_image

    def write_image(*args, **kwargs):
        threads["write"].add(threading.get_ident())
        return real_write(*args, **kwargs)

    monkeypatch.setattr(engine.batch, "write_image", write_image)
    items = [(f"item{i}", loader(i)) for i in range(4)]
    report = run_batch(items, tmp_path / "out", BatchOptions(), Network())
    assert report.ok and len(report.written) == 4
    assert Network.overlapped[0] is True
    assert threads["compute"] == {threading.get_ident()}  # the network stays on the caller's thread
    assert threading.get_ident() not in threads["read"] | threads["write"]

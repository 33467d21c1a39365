"""Cases a review of the edge, shadow and reference tools found: each failed before its fix."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from engine.edges import defringe
from engine.errors import ImageReadError
from engine.pairing import reference_beside
from engine.shadow import ShadowSettings, add_shadow
from harmonizer_gui.document import Document
from harmonizer_gui.document_io import load_project, save_project
from harmonizer_gui.history import History


def picture(h=120, w=160):
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(150, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def doc_with_object():
    mask = np.zeros((120, 160), np.float32)
    mask[30:90, 60:100] = 1.0
    d = Document()
    d.load(picture(), mask=mask)
    return d


def test_an_erased_object_casts_no_shadow_instead_of_breaking_every_redraw_and_save(tmp_path):
    d = doc_with_object()
    d.set_shadow(ShadowSettings())
    d.clear_mask()
    assert d.history.top.label == "Clear mask"
    assert np.array_equal(d.flattened(), d.composite())
    save_project(d, tmp_path / "p.ora")  # no error: the shadow is simply not there


def test_defringe_leaves_thin_parts_far_from_any_solid_interior_alone():
    img = np.full((100, 160, 3), (230, 200, 40), np.uint8)  # a uniform yellow object
    mask = np.zeros((100, 160), np.float32)
    mask[60:100, 110:160] = 1.0  # a solid block far away
    mask[10:15, 5:60] = 1.0  # a 5 px pole: no solid interior within reach
    out = defringe(img, mask, width=3)
    assert np.array_equal(out[10:15, 5:60], img[10:15, 5:60])  # not pulled towards black


def test_defringing_a_picture_with_kept_layers_survives_saving(tmp_path):
    d = doc_with_object()
    d.kept_layers = ([], [])  # as another program's .ora leaves it
    d.defringe(3)
    assert d.kept_layers is None


def test_a_reference_area_file_is_found_in_any_letter_case(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a_Ref.PNG").write_bytes(b"")
    assert reference_beside(tmp_path / "a.png") == tmp_path / "a_Ref.PNG"


def test_malformed_shadow_numbers_in_a_project_are_one_clear_line(tmp_path):
    d = doc_with_object()
    save_project(d, tmp_path / "p.ora")
    with zipfile.ZipFile(tmp_path / "p.ora") as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    state = json.loads(entries["harmonizer/document.json"])
    state["shadow"] = {"angle": [235, 0]}
    entries["harmonizer/document.json"] = json.dumps(state).encode()
    with zipfile.ZipFile(tmp_path / "bad.ora", "w") as zf:
        zf.writestr("mimetype", entries.pop("mimetype"), compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(ImageReadError, match="shadow settings are invalid"):
        load_project(Document(), tmp_path / "bad.ora")


def test_edge_tools_clamp_to_the_engines_limits_on_a_shrunk_cut_out():
    d = Document()
    d.load(picture(60, 80), foreground=picture(240, 320))  # placed at a quarter of its size
    assert d.mask_scale() < 0.5
    d.defringe(16)  # 16 canvas px is more than 64 foreground px: clamped, not refused
    d.refine_mask_edges(64)


def test_a_faint_mask_casts_a_shadow_too():
    img = picture()
    mask = np.zeros((120, 160), np.float32)
    mask[30:90, 60:100] = 0.45  # painted at 45 % grey: harmonizing accepts it
    out = add_shadow(img, mask)
    assert not np.array_equal(out, img)


def test_the_undo_memory_counts_what_a_harmonization_holds():
    from engine.compositing import Harmonization
    from harmonizer_gui.history import FieldStep

    comp = picture()
    h = Harmonization(comp, np.ones((120, 160), np.float32), (0, 0, 160, 120), np.zeros((120, 160, 3), np.float32))
    step = FieldStep("Harmonize", {"harmonization": None}, {"harmonization": h})
    assert step.nbytes() >= comp.nbytes + 120 * 160 * 4 * 4
    assert isinstance(History(lambda *a: None), History)


def test_other_programs_draw_the_shadow_as_the_editor_does(tmp_path):
    from engine import openraster as ora
    from engine.harmonizer import Harmonizer

    yy, xx = np.mgrid[0:120, 0:160]
    disc = (((yy - 60) / 30) ** 2 + ((xx - 80) / 20) ** 2 <= 1).astype(np.float32)  # its box is not all object
    d = Document()
    d.load(picture(), mask=disc)
    result = Harmonizer(method="classical").run(d.composite(), d.composite_mask())
    d.set_result(result.at(1.0), d.revision, result)
    d.set_shadow(ShadowSettings(angle=235, length=0.8))
    save_project(d, tmp_path / "p.ora")
    project = ora.load_ora(tmp_path / "p.ora")
    rendered = ora.flatten(project.stack, project.size)[..., :3]
    assert np.abs(rendered.astype(int) - d.flattened().astype(int)).max() <= 2

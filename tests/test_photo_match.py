"""Match another photo (engine.photo_match): the object takes a different picture's light, mixed with its own
scene's by AdaIN's alpha, with the classical method and with networks trained for reference areas."""
import numpy as np
import pytest
from PIL import Image

from engine.errors import HarmonizerError, MaskError
from engine.harmonizer import Harmonizer
from engine.model_file import save_model
from engine.photo_match import PhotoStyle
from test_reference_and_blend import nudged


def scene():
    rng = np.random.default_rng(0)
    comp = rng.integers(80, 170, (120, 160, 3)).astype(np.uint8)
    mask = np.zeros((120, 160), np.float32)
    mask[40:80, 60:100] = 1
    tint = lambda rgb: np.clip(rng.integers(80, 170, (90, 70, 3)) * np.array(rgb), 0, 255).astype(np.uint8)
    return comp, mask, tint([1.3, 1.0, 0.6]), tint([0.6, 1.0, 1.3])


def warmth(out, mask) -> float:
    inside = out[mask > 0].astype(float)
    return float((inside[:, 0] - inside[:, 2]).mean())


@pytest.fixture
def reference_model():
    """The bundled default, trained with reference areas (a random network's statistics mean nothing)."""
    from engine.model_file import read_info
    from engine.registry import resolve_model

    path = resolve_model("default")
    assert read_info(path).follows_reference
    return str(path)


@pytest.mark.parametrize("method", ["classical", "network"])
def test_the_object_takes_the_photos_light_as_far_as_alpha_says(method, request):
    comp, mask, warm, cool = scene()
    if method == "classical":
        h = Harmonizer(method="classical")
    else:
        h = Harmonizer(request.getfixturevalue("reference_model"), device="cpu")
    plain = h.harmonize(comp, mask)
    assert np.array_equal(h.harmonize(comp, mask, style=PhotoStyle(warm, alpha=0.0)), plain)
    half = [warmth(h.harmonize(comp, mask, style=PhotoStyle(p, alpha=0.5)), mask) for p in (warm, cool)]
    full = [warmth(h.harmonize(comp, mask, style=PhotoStyle(p, alpha=1.0)), mask) for p in (warm, cool)]
    assert full[0] > half[0] > half[1] > full[1] and full[0] - full[1] > 15
    if method == "classical":
        assert half[0] > warmth(plain, mask) > half[1]
    # (The network sees the photo beside the composite, a different input from the composite alone, so
    # its alpha-0.5 results need not bracket its plain one.)
    assert np.array_equal(h.harmonize(comp, mask, style=PhotoStyle(warm))[mask == 0], comp[mask == 0])


def test_an_area_of_the_photo_is_all_that_counts(reference_model):
    comp, mask, warm, cool = scene()
    photo = np.hstack([warm, cool])
    left = np.zeros(photo.shape[:2], np.float32)
    left[:, :70] = 1
    for h in (Harmonizer(method="classical"), Harmonizer(reference_model, device="cpu")):
        a = warmth(h.harmonize(comp, mask, style=PhotoStyle(photo, left)), mask)
        b = warmth(h.harmonize(comp, mask, style=PhotoStyle(photo, 1 - left)), mask)
        assert a > b + 5


def test_bad_photos_are_one_clear_line(tmp_path):
    comp, mask, warm, _ = scene()
    h = Harmonizer(method="classical")
    cases = [
        (PhotoStyle(warm[..., 0]), HarmonizerError, "RGB"),
        (PhotoStyle(warm, alpha=2.0), HarmonizerError, "between 0 and 1"),
        (PhotoStyle(warm, alpha="x"), HarmonizerError, "between 0 and 1"),
        (PhotoStyle(warm, np.ones((5, 5), np.float32)), MaskError, "photo's area"),
        (PhotoStyle(warm, np.zeros(warm.shape[:2], np.float32)), MaskError, "empty or too small"),
    ]
    for style, error, message in cases:
        with pytest.raises(error, match=message):
            h.harmonize(comp, mask, style=style)
    untrained = Harmonizer(str(save_model(tmp_path / "old.safetensors", nudged(), {"size": 64}, {})), device="cpu")
    with pytest.raises(HarmonizerError, match="cannot match another photo"):
        untrained.harmonize(comp, mask, style=PhotoStyle(warm))


def test_the_command_line_matches_a_photo(tmp_path, capsys):
    from engine.cli import main

    comp, mask, warm, cool = scene()
    Image.fromarray(comp).save(tmp_path / "comp.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    Image.fromarray(np.hstack([warm, cool])).save(tmp_path / "photo.png")
    area = np.zeros((90, 140), np.uint8)
    area[:, 70:] = 255
    Image.fromarray(area).save(tmp_path / "area.png")
    args = ["harmonize", str(tmp_path / "comp.png"), str(tmp_path / "mask.png"), "--method", "classical",
            "--match-photo", str(tmp_path / "photo.png")]
    assert main(args + ["-o", str(tmp_path / "all.png")]) == 0
    assert main(args + ["--match-area", str(tmp_path / "area.png"), "--alpha", "1", "-o", str(tmp_path / "cool.png")]) == 0
    cooler = [warmth(np.asarray(Image.open(tmp_path / f"{n}.png")), mask) for n in ("all", "cool")]
    assert cooler[1] < cooler[0]
    with pytest.raises(SystemExit):
        main(args + ["--alpha", "1.5", "-o", str(tmp_path / "x.png")])
    assert "alpha must be between 0 and 1" in capsys.readouterr().err
    assert main(["harmonize", str(tmp_path / "comp.png"), str(tmp_path / "mask.png"), "--method", "classical",
                 "--match-area", str(tmp_path / "area.png"), "-o", str(tmp_path / "y.png")]) == 1
    assert "--match-area needs --match-photo" in capsys.readouterr().err

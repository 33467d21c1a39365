import numpy as np
import pytest
import torch

from engine.errors import CancelledError, HarmonizerError, MaskError, ModelNotFoundError
from engine.harmonizer import Harmonizer, blend, context_box
from engine.model_file import save_model
from engine.rainnet import RainNet


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    net = RainNet(ngf=4, depth=5)
    with torch.no_grad():  # a visibly non-identity network: shift the foreground's colours
        net.decoder[0].up.bias.copy_(torch.tensor([0.8, -0.5, 0.2]))
    return save_model(tmp_path / "tiny.safetensors", net, {"size": 64}, {"purpose": "test"})


def scene(h=120, w=200, seed=0):
    rng = np.random.default_rng(seed)
    comp = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[30:90, 60:150] = 1
    mask[30:90, 55:60] = 0.5  # a feathered edge
    return comp, mask


@pytest.mark.parametrize("method", ["rain", "classical"])
def test_full_resolution_output_changes_only_the_masked_region(method, tiny_model):
    comp, mask = scene()
    h = Harmonizer(model=str(tiny_model), method=method, device="cpu")
    out = h.harmonize(comp, mask)
    assert out.shape == comp.shape and out.dtype == np.uint8
    outside = mask == 0
    assert np.array_equal(out[outside], comp[outside])
    assert np.abs(out[mask == 1].astype(int) - comp[mask == 1]).mean() > 2


def test_strength_interpolates_between_composite_and_result(tiny_model):
    comp, mask = scene(seed=1)
    h = Harmonizer(model=str(tiny_model), device="cpu")
    full = h.harmonize(comp, mask, strength=1.0)
    none = h.harmonize(comp, mask, strength=0.0)
    half = h.harmonize(comp, mask, strength=0.5)
    assert np.array_equal(none, comp)
    expected = comp.astype(np.float32) + (full.astype(np.float32) - comp) * 0.5 * mask[..., None]
    assert np.abs(half.astype(np.float32) - expected).max() <= 1.01
    np.testing.assert_array_equal(blend(comp, full, mask, 1.0), full)


def test_progress_is_reported_and_cancel_is_honoured(tiny_model):
    comp, mask = scene()
    h = Harmonizer(model=str(tiny_model), device="cpu")
    seen = []
    h.harmonize(comp, mask, progress=lambda f, stage: seen.append((f, stage)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 4
    calls = []

    def cancel_after_first_stage():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(CancelledError):
        h.harmonize(comp, mask, cancel=cancel_after_first_stage)


def test_bad_masks_and_shapes_are_clear_errors(tiny_model):
    comp, mask = scene()
    h = Harmonizer(model=str(tiny_model), device="cpu")
    with pytest.raises(MaskError, match="empty"):
        h.harmonize(comp, np.zeros_like(mask))
    with pytest.raises(MaskError, match="whole image"):
        h.harmonize(comp, np.ones_like(mask))
    with pytest.raises(MaskError, match="200x120"):
        h.harmonize(comp, mask[:50])
    with pytest.raises(HarmonizerError, match="strength"):
        h.harmonize(comp, mask, strength=1.5)


def test_missing_default_model_says_what_to_do(monkeypatch, tmp_path):
    from engine import registry

    monkeypatch.setattr(registry, "bundled_models_dir", lambda: tmp_path / "none")
    with pytest.raises(ModelNotFoundError, match="classical"):
        Harmonizer(model="default")
    assert Harmonizer(method="classical").model_name == "classical"
    with pytest.raises(HarmonizerError, match="unknown method"):
        Harmonizer(method="magic")


def test_context_box_keeps_background_around_a_small_object():
    mask = np.zeros((1000, 1000), np.float32)
    mask[500:520, 600:640] = 1
    x0, y0, x1, y1 = context_box(mask)
    assert (x0, y0, x1, y1) == (560, 460, 680, 560)


def test_network_sees_a_crop_at_working_size(tiny_model, monkeypatch):
    comp, mask = scene(300, 500)
    h = Harmonizer(model=str(tiny_model), device="cpu")
    shapes = []
    real = h.predict
    monkeypatch.setattr(h, "predict", lambda c, m: shapes.append(c.shape) or real(c, m))
    h.harmonize(comp, mask)
    assert shapes == [(64, 64, 3)]

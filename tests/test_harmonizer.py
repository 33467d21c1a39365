import numpy as np
import pytest
import torch

from engine.errors import CancelledError, HarmonizerError, MaskError, ModelNotFoundError
from engine.compositing import blend
from engine.harmonizer import Harmonizer, context_box
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
    """A warm, textured background with a cold, darker object pasted in (plus a feathered edge)."""
    rng = np.random.default_rng(seed)
    comp = np.clip(rng.normal((170, 120, 80), 25, (h, w, 3)), 0, 255).astype(np.uint8)
    obj = np.clip(rng.normal((60, 90, 160), 20, (h, w, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[30:90, 60:150] = 1
    mask[30:90, 55:60] = 0.5  # a feathered edge
    comp[mask > 0] = obj[mask > 0]
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
    # `full` already carries the mask's weight, so half strength is half of its change everywhere.
    expected = comp.astype(np.float32) + (full.astype(np.float32) - comp) * 0.5
    assert np.abs(half.astype(np.float32) - expected).max() <= 1.01


def test_blend_is_exact_outside_and_linear_inside_a_feathered_mask():
    comp = np.full((4, 5, 3), 100, np.uint8)
    harmonized = np.full((4, 5, 3), 200, np.uint8)
    harmonized[0, 0] = 7  # a change outside the mask must never leak through
    mask = np.zeros((4, 5), np.float32)
    mask[1:3, 1:4] = [[1.0, 0.5, 0.25], [0.75, 1.0, 1e-4]]
    out = blend(comp, harmonized, mask, 1.0)
    assert out[0, 0].tolist() == [100] * 3 and (out[mask == 0] == 100).all()
    np.testing.assert_array_equal(out[1, 1:4, 0], [200, 150, 125])
    np.testing.assert_array_equal(out[2, 1:4, 0], [175, 200, 100])
    np.testing.assert_array_equal(blend(comp, harmonized, mask, 0.5)[1, 1:3, 0], [150, 125])
    np.testing.assert_array_equal(blend(comp, harmonized, mask, 0.0), comp)


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
    monkeypatch.setattr(h, "predict", lambda c, m, **kw: shapes.append(c.shape) or real(c, m, **kw))
    h.harmonize(comp, mask)
    assert shapes == [(64, 64, 3)]


def test_a_model_can_run_larger_than_it_was_trained(tiny_model, monkeypatch):
    """The file's working size (or an evaluation's override) sets the network's input; the training size
    stays on record, for fine-tuning."""
    comp, mask = scene(300, 500)
    h = Harmonizer(model=str(tiny_model), device="cpu", working_size=128)
    shapes = []
    real = h.predict
    monkeypatch.setattr(h, "predict", lambda c, m, **kw: shapes.append(c.shape) or real(c, m, **kw))
    out = h.harmonize(comp, mask)
    assert shapes == [(128, 128, 3)] and out.shape == comp.shape
    assert h.working_size == 128 and h.info.train_size == 64
    with pytest.raises(HarmonizerError, match="multiple of 32"):
        Harmonizer(model=str(tiny_model), device="cpu", working_size=100)


def test_feathered_mask_blends_in_the_full_resolution_path(tiny_model):
    comp, mask = scene()
    hard = Harmonizer(model=str(tiny_model), device="cpu").harmonize(comp, mask)
    edge = mask == 0.5
    soft_change = np.abs(hard[edge].astype(float) - comp[edge]).mean()
    core_change = np.abs(hard[mask == 1].astype(float) - comp[mask == 1]).mean()
    assert 0 < soft_change < core_change


def test_a_tiny_object_in_a_large_frame(tiny_model):
    comp, _ = scene(600, 900)
    mask = np.zeros(comp.shape[:2], np.float32)
    mask[300:303, 450:452] = 1  # six pixels
    out = Harmonizer(model=str(tiny_model), device="cpu").harmonize(comp, mask)
    np.testing.assert_array_equal(out[mask == 0], comp[mask == 0])
    assert (out[mask == 1] != comp[mask == 1]).any()


def test_cuda_out_of_memory_falls_back_to_the_cpu_with_a_notice(tiny_model, monkeypatch):
    comp, mask = scene()
    h = Harmonizer(model=str(tiny_model), device="cpu")
    expected = h.harmonize(comp, mask)
    real = h._predict_on
    tried = []

    def predict_on(device, net, c, m, transform, reference):
        tried.append(device.type)
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(device, net, c, m, transform, reference)

    monkeypatch.setattr(h, "_predict_on", predict_on)
    monkeypatch.setattr(h, "_to", lambda device: setattr(h, "device", device))
    h.device = torch.device("cuda")  # pretend the model lives on a GPU that is full
    with pytest.warns(UserWarning, match="out of memory"):
        out = h.harmonize(comp, mask)
    assert tried == ["cuda", "cpu"] and h.device.type == "cpu"
    assert "out of memory" in h.notice and "CPU" in h.notice
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "cuda, mps, want", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")]
)
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, want):
    from engine.devices import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device("auto").type == want
    assert pick_device("cpu").type == "cpu"
    if not cuda:
        with pytest.raises(HarmonizerError, match="CUDA was requested"):
            pick_device("cuda")
    if not mps:
        with pytest.raises(HarmonizerError, match="MPS"):
            pick_device("mps")
    with pytest.raises(HarmonizerError, match="unknown device"):
        pick_device("tpu")


def test_cancel_is_checked_at_every_stage_boundary(tiny_model):
    comp, mask = scene()
    h = Harmonizer(model=str(tiny_model), device="cpu")
    stages = []
    h.harmonize(comp, mask, progress=lambda f, stage: stages.append(stage))
    for n in range(len(stages)):
        seen, calls = [], []

        def cancel():
            calls.append(1)
            return len(calls) > n

        with pytest.raises(CancelledError):
            h.harmonize(comp, mask, progress=lambda f, stage: seen.append(stage), cancel=cancel)
        assert seen == stages[:n]  # stopped exactly at boundary n, nothing after it ran


def test_an_in_memory_network_gives_the_same_result_as_its_file(tiny_model):
    from engine.model_file import load_model

    comp, mask = scene()
    net, info = load_model(tiny_model)
    wrapped = Harmonizer.from_network(net, {"size": 64}, name="trial", device="cpu")
    assert wrapped.model_name == "trial" and wrapped.working_size == 64 and not wrapped.net.training
    np.testing.assert_array_equal(
        wrapped.harmonize(comp, mask), Harmonizer(model=str(tiny_model), device="cpu").harmonize(comp, mask)
    )


def test_mask_value_ranges():
    comp, mask = scene()
    h = Harmonizer(method="classical")
    expected = h.harmonize(comp, mask)
    overshoot = mask * np.float32(1.0000002)  # what a float blur of a 0/1 mask can leave behind
    assert overshoot.max() > 1
    # read as 0..1 (not as a nearly black 0..255 mask): the same result up to rounding at the 0.5 edge
    assert np.abs(h.harmonize(comp, overshoot).astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(h.harmonize(comp, (mask == 1).astype(np.uint8) * 255),
                                  h.harmonize(comp, (mask == 1).astype(np.float32)))
    np.testing.assert_array_equal(h.harmonize(comp, mask == 1), h.harmonize(comp, (mask == 1).astype(np.float32)))


def test_a_harmonization_gives_any_strength_without_running_again(monkeypatch):
    """run() returns the result once; at(strength) is what harmonize(strength) returns, for every strength,
    and never calls the method again."""
    rng = np.random.default_rng(3)
    comp = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 12:40] = 1.0
    mask[10:30, 12] = 0.5  # a feathered edge
    h = Harmonizer(method="classical")
    result = h.run(comp, mask)
    calls = []
    monkeypatch.setattr("engine.harmonizer.classical_region", lambda *a: calls.append(a))
    for strength in (0.0, 0.3, 1.0):
        monkeypatch.undo()
        expected = h.harmonize(comp, mask, strength)
        monkeypatch.setattr("engine.harmonizer.classical_region", lambda *a: calls.append(a))
        np.testing.assert_array_equal(result.at(strength), expected)
    assert calls == []
    np.testing.assert_array_equal(result.at(0.0), comp)
    x0, y0, x1, y1 = result.box
    assert (x0, y0, x1, y1) == (12, 10, 40, 30) and result.region.shape == (20, 28, 3)

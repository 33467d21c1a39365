"""Reference areas in the network (RAIN statistics and the transform head read the chosen area), training
samples that teach it, and blends of several networks in one model file."""
import json

import numpy as np
import pytest
import torch

from engine.blend import mean_grid
from engine.errors import HarmonizerError, MaskError
from engine.harmonizer import Harmonizer
from engine.model_file import REFERENCE_AREAS, load_model, read_info, save_blend, save_model
from engine.normalization import RAIN
from engine.rainnet import Blend, RainNet, with_reference_input
from trainer.references import reference_area, relight_elsewhere


def nudged(head="transform", seed=0, nudge=0.05, ngf=4, depth=5):
    torch.manual_seed(seed)
    net = RainNet(ngf=ngf, depth=depth, head=head, dropout=0.0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * nudge)
    return net.eval()


def scene(h=96, w=128):
    """A textured scene whose left half is lit warm and right half cool, with a grey object in the middle."""
    rng = np.random.default_rng(3)
    base = rng.integers(90, 160, (h, w, 3)).astype(np.float32)
    base[:, : w // 2] *= np.float32([1.25, 1.0, 0.7])
    base[:, w // 2:] *= np.float32([0.7, 0.95, 1.3])
    comp = np.clip(base, 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[h // 3: 2 * h // 3, w // 2 - 14: w // 2 + 14] = 1
    comp[mask > 0] = rng.integers(100, 156, (int(mask.sum()), 3))
    left, right = np.zeros_like(mask), np.zeros_like(mask)
    left[:, : w // 2 - 20] = 1
    right[:, w // 2 + 20:] = 1
    return comp, mask, left, right


def test_rain_reads_the_reference_area_and_the_whole_background_by_default():
    torch.manual_seed(0)
    layer = RAIN(3)
    x = torch.randn(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    assert torch.equal(layer(x, mask), layer(x, mask, 1 - mask))
    ref = torch.zeros_like(mask)
    ref[..., :3, :] = 1
    x[..., :3, :] += 5  # the reference area is much brighter than the rest of the background
    out = layer(x, mask, ref)
    fg = out[..., 4:12, 4:12]
    assert abs(fg.mean().item() - x[..., :3, :].mean().item()) < 1e-3  # takes the area's mean
    assert torch.equal(out * (1 - mask), layer(x, mask) * (1 - mask))  # the background is treated as before


@pytest.mark.parametrize("head", ["transform", "pixel"])
def test_the_network_output_follows_the_reference_area(head):
    net = nudged(head)
    comp, mask, left, right = scene(64, 64)
    c = torch.from_numpy(comp).permute(2, 0, 1)[None].float() / 127.5 - 1
    m = torch.from_numpy(mask)[None, None]
    with torch.no_grad():
        plain, default = net(c, m), net(c, m, 1 - m)
        a = net(c, m, torch.from_numpy(left)[None, None])
        b = net(c, m, torch.from_numpy(right)[None, None])
    assert torch.allclose(plain, default, atol=1e-6)
    assert (a - b).abs().max() > 1e-3


def test_training_references_lie_on_the_background_and_relight_only_elsewhere():
    rng = np.random.default_rng(0)
    real = np.random.default_rng(1).integers(40, 220, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[20:44, 20:44] = 1
    comp = real.copy()
    comp[mask > 0] = comp[mask > 0] // 2
    for _ in range(20):
        ref = reference_area(mask, rng)
        assert ref is not None and ref.mean() >= 0.04 and not (ref * mask).any()
        new_comp, new_real = relight_elsewhere(comp, real, mask, ref, rng)
        inside, on_ref = mask > 0, ref > 0
        assert np.array_equal(new_real[inside], real[inside])  # the object's true colours are kept
        assert np.array_equal(new_comp[inside], comp[inside])
        assert np.array_equal(new_real[on_ref], real[on_ref]) and np.array_equal(new_comp[on_ref], real[on_ref])
        assert np.array_equal(new_comp[~inside], new_real[~inside])  # composite = target outside the object
        assert (new_real != real).any()


def test_fine_tuning_a_model_that_follows_references_keeps_training_them(tmp_path):
    from trainer.config import REFERENCE_SHARE, TrainConfig, check_config, resolve_recipe

    with pytest.raises(HarmonizerError, match="reference-share"):
        check_config(TrainConfig(data=["x"], reference_share=1.5, lr_decay=0.0))
    follows = save_model(tmp_path / "f.safetensors", nudged(), {"size": 64, REFERENCE_AREAS: True}, {})
    plain = save_model(tmp_path / "p.safetensors", nudged(), {"size": 64}, {})
    for init, given, expected in ((follows, None, REFERENCE_SHARE), (plain, None, 0.0), (follows, 0.0, 0.0),
                                  (None, None, 0.0), (plain, 0.5, 0.5)):
        cfg = TrainConfig(data=["x"], init=None if init is None else str(init), reference_share=given)
        resolve_recipe(cfg)
        assert cfg.reference_share == expected


def test_the_reference_input_channel_starts_as_the_same_function_and_then_reads_the_area(tmp_path):
    net = nudged()
    wider = with_reference_input(net).eval()
    assert wider.reference_input and wider.encoder[0].in_channels == 5 and with_reference_input(wider) is wider
    comp, mask, left, right = scene(64, 64)
    c = torch.from_numpy(comp).permute(2, 0, 1)[None].float() / 127.5 - 1
    m = torch.from_numpy(mask)[None, None]
    refs = [None] + [torch.from_numpy(a)[None, None] for a in (left, right)]
    with torch.no_grad():
        for ref in refs:
            assert torch.allclose(net(c, m, ref), wider(c, m, ref), atol=1e-6)
        encoded = [wider._features(c, m, ref)[0][0] for ref in refs]
        wider.encoder[0].weight[:, 4].normal_()  # as if trained: the encoder now sees which area is meant
        changed = [wider._features(c, m, ref)[0][0] for ref in refs]
    assert all((a - b).abs().max() > 1e-3 for a, b in zip(encoded, changed))
    path = save_model(tmp_path / "r.safetensors", wider, {"size": 64, REFERENCE_AREAS: True}, {})
    loaded, info = load_model(path)
    assert info.config["reference_input"] is True and loaded.encoder[0].in_channels == 5
    with torch.no_grad():
        assert torch.allclose(loaded.float()(c, m, refs[1]), wider(c, m, refs[1]), atol=2e-2)


def test_a_crafted_reference_input_flag_is_one_clear_line(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_model(tmp_path / "r.safetensors", nudged(), {"size": 64}, {})
    for value, message in (("yes", "reference_input must be true or false"), (True, "encoder.0.weight")):
        meta = {"format": "harmonizer-rainnet-2", "config": json.dumps({**read_info(path).config, "reference_input": value}),
                "card": "{}"}
        save_file(load_file(str(path)), str(tmp_path / "c.safetensors"), metadata=meta)
        with pytest.raises(HarmonizerError, match=message):
            load_model(tmp_path / "c.safetensors")


def test_training_with_reference_areas_gives_the_encoder_the_area(tmp_path):
    from trainer.config import TrainConfig, build_generator, resolve_recipe

    class Notes:
        def __init__(self):
            self.lines = []

        def note(self, line):
            self.lines.append(line)

    plain = save_model(tmp_path / "p.safetensors", nudged(), {"size": 64}, {})
    for share, resumed, expected in ((0.5, None, True), (0.0, None, False), (None, None, False),
                                     (0.3, {"head": "transform"}, False)):
        cfg = TrainConfig(data=["x"], init=str(plain) if resumed is None else None, reference_share=share)
        resolve_recipe(cfg, resumed)
        assert cfg.reference_input is expected
    cfg = TrainConfig(data=["x"], init=str(plain), reference_share=0.5)
    resolve_recipe(cfg)
    notes = Notes()
    model = build_generator(cfg, notes, None)
    assert model.reference_input and cfg.reference_input and "input channel" in notes.lines[0]
    fresh = TrainConfig(data=["x"], reference_share=0.5, size=64, depth=5, ngf=4)
    resolve_recipe(fresh)
    assert build_generator(fresh, notes, None).encoder[0].in_channels == 5


def _files(tmp_path, lead_reference=True):
    lead, other = nudged("transform", 0), nudged("pixel", 1, ngf=4, depth=6)
    members = [(lead, {"size": 64, "train_size": 64, "weight": 0.5, REFERENCE_AREAS: lead_reference}),
               (other, {"size": 64, "weight": 0.5})]
    return lead, other, save_blend(tmp_path / "blend.safetensors", members, {"name": "blend"})


def test_a_blend_file_loads_as_a_blend_and_its_lead_alone_for_fine_tuning(tmp_path):
    lead, other, path = _files(tmp_path)
    net, info = load_model(path)
    assert isinstance(net, Blend) and net.sizes == [64, 64] and net.weights == [0.5, 0.5]
    assert net.references == [True, False] and info.follows_reference
    assert read_info(path).card["parameters"] == sum(p.numel() for m in (lead, other) for p in m.parameters())
    alone, _ = load_model(path, lead_only=True)
    assert isinstance(alone, RainNet) and alone.head == "transform"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    m = torch.zeros(1, 1, 64, 64)
    m[..., 16:48, 16:48] = 1
    with torch.no_grad():
        assert torch.allclose(alone(x, m), lead(x, m), atol=2e-2)  # fp16 weights


def test_a_blend_of_a_network_with_itself_is_that_network(tmp_path):
    from engine.registry import resolve_model

    # A trained network: a random one's transform clips most pixels, which no smooth map can follow.
    lead, _ = load_model(resolve_model("default"), lead_only=True)
    single = save_model(tmp_path / "one.safetensors", lead, {"size": 128}, {})
    twice = save_blend(tmp_path / "two.safetensors", [(lead, {"size": 128, "weight": 0.5}),
                                                      (lead, {"size": 128, "weight": 0.5})], {})
    comp, mask, _, _ = scene()
    a = Harmonizer(str(single), device="cpu").harmonize(comp, mask)
    b = Harmonizer(str(twice), device="cpu").harmonize(comp, mask)
    # The second copy's output is fitted as a smooth map of the first's curved input (engine.blend),
    # so it agrees up to what a smooth map cannot hold of a random network's grid.
    diff = np.abs(a.astype(int) - b)[mask > 0]
    assert diff.mean() < 3 and np.percentile(diff, 99) <= 10


def test_a_blend_harmonizes_between_its_members(tmp_path):
    lead, other, path = _files(tmp_path)
    comp, mask, _, _ = scene()
    outs = [Harmonizer(str(p), device="cpu").harmonize(comp, mask).astype(np.float32) for p in (
        save_model(tmp_path / "lead.safetensors", lead, {"size": 64}, {}),
        save_model(tmp_path / "other.safetensors", other, {"size": 64}, {}), path)]
    inside = mask > 0
    first, second, both = (o[inside].mean(0) for o in outs)
    assert np.all(np.minimum(first, second) - 3 <= both) and np.all(both <= np.maximum(first, second) + 3)
    assert np.array_equal(outs[2][~inside], comp[~inside])


def test_only_networks_trained_for_references_follow_one(tmp_path):
    comp, mask, left, right = scene()
    _, _, path = _files(tmp_path, lead_reference=True)
    h = Harmonizer(str(path), device="cpu")
    a, b = h.harmonize(comp, mask, reference=left), h.harmonize(comp, mask, reference=right)
    assert h.notice == "" and np.abs(a.astype(int) - b).max() > 0
    old = Harmonizer(str(save_model(tmp_path / "old.safetensors", nudged(), {"size": 64}, {})), device="cpu")
    plain = old.harmonize(comp, mask)
    assert np.array_equal(old.harmonize(comp, mask, reference=left), plain) and "not trained" in old.notice


@pytest.mark.parametrize("where, message", [("object", "on the object"), ("empty", "empty or too small")])
def test_a_reference_on_the_object_or_empty_is_one_clear_line(tmp_path, where, message):
    comp, mask, _, _ = scene()
    _, _, path = _files(tmp_path)
    ref = mask.copy() if where == "object" else np.zeros_like(mask)
    for h in (Harmonizer(str(path), device="cpu"), Harmonizer(method="classical")):
        with pytest.raises(MaskError, match=message):
            h.harmonize(comp, mask, reference=ref)


@pytest.mark.parametrize("change, message", [
    ({"blend": "x"}, "must be a list"),
    ({"blend": [{}] * 4}, "at most 4"),
    ({"weight": float("nan")}, "weight"),
    ({"weight": 3}, "weight"),
    ({"size": 10**9}, "working size"),
    ({"blend": [{"ngf": 4, "depth": 6, "norm": "rain", "dropout": 0.0, "attention": True, "head": "pixel",
                 "local": True, "size": 40, "weight": 0.5}]}, "not a multiple of 64"),
])
def test_a_crafted_blend_config_is_one_clear_line(tmp_path, change, message):
    from safetensors.torch import load_file, save_file

    _, _, path = _files(tmp_path)
    header = read_info(path)
    config = {**header.config, **change}
    meta = {"format": "harmonizer-rainnet-3", "config": json.dumps(config), "card": "{}"}
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(HarmonizerError, match=message):
        load_model(path)


def test_a_blend_missing_a_members_tensors_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    _, _, path = _files(tmp_path)
    info = read_info(path)
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith("1.")}
    meta = {"format": "harmonizer-rainnet-3", "config": json.dumps(info.config), "card": "{}"}
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(HarmonizerError, match="missing"):
        load_model(path)


def test_mean_grid_weights_and_resizes():
    a = np.zeros((4, 4, 12), np.float32)
    b = np.ones((8, 8, 12), np.float32)
    out = mean_grid([(a, 1.0), (b, 3.0)])
    assert out.shape == (8, 8, 12) and np.allclose(out, 0.75)


def test_fast_runs_a_blends_lead_alone(tmp_path):
    from PIL import Image

    from engine.cli import main

    lead, _, path = _files(tmp_path)
    comp, mask, _, _ = scene()
    Image.fromarray(comp).save(tmp_path / "comp.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    args = ["harmonize", str(tmp_path / "comp.png"), str(tmp_path / "mask.png"), "--model", str(path), "--device", "cpu"]
    assert main(args + ["-o", str(tmp_path / "both.png")]) == 0
    assert main(args + ["--fast", "-o", str(tmp_path / "fast.png")]) == 0
    alone = Harmonizer(str(path), device="cpu", lead_only=True)
    assert not isinstance(alone.net, Blend)
    fast = np.asarray(Image.open(tmp_path / "fast.png"))
    assert np.array_equal(fast, alone.harmonize(comp, mask))
    assert not np.array_equal(fast, np.asarray(Image.open(tmp_path / "both.png")))

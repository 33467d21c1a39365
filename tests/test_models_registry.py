import pytest
import torch

from engine.errors import HarmonizerError, ModelNotFoundError
from engine.model_file import load_model, read_info, save_model
from engine.rainnet import RainNet
from engine import registry


@pytest.fixture
def data_dir(user_folders):
    return user_folders / "data"


def test_save_and_load_round_trip_keeps_config_card_and_weights(tmp_path):
    torch.manual_seed(0)
    net = RainNet(ngf=4, depth=5, norm="spade").eval()
    path = save_model(tmp_path / "m.safetensors", net, {"size": 128}, {"steps": 7}, half=False)
    loaded, info = load_model(path)
    assert info.config["norm"] == "spade" and info.config["size"] == 128 and info.working_size == 128
    assert info.card["steps"] == 7 and info.card["parameters"] == sum(p.numel() for p in net.parameters())
    comp = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 8:20] = 1
    torch.testing.assert_close(loaded(comp, mask), net(comp, mask))


def test_half_precision_file_is_half_the_size_and_close(tmp_path):
    net = RainNet(ngf=4, depth=5).eval()
    full = save_model(tmp_path / "full.safetensors", net, {"size": 32}, {}, half=False)
    half = save_model(tmp_path / "half.safetensors", net, {"size": 32}, {}, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_model(half)
    assert next(loaded.parameters()).dtype == torch.float32
    comp = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.ones(1, 1, 32, 32) * 0.5
    torch.testing.assert_close(loaded(comp, mask), net(comp, mask), atol=5e-3, rtol=0)


def test_bad_files_give_one_line_errors(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(HarmonizerError, match="not a harmonizer model"):
        read_info(junk)
    with pytest.raises(ModelNotFoundError):
        read_info(tmp_path / "missing.safetensors")


def test_registry_lists_registers_and_resolves(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(registry, "bundled_models_dir", lambda: tmp_path / "bundled")
    with pytest.raises(ModelNotFoundError, match="no trained weights are installed for the default model"):
        registry.resolve_model("default")
    assert registry.list_models() == []
    src = save_model(tmp_path / "out.safetensors", RainNet(ngf=4, depth=5), {"size": 32}, {"note": "x"})
    dest = registry.register_model(src, "my photos")
    assert dest.parent == data_dir / "models"
    assert registry.resolve_model("my photos") == dest
    assert registry.resolve_model(str(src)) == src
    [info] = registry.list_models()
    assert info.name == "my photos" and not info.bundled and info.card["note"] == "x"
    with pytest.raises(ModelNotFoundError, match="available: my photos"):
        registry.resolve_model("other")
    with pytest.raises(HarmonizerError, match="invalid model name"):
        registry.register_model(src, "../evil")
    with pytest.raises(HarmonizerError, match="bundled model"):
        registry.register_model(src, "default")
    # A broken file in the folder does not hide the good ones.
    (data_dir / "models" / "broken.safetensors").write_bytes(b"\0" * 20)
    assert [m.name for m in registry.list_models()] == ["my photos"]

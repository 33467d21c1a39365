"""A training run's settings (TrainConfig), its progress (RunState), and the checks and generator they imply."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import HarmonizerError
from engine.model_file import load_model, read_info
from engine.presets import DEFAULT_PRESET, PRESETS
from engine.rainnet import HEADS, RainNet, build_rainnet, with_reference_input
from engine.registry import DEFAULT_NAME, resolve_model, validate_name
from trainer.progress import Reporter
from trainer.references import DISTRACTOR_SHARE

REFERENCE_SHARE = 0.3  # what the default model was fine-tuned with
SCENE_SHARE = 0.5  # likewise; with synthesis v2 (docs/quality.md, "Scene light")
# What a resumed run takes from its checkpoint (the rest — budget, device, workers, output — from the
# command line): changing any of these midway would not be the same training run any more.
RUN_KEYS = ("data", "norm", "ngf", "depth", "size", "batch", "seed", "val_fraction", "lr", "max_images",
            "gan", "gan_weight", "l1_weight", "l1_region", "ndf", "init", "run_size", "head", "local",
            "loss", "synthesis", "ema", "reference_share", "scene_share", "reference_input", "distractor_share")


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)
    init: str | None = None
    norm: str | None = None  # None: "rain", or the --init model's
    preset: str | None = None  # an architecture from engine.rainnet.PRESETS; None: DEFAULT_PRESET
    ngf: int | None = None  # None: the preset's, or the --init model's
    depth: int | None = None  # None: the preset's, or less when the working size needs it
    size: int | None = None  # None: 256, or the size the --init model was trained at
    run_size: int | None = None  # the exported model's working size; None: `size` (see build_generator)
    epochs: int | None = None
    minutes: float | None = None
    steps: int | None = None
    max_steps: int | None = None  # a cap on top of any budget (quick trials); not kept by --resume
    batch: int = 4
    device: str = "auto"
    out: str | None = None
    resume: str | None = None
    progress: str = "tqdm"
    run_dir: str | None = None
    seed: int = 0
    val_fraction: float = 0.1
    checkpoint_every: int = 500
    lr: float = 2e-4
    # The share of the budget at its end over which the learning rate falls linearly to zero (0: constant).
    # Like the budget, a resumed run keeps its checkpoint's value unless the command line gives one, so a
    # long constant-rate run can be finished with a decay phase.
    lr_decay: float | None = None
    ema: float = 0.0  # decay of the weight average that is validated and exported (0: the live weights)
    # The share of training samples whose scene light comes from a chosen reference area (trainer.references);
    # a model trained with it follows the area a user paints. None: REFERENCE_SHARE when the --init model
    # follows reference areas (a fine-tune keeps what its base can do), else 0.
    reference_share: float | None = None
    # Whether the encoder sees the reference area as an input channel (engine.rainnet). None: whenever the
    # run trains with reference areas (a checkpoint from before the channel: never).
    reference_input: bool | None = None
    # Of the samples with a reference area, the share whose background outside it is re-lit (a second
    # light the model must leave out). None: trainer.references.DISTRACTOR_SHARE.
    distractor_share: float | None = None
    # The share of training samples whose whole scene is re-lit around the pasted object
    # (trainer.synthesis.scene_light): it teaches the network to follow the scene's light rather than to
    # give objects back their usual look. None: SCENE_SHARE with synthesis v2, else 0.
    scene_share: float | None = None
    workers: int | None = None
    threads: int | None = None
    max_images: int | None = None
    head: str | None = None  # None: "transform", or the --init model's (see resolve_recipe)
    local: bool = True  # the transform head's local correction (off: one global transform)
    loss: str | None = None  # reconstruction loss "fnmse" or "l1"; None: what the head trains best with
    synthesis: str = "v2"  # "v2": realistic composites (trainer.synthesis); "v1": the first recipe, for ablations
    gan: str | None = None  # "hinge", "lsgan" or "none"; None: none for the transform head, hinge for pixels
    gan_weight: float = 1.0
    l1_weight: float = 100.0  # the reconstruction term's weight, whichever loss it is
    l1_region: str = "foreground"
    ndf: int | None = None  # None: 64, capped at 2 * ngf so D never dwarfs a small generator
    amp: bool = True  # CUDA only
    channels_last: bool = True  # CUDA only
    val_samples: int = 4
    command: str = ""


@dataclass
class RunState:
    step: int = 0
    epoch: int = 1  # the epoch in progress (1-based; 0 is "before training")
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0  # training wall time over all sessions of this run
    history: list = field(default_factory=list)
    before: dict | None = None
    composite: dict | None = None
    last_val_step: int = -1
    pending_val: int | None = None  # the epoch whose validation a stop request cut short
    val_seconds: float = 0.0


def resolve_recipe(cfg: TrainConfig, resumed: dict | None = None) -> None:
    """Fill the head, loss and GAN a run leaves open. The transform head trains on the foreground-normalised
    MSE without a discriminator (a predicted colour transform cannot make the artefacts a discriminator
    is there to catch; docs/quality.md has the ablation); the pixel head keeps the published recipe.
    A checkpoint from before heads existed is a pixel run with L1, hinge GAN and the first synthesis."""
    if resumed is not None and "head" not in resumed:
        cfg.head, cfg.loss, cfg.synthesis = "pixel", "l1", "v1"
    if cfg.init and not cfg.head:
        cfg.head = read_info(resolve_model(cfg.init)).config.get("head", "pixel")
    cfg.head = cfg.head or "transform"
    cfg.ema = cfg.ema or 0.0  # a checkpoint from before the weight average has none
    if cfg.scene_share is None:  # a checkpoint from before scene light had none
        cfg.scene_share = SCENE_SHARE if cfg.synthesis == "v2" and resumed is None else 0.0
    if cfg.reference_share is None:
        follows = cfg.init is not None and resumed is None and read_info(resolve_model(cfg.init)).follows_reference
        cfg.reference_share = REFERENCE_SHARE if follows else 0.0
    if cfg.distractor_share is None:  # also what a checkpoint from before the option trained with
        cfg.distractor_share = DISTRACTOR_SHARE
    if cfg.reference_input is None:
        cfg.reference_input = resumed is None and cfg.reference_share > 0
    cfg.loss = cfg.loss or ("fnmse" if cfg.head == "transform" else "l1")
    cfg.gan = cfg.gan or ("none" if cfg.head == "transform" else "hinge")


def default_depth(size: int, deepest: int = 8) -> int:
    depth = deepest
    while depth > 2 and size % 2**depth:
        depth -= 1
    return depth


def build_generator(cfg: TrainConfig, reporter: Reporter, init_state: dict | None):
    """The generator and its architecture config; --init supplies both architecture and weights."""
    if cfg.init and init_state is None:
        # A blend (the bundled default) fine-tunes its lead network; the result is that one network.
        model, info = load_model(resolve_model(cfg.init), "cpu", lead_only=True)
        if cfg.preset:
            raise HarmonizerError("--preset conflicts with --init (the base model's architecture is kept); leave it out")
        if cfg.reference_input and not model.reference_input:
            model = with_reference_input(model)
            reporter.note("the encoder now also sees the reference area (a new input channel, starting at zero)")
        cfg.reference_input = model.reference_input
        arch = dict(model.config)
        for key in ("ngf", "depth", "norm"):
            wanted = getattr(cfg, key)
            if wanted is not None and wanted != arch[key]:
                raise HarmonizerError(
                    f"--{key} {wanted} conflicts with the --init model ({arch[key]}); leave it out when fine-tuning"
                )
        cfg.ngf, cfg.depth, cfg.norm = arch["ngf"], arch["depth"], arch["norm"]
        cfg.size = cfg.size or info.train_size
        # A fine-tuned model runs where its base runs (the default model trains at 128 px, runs at 256),
        # or at its own training size if that is larger.
        cfg.run_size = max(cfg.size, info.working_size)
        base_head = arch.get("head", "pixel")
        if cfg.head and cfg.head != base_head:
            return _converted(model, cfg, reporter, info.path.name)
        cfg.head, cfg.local = base_head, arch.get("local", True)
        reporter.note(f"fine-tuning {info.path.name} (ngf {cfg.ngf}, depth {cfg.depth}, norm {cfg.norm})")
        return model.train()
    preset = PRESETS[cfg.preset or DEFAULT_PRESET]
    cfg.norm = cfg.norm or "rain"
    cfg.ngf = cfg.ngf or preset["ngf"]
    cfg.size = cfg.size or 256
    cfg.depth = cfg.depth or default_depth(cfg.size, preset["depth"])
    return _fresh(cfg)


def _converted(base: RainNet, cfg: TrainConfig, reporter: Reporter, name: str) -> RainNet:
    """A network with another head that starts from `base`'s encoder, decoder and gates: what a trained
    pixel model learnt about scenes carries over, and only the new head starts from scratch (as the
    identity, for the transform head)."""
    model = _fresh(cfg)
    own = model.state_dict()
    shared = {k: v for k, v in base.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(shared, strict=False)
    reporter.note(f"starting a {cfg.head} head from {name}: {len(shared)} of {len(own)} tensors carried over")
    return model.train()


def _fresh(cfg: TrainConfig) -> RainNet:
    # Dropout is the pixel head's noise source for its GAN; a regressed transform only loses by it.
    return build_rainnet(ngf=cfg.ngf, depth=cfg.depth, norm=cfg.norm, head=cfg.head, local=cfg.local is not False,
                         dropout=0.0 if cfg.head == "transform" else 0.5, reference_input=bool(cfg.reference_input))


def check_config(cfg: TrainConfig) -> None:
    if not cfg.data:
        raise HarmonizerError("no training data: give at least one --data folder")
    budgets = [b for b in (cfg.epochs, cfg.minutes, cfg.steps) if b is not None]
    if len(budgets) > 1:
        raise HarmonizerError("give one budget: --epochs, --minutes or --steps")
    if any(b <= 0 for b in budgets) or (cfg.max_steps is not None and cfg.max_steps <= 0):
        raise HarmonizerError("the training budget must be positive")
    if cfg.size is not None and cfg.depth is not None and cfg.size % 2**cfg.depth:
        raise HarmonizerError(f"--size {cfg.size} must be a multiple of {2**cfg.depth} for depth {cfg.depth}")
    if cfg.depth is not None and not 2 <= cfg.depth <= 9:
        raise HarmonizerError("--depth must be between 2 and 9")
    if cfg.size is not None and cfg.size < 16:
        raise HarmonizerError("--size must be at least 16")
    if cfg.batch < 1:
        raise HarmonizerError("--batch must be at least 1")
    if not 0 <= cfg.lr_decay <= 1:
        raise HarmonizerError("--lr-decay must be a share of the budget in [0, 1]")
    if not 0 <= (cfg.ema or 0.0) < 1:
        raise HarmonizerError("--ema must be a decay in [0, 1), e.g. 0.999 (0 = off)")
    if not 0 <= (cfg.reference_share or 0.0) <= 1:
        raise HarmonizerError("--reference-share must be a share of the samples in [0, 1]")
    if not 0 <= (cfg.distractor_share or 0.0) <= 1:
        raise HarmonizerError("--distractor-share must be a share of the reference samples in [0, 1]")
    if not 0 <= (cfg.scene_share or 0.0) <= 1:
        raise HarmonizerError("--scene-share must be a share of the samples in [0, 1]")
    if not 0 <= cfg.val_fraction < 1:
        raise HarmonizerError("--val-fraction must be in [0, 1)")
    if cfg.preset is not None and cfg.preset not in PRESETS:
        raise HarmonizerError(f"unknown preset {cfg.preset!r}; use {', '.join(PRESETS)}")
    if cfg.head not in HEADS:
        raise HarmonizerError(f"unknown head {cfg.head!r}; use {' or '.join(HEADS)}")
    if cfg.loss not in ("fnmse", "l1"):
        raise HarmonizerError(f"unknown reconstruction loss {cfg.loss!r}; use fnmse or l1")
    if cfg.synthesis not in ("v1", "v2"):
        raise HarmonizerError(f"unknown synthesis {cfg.synthesis!r}; use v2 or v1")
    if cfg.gan not in ("hinge", "lsgan", "none"):
        raise HarmonizerError(f"unknown GAN loss {cfg.gan!r}; use hinge, lsgan or none")
    if cfg.out is not None:  # refused now rather than after the whole run
        cfg.out = validate_name(cfg.out)
        if cfg.out == DEFAULT_NAME:
            raise HarmonizerError("'default' is the bundled model's name; choose another --out name")

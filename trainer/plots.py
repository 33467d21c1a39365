"""Training curves as PNG (matplotlib, Agg: no display needed, safe in a worker process)."""
from __future__ import annotations

from pathlib import Path

from engine.atomic import atomic_path
from engine.errors import ImageWriteError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _x(row) -> float:
    return float(row.get("epoch_f", row.get("epoch", 0)))


def plot_history(rows: list[dict], path, title: str = "") -> Path:
    """Three panels against epoch: training losses, validation MSE / fMSE, validation PSNR.

    The untouched composite's numbers are drawn as dashed lines: the model has to get below (MSE) or
    above (PSNR) them to be doing anything at all.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    trained = [r for r in rows if r.get("loss_l1") is not None]
    ax = axes[0]
    if trained:
        ax.plot([_x(r) for r in trained], [r["loss_l1"] for r in trained], "o-", label="L1 (x1)")
        if any(r.get("loss_d") for r in trained):
            ax.plot([_x(r) for r in trained], [r["loss_d"] for r in trained], "s-", label="D")
            ax.plot([_x(r) for r in trained], [r.get("loss_adv") or 0.0 for r in trained], "^-", label="G adversarial")
        ax.legend(fontsize=8)
    ax.set_title("training loss (mean per epoch)")
    xs = [_x(r) for r in rows]
    for ax, keys, title_ in ((axes[1], ("mse", "fmse"), "validation MSE / fMSE"), (axes[2], ("psnr",), "validation PSNR (dB)")):
        for key in keys:
            ax.plot(xs, [r[key] for r in rows], "o-", label=key.upper() if key != "fmse" else "fMSE")
            base = [r.get(f"comp_{key}") for r in rows]
            if base and base[0] is not None:
                ax.axhline(base[0], ls="--", lw=1, color=ax.lines[-1].get_color(), label=f"composite {key}")
        ax.set_title(title_)
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_comparison(runs: dict[str, list[dict]], path, title: str = "") -> Path:
    """MSE and PSNR against epoch, one line per run (the normalization study)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, rows in runs.items():
        xs = [_x(r) for r in rows]
        axes[0].plot(xs, [r["mse"] for r in rows], "o-", label=name)
        axes[1].plot(xs, [r["psnr"] for r in rows], "o-", label=name)
    for ax, label in zip(axes, ("validation MSE", "validation PSNR (dB)")):
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path

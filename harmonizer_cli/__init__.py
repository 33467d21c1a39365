"""The `harmonizer` command: the composition root above the engine, the trainer and the editor.

The engine's command line owns its own commands (harmonize, batch, eval, models). Training and the
editor bring their own arguments and dependencies (the training loop, PySide6), so this module hands
them the rest of the command line; the engine never names them.
"""
from __future__ import annotations

import importlib

from engine.cli import DISTRIBUTION, Delegate
from engine.cli import main as engine_main
from engine.errors import HarmonizerError


def _load(module_name: str, what: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise HarmonizerError(f"{what} is not available in this installation ({module_name} is missing)") from None
        if exc.name and exc.name.startswith("PySide6"):
            raise HarmonizerError(f"the editor needs PySide6: pip install '{DISTRIBUTION}[gui]'") from None
        raise


def _train(argv: list[str]) -> int:
    return _load("trainer.cli", "training").main(argv)


def _gui(argv: list[str]) -> int:
    return _load("harmonizer_gui.app", "the editor").main(argv)


DELEGATES = {
    "train": Delegate("train or fine-tune a model (see `harmonizer train --help`)", _train),
    "gui": Delegate("start the editor", _gui),
}


def main(argv: list[str] | None = None) -> int:
    return engine_main(argv, delegates=DELEGATES)

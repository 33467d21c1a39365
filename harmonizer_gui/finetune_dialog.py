"""Fine-tune on your photos: set up a trainer run, watch it live, stop/resume/discard it, use the result.

The dialog is modeless and only displays `TrainingProcess.state`; the training itself is a child
process, so the editor stays usable and a trainer crash never takes the document with it.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QButtonGroup, QComboBox, QDialog, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QListWidget, QMessageBox, QPlainTextEdit, QPushButton, QRadioButton, QSizePolicy, QSpinBox,
    QToolButton, QVBoxLayout, QWidget,
)

from engine.errors import HarmonizerError
from engine.registry import DEFAULT_NAME, SUFFIX, list_models, user_models_dir, validate_name
from harmonizer_gui.curves_widget import LEFT, RIGHT
from harmonizer_gui.dialog_layout import Section, fit_to_screen, scrolling
from harmonizer_gui.finetune_settings import (
    EXTRA_ARGS_ENV, MIN_VAL_PHOTOS, SCRATCH, FinetuneSettings, count_photos, few_val_photos, forget_run,
    format_duration, propose_name, remember_run, remembered_run, val_fraction,
)
from harmonizer_gui.finetune_views import ProgressView, ResultView
from harmonizer_gui.training_process import TrainingProcess
from harmonizer_gui.training_run import (
    ACTIVE, CANCELLED, FAILED, FINISHED, RUNNING, STARTING, STOPPED, STOPPING,
)

# Saving a checkpoint takes seconds; after this long the trainer is presumed stuck and may be killed.
STOP_GRACE_MS = 60_000
WARN = "#b9770e"  # worth reading before trusting a number; errors are red


class FinetuneDialog(QDialog):
    """`model_ready(name, path)`: a trained model was registered; `use_model(path)`: the user asked the
    editor to switch to it."""

    model_ready = Signal(str, str)
    use_model = Signal(str)

    def __init__(self, parent=None, process: TrainingProcess | None = None):
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on your photos")
        self.setModal(False)
        self.process = process or TrainingProcess(self)
        self.process.setParent(self)
        self.process.event.connect(self._on_event)
        self.process.phase_changed.connect(self._update_buttons)
        self.process.finished.connect(self._on_finished)
        self._settings: FinetuneSettings | None = None
        self._resume: dict | None = None
        self._close_when_done = False
        self._model_path: str | None = None
        self._name_valid = False
        self._proposed_name = ""
        self._force_offered = False
        self._stop_timer = QTimer(self, singleShot=True)
        self._stop_timer.timeout.connect(self._stop_overdue)
        self._build()
        self._load_resume_state()
        self.refresh_models()
        self._refresh_counts()
        self._validate_name()
        self._update_buttons()
        fit_to_screen(self, 980, 680)

    # -- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        body = QWidget()
        root = QVBoxLayout(body)
        root.setContentsMargins(0, 0, 4, 0)
        setup = QGroupBox()
        form = QFormLayout(setup)
        form.setFieldGrowthPolicy(QFormLayout.ExpandingFieldsGrow)

        self.folder_list = QListWidget()
        self.folder_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.folder_list.setMaximumHeight(56)
        add = QPushButton("Add folder…")
        add.clicked.connect(self._browse_folder)
        self.remove_btn = QPushButton("Remove")
        self.remove_btn.clicked.connect(self._remove_folders)
        col = QVBoxLayout()
        col.addWidget(add)
        col.addWidget(self.remove_btn)
        col.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.folder_list, 1)
        row.addLayout(col)
        self.count_label = QLabel()
        box = QVBoxLayout()
        box.addLayout(row)
        box.addWidget(self.count_label)
        form.addRow("Photo folders:", box)

        self.base_combo = QComboBox()
        self.base_combo.currentIndexChanged.connect(self._on_base_changed)
        self.base_combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.base_note = QLabel()
        self.base_note.setWordWrap(True)  # under the choice, not beside it: a long note must not widen the form
        base = QVBoxLayout()
        base.addWidget(self.base_combo)
        base.addWidget(self.base_note)
        form.addRow("Start from:", base)

        self.epochs_radio = QRadioButton("Epochs")
        self.minutes_radio = QRadioButton("Minutes")
        self.epochs_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.epochs_radio)
        group.addButton(self.minutes_radio)
        self.epochs_spin = QSpinBox(minimum=1, maximum=10000, value=5)
        self.minutes_spin = QSpinBox(minimum=1, maximum=100000, value=10, suffix=" min")
        self.epochs_radio.toggled.connect(self._sync_budget)
        budget = QHBoxLayout()
        for w in (self.epochs_radio, self.epochs_spin, self.minutes_radio, self.minutes_spin):
            budget.addWidget(w)
        budget.addStretch(1)
        form.addRow("Budget:", budget)

        self.size_combo = QComboBox()
        for size, note in ((128, "fastest; the bundled model trains here"), (256, "finer detail, about 4x slower"),
                           (512, "finest, about 16x slower")):
            self.size_combo.addItem(f"{size} px  ({note})", size)
        self.size_combo.setCurrentIndex(1)
        self.size_combo.setToolTip("The size training pairs are made at. Fine-tuning starts at the base "
                                   "model's; the trained model runs where its base runs.")
        self.device_combo = QComboBox()
        self._fill_devices()
        form.addRow("Training size:", self.size_combo)
        form.addRow("Device:", self.device_combo)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. my-holiday-photos")
        self.name_edit.textChanged.connect(self._validate_name)
        self.name_note = QLabel()
        self.name_note.setWordWrap(True)
        name = QVBoxLayout()
        name.addWidget(self.name_edit)
        name.addWidget(self.name_note)
        form.addRow("New model name:", name)

        self.advanced_btn = QToolButton(text="Advanced", checkable=True)
        self.advanced_btn.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.advanced_btn.setArrowType(Qt.RightArrow)
        self.advanced_btn.toggled.connect(self._toggle_advanced)
        self.advanced = QWidget()
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        self.batch_spin = QSpinBox(minimum=1, maximum=256, value=4)
        adv.addRow("Batch size:", self.batch_spin)
        self.extra_edit = QLineEdit(os.environ.get(EXTRA_ARGS_ENV, ""))
        self.extra_edit.setPlaceholderText("more trainer options, e.g. --ngf 32 --norm rain")
        adv.addRow("Extra trainer options:", self.extra_edit)
        self.advanced.setVisible(False)
        form.addRow(self.advanced_btn, self.advanced)
        self.setup_box = setup
        # Folded away while a run is active (it is disabled then), so the curves get the room.
        self.setup_section = Section("Training data and model", setup)
        root.addWidget(self.setup_section)

        self.run_view = ProgressView()
        root.addWidget(self.run_view, 1)
        # The parts the dialog updates, by their names (tests reach them the same way).
        v = self.run_view
        self.status_label, self.progress, self.detail_label = v.status_label, v.progress, v.detail_label
        self.loss_curves, self.val_curves, self.sample_caption = v.loss_curves, v.val_curves, v.sample_caption
        self.sample_row = v.sample_row

        self.results_box = ResultView()
        self.results_table, self.result_label, self.use_btn = (
            self.results_box.results_table, self.results_box.result_label, self.results_box.use_btn)
        self.use_btn.clicked.connect(self._use_model)
        root.addWidget(self.results_box)

        self.failure_box = QGroupBox("The trainer stopped with an error")
        fail = QVBoxLayout(self.failure_box)
        self.failure_text = QPlainTextEdit(readOnly=True)
        self.failure_text.setMaximumHeight(140)
        fail.addWidget(self.failure_text)
        self.failure_box.setVisible(False)
        root.addWidget(self.failure_box)

        buttons = QHBoxLayout()
        self.start_btn = QPushButton("Start training")
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self.start_training)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Save a checkpoint and stop; Resume continues from it later")
        self.stop_btn.clicked.connect(self.stop_training)
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.clicked.connect(self.resume_training)
        self.cancel_btn = QPushButton("Discard run")
        self.cancel_btn.setToolTip("Stop at once and delete this run's checkpoints")
        self.cancel_btn.clicked.connect(self.discard_run)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.close)
        for b in (self.start_btn, self.stop_btn, self.resume_btn, self.cancel_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_btn)
        outer.addWidget(scrolling(body), 1)
        outer.addLayout(buttons)  # outside the scroll area: Start and Close are always in reach

    def _fill_devices(self) -> None:
        from engine.devices import cuda_if_known

        self.device_combo.addItem("Automatic", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.addItem("CUDA GPU", "cuda")
        # Drawing the form does not import torch (seconds). Until something has (normally the editor's
        # model, loaded at start), CUDA stays selectable; a run without it then fails in one clear line.
        if cuda_if_known() is False:
            item = self.device_combo.model().item(2)
            item.setEnabled(False)
            item.setToolTip("No CUDA GPU is available on this machine")
            self.device_combo.setItemText(2, "CUDA GPU (not available)")

    # -- setup ---------------------------------------------------------------------------------------
    def folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def add_folder(self, folder: str) -> None:
        folder = str(Path(folder).expanduser())
        if folder and folder not in self.folders():
            self.folder_list.addItem(folder)
        self._refresh_counts()

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of photos")
        if folder:
            self.add_folder(folder)

    def _remove_folders(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._refresh_counts()

    def _propose_name(self) -> None:
        # Only a name the user has not typed is replaced: a proposal follows the folders chosen.
        if self.name_edit.text().strip() in ("", self._proposed_name):
            # Files too, not just readable models: a proposal must never replace anything.
            taken = {m.name for m in list_models()} | {p.stem for p in user_models_dir().glob(f"*{SUFFIX}")}
            self._proposed_name = propose_name(self.folders(), taken) if self.folders() else ""
            self.name_edit.setText(self._proposed_name)

    def _refresh_counts(self) -> None:
        self._propose_name()
        folders = self.folders()
        if not folders:
            self.count_label.setText("Add one or more folders of photos (X.jpg, with an optional X_mask.png).")
        else:
            photos, masks = count_photos(folders)
            if photos == 0:
                self.count_label.setText("<b>No photos found</b> in these folders (JPEG, PNG, WebP, TIFF, BMP).")
            else:
                rest = photos - masks
                note = f"; masks are made automatically for the other {rest}" if masks and rest else (
                    "; masks are made automatically" if not masks else "")
                held = max(1, round(photos * val_fraction(photos))) if photos > 1 else 0
                short = (f"<br><span style='color:{WARN}'>About {held} of them will be held out to measure the "
                         f"result: too few for a reliable before/after figure.</span>" if held < MIN_VAL_PHOTOS else "")
                self.count_label.setText(f"{photos} photo{'s' * (photos != 1)}, {masks} with a mask{note}.{short}")
        self._update_buttons()

    def refresh_models(self) -> None:
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        models = list_models()
        for info in models:
            origin = "bundled" if info.bundled else "yours"
            self.base_combo.addItem(f"{info.name}  ({origin}, trained at {info.train_size} px)", str(info.path))
        self.base_combo.addItem("Nothing: train from scratch", SCRATCH)
        self.base_combo.blockSignals(False)
        self.base_combo.setCurrentIndex(0)
        self._on_base_changed()

    def _on_base_changed(self, *_):
        if self.base_combo.currentData() == SCRATCH:
            self.base_note.setText(
                "No trained model is installed: training starts from scratch (needs more photos and time)."
                if self.base_combo.count() == 1 else "Needs many more photos and much longer than fine-tuning."
            )
        else:
            info = next((m for m in list_models() if str(m.path) == self.base_combo.currentData()), None)
            if info is not None:
                i = self.size_combo.findData(info.train_size)  # fine-tuning trains where the base trained
                if i < 0:
                    self.size_combo.addItem(f"{info.train_size} px  (the base model's)", info.train_size)
                    i = self.size_combo.count() - 1
                self.size_combo.setCurrentIndex(i)
            note = "Fine-tuning keeps its architecture; the base model itself is not changed."
            if info is not None and len(info.members) > 1:
                note = (f"{info.name} is a blend of {len(info.members)} networks: fine-tuning trains its lead, and "
                        "the new model is that one network. The base model itself is not changed.")
            self.base_note.setText(note)

    def _sync_budget(self) -> None:
        self.epochs_spin.setEnabled(self.epochs_radio.isChecked())
        self.minutes_spin.setEnabled(self.minutes_radio.isChecked())

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_btn.setArrowType(Qt.DownArrow if on else Qt.RightArrow)

    def _validate_name(self) -> str | None:
        """The cleaned name, or None with the reason shown under the field."""
        text = self.name_edit.text()
        ok = None
        if not text.strip():
            self.name_note.setText("Name the new model; it appears under this name in the editor's model list.")
        else:
            try:
                ok = validate_name(text)
                if ok == DEFAULT_NAME:
                    raise HarmonizerError("'default' is the bundled model's name; choose another name")
            except HarmonizerError as exc:
                self.name_note.setText(f"<span style='color:#c0392b'>{exc}</span>")
                ok = None
        if ok is not None:
            target = user_models_dir() / f"{ok}{SUFFIX}"
            self.name_note.setText(
                f"<span style='color:{WARN}'>A model named “{ok}” exists and will be replaced.</span>"
                if target.exists() else f"Saved as {target}"
            )
        self._name_valid = ok is not None
        self._update_buttons()
        return ok

    def settings(self) -> FinetuneSettings:
        """The form as trainer settings; raises HarmonizerError with what to fix."""
        name = self._validate_name()
        if name is None:
            raise HarmonizerError("give the new model a valid name")
        folders = self.folders()
        if not folders:
            raise HarmonizerError("add at least one folder of photos")
        if count_photos(folders)[0] == 0:
            raise HarmonizerError("the chosen folders contain no photos")
        try:
            extra = shlex.split(self.extra_edit.text())
        except ValueError as exc:
            raise HarmonizerError(f"extra trainer options: {exc}") from None
        epochs = self.epochs_radio.isChecked()
        return FinetuneSettings(
            folders=folders, name=name, base_model=self.base_combo.currentData() or SCRATCH,
            budget_kind="epochs" if epochs else "minutes",
            budget=self.epochs_spin.value() if epochs else self.minutes_spin.value(),
            size=int(self.size_combo.currentData()), device=self.device_combo.currentData(),
            batch=self.batch_spin.value(), extra_args=extra, val_fraction=val_fraction(count_photos(folders)[0]),
        )

    # -- running -------------------------------------------------------------------------------------
    def start_training(self) -> bool:
        try:
            settings = self.settings()
        except HarmonizerError as exc:
            self._show_status(str(exc), error=True)
            return False
        self._settings = settings
        self._launch(settings.to_args())
        return True

    def resume_training(self) -> bool:
        if not self._resume or not Path(self._resume.get("checkpoint") or "").is_file():
            self._show_status("There is no checkpoint to resume from.", error=True)
            self._update_buttons()
            return False
        self._settings = FinetuneSettings(**self._resume["settings"])
        self._launch(self._settings.to_args() + ["--resume", self._resume["checkpoint"]], resuming=True)
        return True

    def _launch(self, args: list[str], resuming: bool = False) -> None:
        self._reset_view()
        if resuming:  # the curves continue where the stopped run left them, even after a restart
            curves = self._resume.get("curves") or {}
            self.loss_curves.restore(curves.get("loss"))
            self.val_curves.restore(curves.get("val"))
        self._show_status("Resuming from the checkpoint…" if resuming else "Starting the trainer…")
        self.setup_section.set_expanded(False)
        self.process.start(args)
        self._update_buttons()

    def stop_training(self) -> None:
        if self.process.state.phase == STOPPING:
            # Second press after the grace period: the trainer ignored SIGTERM. Its last checkpoint stays.
            self.process.kill()
            return
        self._show_status("Stopping: the trainer is saving a checkpoint…")
        self.process.stop()
        self._stop_timer.start(STOP_GRACE_MS)

    def _stop_overdue(self) -> None:
        if self.process.state.phase == STOPPING:
            self._force_offered = True
            self._show_status("The trainer does not respond. Force quit keeps its last checkpoint.", error=True)
            self._update_buttons()

    def discard_run(self) -> None:
        if self.process.active:
            self._show_status("Discarding the run…")
            self.process.cancel()
        elif self._resume:
            # A stopped run's checkpoints are only useful for Resume; discarding frees the disk space.
            import shutil

            run_dir = self._resume.get("run_dir")
            if run_dir and Path(run_dir).is_dir():
                shutil.rmtree(run_dir, ignore_errors=True)
            self._forget_resume()
            self._show_status("The stopped run was discarded.")
        self._update_buttons()

    def _reset_view(self) -> None:
        self.run_view.reset()
        self.results_box.setVisible(False)
        self.failure_box.setVisible(False)

    def _on_event(self, ev: dict) -> None:
        kind = ev["event"]
        state = self.process.state
        if kind == "start":
            budget = (f"{ev['epochs']} epochs" if ev.get("epochs") else
                      f"{ev['minutes']:g} minutes" if ev.get("minutes") else f"{ev.get('total_steps')} steps")
            n_val = int(ev.get("val_images") or 0)
            text = (f"Training on {ev.get('train_images')} photos, validating on {n_val}, "
                    f"for {budget} on {ev.get('device')}.")
            if n_val < MIN_VAL_PHOTOS:
                text += f"<br><span style='color:{WARN}'>{few_val_photos(n_val)}</span>"
            self._show_status(text)
        elif kind == "step":
            # Without a discriminator (the transform head's default) the loss is the reconstruction term
            # times its weight: the same line twice. Show the reconstruction alone, on the left axis.
            gan = bool(ev.get("loss_d"))
            self.loss_curves.show_series(0, gan)
            self.loss_curves.show_series(1, True, RIGHT if gan else LEFT)
            self.loss_curves.add_point(0, ev["step"], ev["loss_g"])
            self.loss_curves.add_point(1, ev["step"], ev.get("loss_l1", float("nan")))
            self.progress.setValue(int(round(state.fraction * 1000)))
            self.progress.setFormat(f"{state.fraction:.0%}  ·  ETA {format_duration(state.eta_s)}")
            # `loss_l1` is the reconstruction term, whichever loss the run uses; a run without a
            # discriminator (the transform head's default) reports its loss as zero.
            disc = f", discriminator {ev['loss_d']:.3f}" if ev.get("loss_d") else ""
            self.detail_label.setText(
                f"Step {ev['step']}, epoch {ev['epoch']}  ·  {ev.get('img_per_s', 0):.1f} images/s  ·  "
                f"loss {ev['loss_g']:.3f} (reconstruction {ev.get('loss_l1', 0):.3f}{disc})"
            )
        elif kind == "val":
            self.val_curves.add_point(0, ev["step"], ev["psnr"])
            self.val_curves.add_point(1, ev["step"], ev["fmse"])
            label = "before training" if ev.get("epoch") == 0 else f"after epoch {ev.get('epoch')}"
            self.run_view.set_samples(ev.get("samples") or [], label)
        elif kind == "checkpoint":
            self._remember_resume()

    def _on_finished(self, phase: str) -> None:
        state = self.process.state
        self._stop_timer.stop()
        self._force_offered = False
        self.setup_section.set_expanded(True)
        if phase == FINISHED:
            n_val = int((state.start or {}).get("val_images") or 0)
            self.results_box.setTitle(f"Result on {n_val} validation photo{'s' * (n_val != 1)}" if n_val else "Result")
            self._forget_resume()
            self._model_path = (state.done or {}).get("model_path")
            self.progress.setValue(1000)
            self.progress.setFormat("Done")
            self.results_box.show_results(state.before, state.after)
            name = self._settings.name if self._settings else Path(self._model_path or "").stem
            caution = f"<span style='color:{WARN}'>{few_val_photos(n_val)}</span><br>" if n_val < MIN_VAL_PHOTOS else ""
            if self._model_path:
                self.result_label.setText(
                    f"{caution}“{name}” is registered and can be chosen in the editor's model list.")
                self.use_btn.setText(f"Use “{name}” in the editor")
                self.model_ready.emit(name, self._model_path)
            else:
                self.result_label.setText("Training finished but the trainer did not register a model.")
            self.use_btn.setVisible(bool(self._model_path))
            self._show_status("Training finished.")
        elif phase == STOPPED:
            self._remember_resume()
            self.progress.setFormat(f"Stopped at {state.fraction:.0%}")
            self._show_status(f"Stopped. Checkpoint saved: {state.checkpoint}. Resume continues from it.")
        elif phase == CANCELLED:
            self._forget_resume()
            self.progress.setValue(0)
            self.progress.setFormat("")
            self._show_status("The run was discarded.")
        elif phase == FAILED:
            self._remember_resume()
            self.failure_text.setPlainText(state.failure_report())
            self.failure_box.setVisible(True)
            self._show_status(f"Training failed: {state.error}", error=True)
        self._update_buttons()
        if self._close_when_done:
            self._close_when_done = False
            self.close()

    def _use_model(self) -> None:
        if self._model_path:
            self.use_model.emit(self._model_path)
            self.use_btn.setEnabled(False)
            self.use_btn.setText("In use in the editor")

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(f"<span style='color:#c0392b'>{text}</span>" if error else text)

    def _update_buttons(self, *_):
        phase = self.process.state.phase
        active = phase in ACTIVE
        ready = bool(self.folders()) and self._name_valid
        self.setup_box.setEnabled(not active)
        self.start_btn.setEnabled(not active and ready)
        self.start_btn.setToolTip("" if ready or active else
                                  "Add a folder of photos first" if not self.folders() else
                                  "Give the new model a valid name (see under the name field)")
        self.stop_btn.setEnabled(phase in (STARTING, RUNNING) or (phase == STOPPING and self._force_offered))
        can_resume = bool(self._resume and Path(self._resume.get("checkpoint") or "").is_file())
        self.resume_btn.setEnabled(not active and can_resume)
        self.cancel_btn.setEnabled((active and phase != STOPPING) or (not active and can_resume))
        self.cancel_btn.setText("Cancel and discard" if active else "Discard stopped run")
        if phase == STOPPING:
            self.stop_btn.setText("Force quit" if self._force_offered else "Stopping…")
        else:
            self.stop_btn.setText("Stop")

    # -- resume memory: a stopped run can be resumed after the dialog or the application was closed --
    def _remember_resume(self) -> None:
        state = self.process.state
        if not state.checkpoint or self._settings is None:
            return
        self._resume = remember_run(self._settings, state.checkpoint, state.run_dir,
                                    {"loss": self.loss_curves.history(), "val": self.val_curves.history()})
        self._update_buttons()

    def _forget_resume(self) -> None:
        self._resume = None
        forget_run()

    def _load_resume_state(self) -> None:
        data = remembered_run()
        if data is not None:
            self._resume = data
            s = data["settings"]
            for folder in s["folders"]:
                self.add_folder(folder)
            self.name_edit.setText(s["name"])
            self._show_status(f"A stopped run of “{s['name']}” can be resumed from {data['checkpoint']}.")

    # -- closing -------------------------------------------------------------------------------------
    def confirm_stop(self) -> bool:
        """Ask whether to stop a running training; separate so the main window can ask the same."""
        answer = QMessageBox.question(
            self, "Training is running",
            "Training is still running. Stop it and close?\n\n"
            "A checkpoint is saved first, so you can resume later.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def can_close(self, then) -> bool:
        """For the editor's window closing: True when no training runs; else ask, stop it cleanly and
        call `then` once the trainer has exited (False meanwhile, or when the user keeps training)."""
        if not self.process.active:
            return True
        self.request_stop_then(then)
        return False

    def request_stop_then(self, callback) -> bool:
        """If training runs, ask, stop it and call `callback` once the trainer has exited; returns
        False when the user chose to keep training. Nothing to stop calls back at once."""
        if not self.process.active:
            callback()
            return True
        if self.process.state.phase != STOPPING and not self.confirm_stop():
            return False
        self.process.finished.connect(lambda *_: callback(), Qt.SingleShotConnection)
        self.stop_training()
        return True

    def reject(self) -> None:
        # The one place closing is decided: Esc and the Close button call reject(), and QDialog's own
        # close handling (the window manager, close()) calls it too; hiding only happens here.
        if self.process.active:
            if self.process.state.phase == STOPPING or self.confirm_stop():
                self._close_when_done = True
                if self.process.state.phase != STOPPING:
                    self.stop_training()
            return
        super().reject()

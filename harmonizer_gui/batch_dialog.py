"""Batch export: harmonize a folder of composites (and .ora projects) with the same engine path as
`harmonizer batch`, in a worker thread, with per-file and overall progress and a report at the end.

The dialog only collects options and displays progress; `engine.batch.run_batch` does the work, so the
CLI and the dialog write byte-identical files for identical settings.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QRadioButton,
    QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from engine import batch as engine_batch
from engine.atomic import atomic_write_bytes
from engine.errors import HarmonizerError
from engine.image_io import LOSSY_FORMATS, write_format
from engine.registry import list_models
from harmonizer_gui.batch_settings import BatchForm
from harmonizer_gui.batch_worker import BatchWorker
from harmonizer_gui.dialog_layout import fit_to_screen, scrolling

FORMATS = (("PNG", "png"), ("JPEG", "jpg"), ("WebP", "webp"), ("TIFF", "tif"))
POLICIES = (("Skip the file", "skip"), ("Rename the new file", "rename"), ("Overwrite", "overwrite"))
CLASSICAL = "classical"


def _browse_row(edit: QLineEdit, on_browse) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    btn = QPushButton("Browse…")
    btn.clicked.connect(on_browse)
    row.addWidget(btn)
    return row


class BatchDialog(QDialog):
    """Modeless: the editor stays usable while a batch runs. `worker_done` fires when a run has ended
    (finished, failed or cancelled) and the dialog is ready for the next."""

    worker_done = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Batch export")
        self.setModal(False)
        self.worker: BatchWorker | None = None
        self.report = None
        self._pairs: list = []
        self._unmatched: list = []
        self._after_run = None
        self._build()
        self.refresh_models()
        self._restore_settings()
        self._sync_format()
        self._scan()
        self._update_buttons()
        fit_to_screen(self, 760, 640)

    # -- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        body = QWidget()
        root = QVBoxLayout(body)
        root.setContentsMargins(0, 0, 4, 0)
        inputs = QGroupBox("Inputs")
        form = QFormLayout(inputs)
        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("folder of composites: X.jpg with X_mask.png")
        self.input_edit.editingFinished.connect(self._scan)
        form.addRow("Composites folder:", _browse_row(self.input_edit, self._browse_input))
        self.masks_check = QCheckBox("Masks in a separate folder:")
        self.masks_edit = QLineEdit()
        self.masks_edit.setPlaceholderText("masks named like the composites (X.png or X_mask.png)")
        self.masks_edit.editingFinished.connect(self._scan)
        self.masks_check.toggled.connect(self._on_masks_toggled)
        self.masks_row = QWidget()
        mrow = _browse_row(self.masks_edit, self._browse_masks)
        mrow.setContentsMargins(0, 0, 0, 0)
        self.masks_row.setLayout(mrow)
        self.masks_row.setEnabled(False)
        form.addRow(self.masks_check, self.masks_row)
        self.ora_list = QListWidget()
        self.ora_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.ora_list.setMaximumHeight(56)
        add = QPushButton("Add…")
        add.clicked.connect(self._browse_ora)
        rem = QPushButton("Remove")
        rem.clicked.connect(self._remove_ora)
        col = QVBoxLayout()
        col.addWidget(add)
        col.addWidget(rem)
        row = QHBoxLayout()
        row.addWidget(self.ora_list, 1)
        row.addLayout(col)
        form.addRow("OpenRaster projects:", row)
        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        form.addRow(self.found_label)
        self.unmatched_list = QListWidget()
        self.unmatched_list.setMaximumHeight(60)
        self.unmatched_list.setVisible(False)
        form.addRow(self.unmatched_list)
        root.addWidget(inputs)

        out = QGroupBox("Output")
        oform = QFormLayout(out)
        self.out_edit = QLineEdit()
        self.out_edit.textChanged.connect(self._update_buttons)
        oform.addRow("Output folder:", _browse_row(self.out_edit, self._browse_out))
        self.format_combo = QComboBox()
        for label, ext in FORMATS:
            self.format_combo.addItem(label, ext)
        self.format_combo.currentIndexChanged.connect(self._sync_format)
        self.quality_spin = QSpinBox(minimum=1, maximum=100, value=95)
        self.quality_label = QLabel("Quality:")
        frow = QHBoxLayout()
        frow.addWidget(self.format_combo)
        frow.addSpacing(12)
        frow.addWidget(self.quality_label)
        frow.addWidget(self.quality_spin)
        frow.addStretch(1)
        oform.addRow("Format:", frow)
        self.template_edit = QLineEdit("{name}_harmonized")
        self.template_edit.textChanged.connect(self._sync_format)
        self.template_note = QLabel()
        trow = QVBoxLayout()
        trow.addWidget(self.template_edit)
        trow.addWidget(self.template_note)
        oform.addRow("File names:", trow)
        self.policy_combo = QComboBox()
        for label, value in POLICIES:
            self.policy_combo.addItem(label, value)
        oform.addRow("If a file exists:", self.policy_combo)
        root.addWidget(out)

        how = QGroupBox("Harmonization")
        hform = QFormLayout(how)
        self.method_combo = QComboBox()
        hform.addRow("Model:", self.method_combo)
        self.strength_slider = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=100)
        self.strength_spin = QSpinBox(minimum=0, maximum=100, value=100, suffix=" %")
        self.strength_slider.valueChanged.connect(self.strength_spin.setValue)
        self.strength_spin.valueChanged.connect(self.strength_slider.setValue)
        srow = QHBoxLayout()
        srow.addWidget(self.strength_slider, 1)
        srow.addWidget(self.strength_spin)
        hform.addRow("Strength:", srow)
        self.full_radio = QRadioButton("Full resolution")
        self.limit_radio = QRadioButton("Longest side at most")
        self.full_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.full_radio)
        group.addButton(self.limit_radio)
        self.max_side_spin = QSpinBox(minimum=engine_batch.MIN_SIDE, maximum=65536, value=2048, suffix=" px", singleStep=256)
        self.max_side_spin.setEnabled(False)
        self.limit_radio.toggled.connect(self.max_side_spin.setEnabled)
        rrow = QHBoxLayout()
        for w in (self.full_radio, self.limit_radio, self.max_side_spin):
            rrow.addWidget(w)
        rrow.addStretch(1)
        hform.addRow("Size:", rrow)
        self.options_boxes = (inputs, out, how)
        root.addWidget(how)

        run = QGroupBox("Progress")
        rl = QVBoxLayout(run)
        self.file_label = QLabel("Ready.")
        self.file_bar = QProgressBar()
        self.file_bar.setRange(0, 1000)
        self.file_bar.setFormat("current file %p%")
        self.overall_bar = QProgressBar()
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setFormat("")
        for w in (self.file_label, self.file_bar, self.overall_bar):
            rl.addWidget(w)
        self.report_text = QPlainTextEdit(readOnly=True)
        self.report_text.setVisible(False)
        self.report_text.setMinimumHeight(90)
        rl.addWidget(self.report_text, 1)
        root.addWidget(run, 1)

        buttons = QHBoxLayout()
        self.export_btn = QPushButton("Export")
        self.export_btn.setDefault(True)
        self.export_btn.clicked.connect(self.start_export)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel_export)
        self.save_report_btn = QPushButton("Save report…")
        self.save_report_btn.clicked.connect(self._browse_save_report)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.close)
        for b in (self.export_btn, self.cancel_btn, self.save_report_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_btn)
        outer.addWidget(scrolling(body), 1)
        outer.addLayout(buttons)  # outside the scroll area: Start and Close are always in reach

    def refresh_models(self) -> None:
        current = self.method_combo.currentData()
        self.method_combo.clear()
        for info in list_models():
            self.method_combo.addItem(f"{info.name}  ({'bundled' if info.bundled else 'yours'})", info.name)
        self.method_combo.addItem("Classical colour transfer (no model)", CLASSICAL)
        if current is not None:
            self.select_model(current)

    def select_model(self, value: str) -> None:
        """Choose what the editor calls `value`: "default", "classical", a registered name or a model
        file's path (a file outside the model folders gets its own entry)."""
        i = self.method_combo.findData(value)
        if i < 0:
            info = next((m for m in list_models() if str(m.path) == str(value)), None)
            i = self.method_combo.findData(info.name) if info is not None else -1
        if i < 0 and str(value).endswith(".safetensors"):
            self.method_combo.insertItem(self.method_combo.count() - 1, f"{Path(value).stem}  (file)", str(value))
            i = self.method_combo.count() - 2
        if i >= 0:
            self.method_combo.setCurrentIndex(i)

    # -- inputs --------------------------------------------------------------------------------------
    def set_input_folder(self, folder: str, masks_folder: str | None = None) -> None:
        self.input_edit.setText(folder)
        self.masks_check.setChecked(bool(masks_folder))
        self.masks_edit.setText(masks_folder or "")
        if not self.out_edit.text():
            self.out_edit.setText(str(Path(folder) / "harmonized"))
        self._scan()

    def add_ora(self, paths) -> None:
        have = {self.ora_list.item(i).text() for i in range(self.ora_list.count())}
        for p in paths:
            if str(p) not in have:
                self.ora_list.addItem(str(p))
        self._scan()

    def _browse_input(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of composites", self.input_edit.text())
        if folder:
            self.set_input_folder(folder, self.masks_edit.text() if self.masks_check.isChecked() else None)

    def _browse_masks(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of masks", self.masks_edit.text())
        if folder:
            self.masks_edit.setText(folder)
            self._scan()

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def _browse_ora(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "OpenRaster projects", "", "OpenRaster (*.ora)")
        if paths:
            self.add_ora(paths)

    def _remove_ora(self) -> None:
        for item in self.ora_list.selectedItems():
            self.ora_list.takeItem(self.ora_list.row(item))
        self._scan()

    def _on_masks_toggled(self, on: bool) -> None:
        self.masks_row.setEnabled(on)
        self._scan()

    def ora_paths(self) -> list[str]:
        return [self.ora_list.item(i).text() for i in range(self.ora_list.count())]

    def _scan(self) -> None:
        """Pair composites with masks now, so the user sees what will be exported before starting."""
        self._pairs, self._unmatched = [], []
        folder = self.input_edit.text().strip()
        problem = None
        if folder:
            masks = self.masks_edit.text().strip() if self.masks_check.isChecked() else None
            try:
                self._pairs, self._unmatched = engine_batch.find_pairs(folder, masks or None)
            except HarmonizerError as exc:
                problem = str(exc)
        n_ora = len(self.ora_paths())
        parts = []
        if problem:
            parts.append(f"<span style='color:#c0392b'>{problem}</span>")
        elif folder:
            parts.append(f"{len(self._pairs)} composite{'s' * (len(self._pairs) != 1)} with a mask")
        if n_ora:
            parts.append(f"{n_ora} OpenRaster project{'s' * (n_ora != 1)}")
        if self._unmatched:
            parts.append(f"<b>{len(self._unmatched)} without a mask</b> (not exported):")
        self.found_label.setText(", ".join(parts) if parts else "Choose a folder of composites or add .ora projects.")
        self.unmatched_list.clear()
        self.unmatched_list.addItems([Path(str(p)).name for p in self._unmatched])
        self.unmatched_list.setVisible(bool(self._unmatched))
        self._update_buttons()

    def items(self) -> list:
        return list(self._pairs) + engine_batch.project_items(self.ora_paths())

    # -- options -------------------------------------------------------------------------------------
    def _sync_format(self, *_):
        ext = self.format_combo.currentData()
        lossy = write_format("x." + ext) in LOSSY_FORMATS
        self.quality_spin.setEnabled(lossy)
        self.quality_label.setEnabled(lossy)
        self.quality_spin.setToolTip("" if lossy else "PNG and TIFF are lossless")
        template = self.template_edit.text()
        try:
            example = template.format(name="beach") + "." + ext
        except (KeyError, IndexError, ValueError):
            example = None
        self.template_note.setText(
            f"beach.jpg → {example}" if example and "{name}" in template else
            "<span style='color:#c0392b'>The template must contain {name} (and nothing else in braces).</span>"
        )
        self._update_buttons()

    def options(self):
        method = self.method_combo.currentData()
        return engine_batch.BatchOptions(
            format=self.format_combo.currentData(),
            quality=self.quality_spin.value(),
            name_template=self.template_edit.text(),
            overwrite=self.policy_combo.currentData(),
            strength=self.strength_spin.value() / 100.0,
            max_side=self.max_side_spin.value() if self.limit_radio.isChecked() else None,
            method="classical" if method == CLASSICAL else "rain",
            model="default" if method == CLASSICAL else method,
        )

    # -- remembered settings: a batch is usually re-run with the last choices ----------------------
    def _save_settings(self) -> None:
        BatchForm(
            input=self.input_edit.text(), masks=self.masks_edit.text(), separate_masks=self.masks_check.isChecked(),
            out=self.out_edit.text(), format=self.format_combo.currentData(), quality=self.quality_spin.value(),
            template=self.template_edit.text(), policy=self.policy_combo.currentData(),
            method=self.method_combo.currentData(), strength=self.strength_spin.value(),
            limit=self.limit_radio.isChecked(), max_side=self.max_side_spin.value(),
        ).save()

    def _restore_settings(self) -> None:
        form = BatchForm.load()

        def pick(combo, value):
            i = combo.findData(value)
            if i >= 0:
                combo.setCurrentIndex(i)

        self.input_edit.setText(form.input)
        self.masks_edit.setText(form.masks)
        self.masks_check.setChecked(form.separate_masks)
        self.out_edit.setText(form.out)
        pick(self.format_combo, form.format)
        pick(self.policy_combo, form.policy)
        pick(self.method_combo, form.method)
        self.template_edit.setText(form.template)
        for spin, value in ((self.quality_spin, form.quality), (self.strength_spin, form.strength),
                            (self.max_side_spin, form.max_side)):
            if value is not None:
                spin.setValue(value)
        self.limit_radio.setChecked(form.limit)
        self.full_radio.setChecked(not form.limit)

    # -- running -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def start_export(self) -> bool:
        items = self.items()
        out_dir = self.out_edit.text().strip()
        if not items or not out_dir:
            self.file_label.setText("Nothing to export: choose inputs and an output folder.")
            return False
        try:
            options = self.options()
        except (HarmonizerError, ValueError) as exc:
            self.file_label.setText(f"<span style='color:#c0392b'>{exc}</span>")
            return False
        self.report = None
        self.report_text.clear()
        self.report_text.setVisible(False)
        self.file_bar.setValue(0)
        self.overall_bar.setValue(0)
        self.overall_bar.setFormat(f"0 of {len(items)}")
        self._total = len(items)
        self.file_label.setText("Loading the model…")
        self._save_settings()
        self.worker = BatchWorker(items, out_dir, options, self)
        self.worker.progressed.connect(self._on_progress)
        self.worker.report_ready.connect(self._on_report)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.start()
        self._update_buttons()
        return True

    def cancel_export(self) -> None:
        if self.running:
            self.worker.cancel()
            self.file_label.setText("Cancelling after the current file…")
            self.cancel_btn.setEnabled(False)

    def _on_progress(self, fraction: float, stage: str) -> None:
        done = min(int(fraction * self._total), self._total)
        self.overall_bar.setValue(int(fraction * 1000))
        self.overall_bar.setFormat(f"{done} of {self._total}  ·  %p%")
        # Within one file the fraction's remainder is that file's own progress.
        file_fraction = fraction * self._total - done if done < self._total else 1.0
        self.file_bar.setValue(int(file_fraction * 1000))
        self.file_label.setText(stage)

    def _on_report(self, report) -> None:
        self.report = report
        self.overall_bar.setValue(1000)
        self.file_bar.setValue(1000)
        self.file_label.setText(report.summary())
        self.report_text.setPlainText(report.to_text())
        self.report_text.setVisible(True)

    def _on_failed(self, message: str) -> None:
        self.file_label.setText(f"<span style='color:#c0392b'>Export stopped: {message}</span>")

    def _on_worker_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            # `finished` is sent from the thread just before it ends: let it end, so that closing the
            # dialog right after can never destroy a QThread that is still running (Qt aborts then).
            worker.wait()
            worker.deleteLater()
        self._update_buttons()
        self.worker_done.emit()
        if self._after_run is not None:
            callback, self._after_run = self._after_run, None
            callback()

    def save_report(self, path) -> None:
        atomic_write_bytes(path, self.report.to_text().encode("utf-8"))

    def _browse_save_report(self) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save report", str(Path(self.out_edit.text()) / "batch-report.txt"), "Text (*.txt)")
        if path:
            try:
                self.save_report(path)
            except HarmonizerError as exc:
                self.file_label.setText(f"<span style='color:#c0392b'>{exc}</span>")

    def _update_buttons(self, *_):
        running = self.running
        for box in self.options_boxes:
            box.setEnabled(not running)
        template_ok = not self.template_note.text().startswith("<span")
        has_inputs = bool(self._pairs) or bool(self.ora_paths())
        self.export_btn.setEnabled(not running and has_inputs and bool(self.out_edit.text().strip()) and template_ok)
        self.cancel_btn.setEnabled(running)
        self.save_report_btn.setEnabled(not running and self.report is not None)

    # -- closing -------------------------------------------------------------------------------------
    def can_close(self, then) -> bool:
        """For the editor's window closing: True when idle; else cancel the export (files written stay)
        and call `then` once its thread has ended."""
        if not self.running:
            return True
        self.request_cancel_then(then)
        return False

    def request_cancel_then(self, callback) -> None:
        """Cancel a running batch and call back once its thread has ended (used when the app quits)."""
        if not self.running:
            callback()
            return
        self._after_run = callback
        self.cancel_export()

    def confirm_cancel(self) -> bool:
        """Ask whether to cancel a running export; the files already written stay."""
        answer = QMessageBox.question(
            self, "Batch export is running",
            "The export is still running. Cancel it and close?\n\n"
            "Files already exported stay; the current one is finished first.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def reject(self) -> None:
        # The one place closing is decided: Esc and the Close button call reject(), and QDialog's own
        # close handling (the window manager, close()) calls it too; hiding only happens here. The
        # worker thread must end before its dialog may go, so a running export closes once it has.
        if self.running:
            if self._after_run is None and self.confirm_cancel():
                self.request_cancel_then(self.close)
            return
        super().reject()

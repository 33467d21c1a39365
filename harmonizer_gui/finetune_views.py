"""The fine-tune dialog's two read-only views: the run's progress (bar, loss and validation curves, the
latest validation samples) and its result (the before/after table). They show what they are given; the
dialog decides what that is."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
    QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from harmonizer_gui.curves_widget import RIGHT, CurvesWidget


class ProgressView(QGroupBox):
    def __init__(self, parent=None):
        super().__init__("Progress", parent)
        grid = QGridLayout(self)
        self.status_label = QLabel("Not started.")
        self.status_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.detail_label = QLabel()
        grid.addWidget(self.status_label, 0, 0, 1, 2)
        grid.addWidget(self.progress, 1, 0, 1, 2)
        grid.addWidget(self.detail_label, 2, 0, 1, 2)
        self.loss_curves = CurvesWidget("Training loss")
        self.loss_curves.add_series("generator", "#d9534f")
        # Its own axis: the reconstruction term is a fraction of the generator loss and would lie flat.
        self.loss_curves.add_series("reconstruction", "#337ab7", axis=RIGHT)
        self.val_curves = CurvesWidget("Validation")
        self.val_curves.add_series("PSNR dB", "#2e9e5b", markers=True)
        self.val_curves.add_series("fMSE", "#e08a1e", axis=RIGHT, markers=True)
        self.val_curves.empty_text = "Measured before training and after each epoch"
        grid.addWidget(self.loss_curves, 3, 0)
        grid.addWidget(self.val_curves, 3, 1)
        self.sample_caption = QLabel("Validation samples (composite · output · target) appear after the first check.")
        grid.addWidget(self.sample_caption, 4, 0, 1, 2)
        self.sample_row = QHBoxLayout()
        self.sample_row.addStretch(1)
        samples = QWidget()
        samples.setLayout(self.sample_row)
        scroll = QScrollArea()
        scroll.setWidget(samples)
        scroll.setWidgetResizable(True)
        scroll.setFixedHeight(118)
        scroll.setFrameShape(QScrollArea.NoFrame)
        grid.addWidget(scroll, 5, 0, 1, 2)
        grid.setRowStretch(3, 1)
        grid.setRowMinimumHeight(3, 180)

    def reset(self) -> None:
        self.loss_curves.clear()
        self.val_curves.clear()
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.detail_label.clear()
        self.set_samples([], None)

    def set_samples(self, paths: list[str], label: str | None) -> None:
        while self.sample_row.count() > 1:
            w = self.sample_row.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        shown = 0
        for path in paths[:4]:
            pix = QPixmap(str(path))
            if pix.isNull():
                continue  # a sample the trainer is still writing or has cleaned up; the next check has more
            thumb = QLabel()
            thumb.setPixmap(pix.scaledToHeight(96, Qt.SmoothTransformation))
            thumb.setToolTip(str(path))
            self.sample_row.insertWidget(shown, thumb)
            shown += 1
        if label is not None:
            self.sample_caption.setText(f"Validation samples {label}: composite · output · target")


class ResultView(QGroupBox):
    """The before/after table and the button that hands the new model to the editor."""

    def __init__(self, parent=None):
        super().__init__("Result", parent)
        res = QVBoxLayout(self)
        self.results_table = QTableWidget(3, 3)
        self.results_table.setHorizontalHeaderLabels(["Before training", "After training", "Change"])
        self.results_table.setVerticalHeaderLabels(["PSNR (dB, higher is better)", "MSE", "fMSE (foreground)"])
        self.results_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.results_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.results_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.results_table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        res.addWidget(self.results_table)
        use_row = QHBoxLayout()
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.use_btn = QPushButton("Use in editor")
        use_row.addWidget(self.result_label, 1)
        use_row.addWidget(self.use_btn)
        res.addLayout(use_row)
        self.setVisible(False)

    def show_results(self, before: dict | None, after: dict | None) -> None:
        rows = (("psnr", "{:.2f}", True), ("mse", "{:.1f}", False), ("fmse", "{:.1f}", False))
        for r, (key, fmt, higher_better) in enumerate(rows):
            b = (before or {}).get(key)
            a = (after or {}).get(key)
            cells = [fmt.format(b) if b is not None else "–", fmt.format(a) if a is not None else "–", "–"]
            if a is not None and b is not None:
                if higher_better:
                    cells[2] = f"{a - b:+.2f} dB"
                elif b:
                    cells[2] = f"{(a - b) / b:+.0%}"
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.results_table.setItem(r, c, item)
        t = self.results_table
        # Exactly three rows tall: a results table with empty space below looks unfinished.
        t.setFixedHeight(t.horizontalHeader().sizeHint().height()
                         + sum(t.verticalHeader().sectionSizeHint(r) for r in range(t.rowCount())) + 2 * t.frameWidth())
        self.setVisible(True)

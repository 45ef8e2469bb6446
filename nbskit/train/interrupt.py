"""Ctrl-C during training: finish the current step, save, then stop.

Inside :class:`DeferredInterrupt` the first SIGINT only sets ``requested``; the training loop
checks it between steps, writes a checkpoint and raises :class:`TrainingInterrupted`. A second
SIGINT interrupts at once (the previous checkpoint stays intact: files are replaced atomically).
Outside the main thread (where signal handlers cannot be set) it does nothing.
"""

from __future__ import annotations

import signal
import threading
from typing import Self


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C after step ``step`` (saved: whether a checkpoint was written there)."""

    def __init__(self, step: int, saved: bool):
        super().__init__(f"interrupted after step {step}" + ("; checkpoint saved" if saved else ""))
        self.step, self.saved = step, saved


class DeferredInterrupt:
    """Context manager that turns the first SIGINT into ``self.requested = True``."""

    def __init__(self):
        self.requested = False
        self._installed = False
        self._previous = signal.default_int_handler

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # a second Ctrl-C stops immediately

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

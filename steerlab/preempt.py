"""Preemption: SLURM, through submitit, sends SIGUSR2 before a job's time limit or when it is preempted.

submitit's handler requeues the job and exits at once, wherever the job is. During training that would
drop every step since the last periodic checkpoint, so `Deferred` only notes the signal; the training
loop checkpoints at the end of the current step and then hands the signal to submitit's handler. The
requeued job resumes from that checkpoint. Outside training the signal goes straight to submitit.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


class Deferred:
    """`with Deferred() as d:` — SIGUSR2 sets `d.pending`; `d.release()` passes it on to the previous handler."""

    def __init__(self, signum: int = signal.SIGUSR2):
        self.signum, self.pending, self.active, self.previous = signum, False, False, None

    def __enter__(self) -> "Deferred":
        self.previous = signal.getsignal(self.signum)
        # only when someone (submitit) handles the signal, and only the main thread may set handlers
        self.active = callable(self.previous) and threading.current_thread() is threading.main_thread()
        if self.active:
            signal.signal(self.signum, self._note)
        return self

    def _note(self, signum, frame) -> None:
        log.warning("received %s: checkpointing at the end of this step, then requeueing", signal.Signals(signum).name)
        self.pending = True

    def release(self) -> None:
        """Restore the previous handler and, if the signal came, call it (submitit requeues and exits)."""
        if not self.active:
            return
        signal.signal(self.signum, self.previous)
        self.active = False
        if self.pending:
            self.previous(self.signum, None)

    def __exit__(self, *exc) -> None:
        self.release()

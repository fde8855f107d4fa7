"""How the command stops on SIGTERM and Ctrl-C (SIGINT): the first such signal raises where the
program is (``Terminated``, a SystemExit of status 143, or KeyboardInterrupt), so a run unwinds
as an interrupted one and keeps what it finished as ``.incomplete``; the command exits 143 or 130.

No signal is lost. Each is recorded before its exception is raised, so one whose exception Python
discards (raised inside a ``__del__`` or an atexit function) still decides the exit status; later
signals are recorded only, so they cannot cut short the cleanup the first one began. Handlers are
swapped with the signals blocked: a signal caught between the two halves of ``signal.signal``
would find its handler replaced by the default and be dropped ("ignored due to race condition"),
and one caught after the last line of Python would wait for a handler that never runs. Once the
command's handlers are gone, a late SIGTERM meets the default action and ends the process.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

STOPS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any] | int | None


class Terminated(SystemExit):
    """Raised by SIGTERM: unwinds as Ctrl-C does; exits 143 if nothing catches it."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


class Stops:
    """The stop signals received between ``install()`` and ``restore()``, first one first.

    ``last``: the process ends after ``restore()`` (the command itself): it installs the default
    actions, so a signal from then on ends the process as the signal it is, never as exit 0.
    """

    def __init__(self, last: bool = False) -> None:
        self.received: list[int] = []
        self.last = last
        self._previous: dict[int, Handler] = {}
        self._previous_hook = sys.unraisablehook

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt

    def _unraisable(self, info: Any) -> None:
        """A stop raised where Python cannot pass it on (a ``__del__``, a weakref callback of the import
        system) is recorded already and decides the exit status: it needs no traceback."""
        if not (self.received and isinstance(info.exc_value, (Terminated, KeyboardInterrupt))):
            self._previous_hook(info)

    def install(self) -> None:
        self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        self._previous = _swap(dict.fromkeys(STOPS, self._handle))

    def restore(self) -> None:
        """Put back the handlers ``install`` found (the defaults if ``last``); a signal caught just
        now raises after that."""
        handlers: dict[int, Handler] = dict.fromkeys(STOPS, signal.SIG_DFL) if self.last else self._previous
        sys.unraisablehook = self._previous_hook
        try:
            _swap(handlers)
        except BaseException:  # the first stop signal came meanwhile: its handler raised before the swap
            _swap(handlers)  # and raises no more
            raise

    def status(self, code: int) -> int:
        """The command's exit status: 128 + the first stop signal received, else ``code``."""
        return 128 + self.received[0] if self.received else code


def _swap(handlers: dict[int, Handler]) -> dict[int, Handler]:
    """Install ``handlers`` while the stop signals are held back; the handlers they replace."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)  # first runs any handler already due, which may raise
        return {s: signal.signal(s, handler) for s, handler in handlers.items() if handler is not None}
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)  # a signal sent meanwhile reaches the new handler

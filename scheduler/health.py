"""Whether the scheduler does its job: its ticks succeed, and what it must send leaves.

Ready (``residuo_process_ready``) from a tick that succeeded until a tick fails or
``bound`` passes without another success. ``bound`` is twice the longest the loop
sleeps between ticks (``scheduler.loop``): one tick late is tolerated, two are not.

A tick that failed to *send* (the broker, ``BrokerError``) leaves its run claimed,
and the ticks after it only wait for that run until it is re-sent once silent
(``resend_after``, a quarter of an hour by default): those waits succeed without
the broker, so they do not make the scheduler ready again. A tick that sends (or
re-sends) a run, or finds every due run completed, does.
"""

from datetime import timedelta

from dramatiq.errors import BrokerError

from scheduler.service import Action, Tick
from workers.heartbeat import Heartbeat

__all__ = ["SchedulerHealth"]


class SchedulerHealth:
    """The scheduler's readiness, told each tick's outcome by the loop (see the module).

    Parameters:
      bound: how long a successful tick counts without another.
    """

    def __init__(self, *, bound: timedelta) -> None:
        self._heartbeat = Heartbeat(within=bound)
        self._unsent = False

    def ticked(self, tick: Tick) -> None:
        """A tick succeeded with ``tick``."""
        if self._unsent and tick.action is Action.WAITING:
            return
        self._unsent = False
        self._heartbeat.beat()

    def failed(self, error: Exception) -> None:
        """A tick failed with ``error``."""
        self._unsent = self._unsent or isinstance(error, BrokerError)
        self._heartbeat.failed()

    def ready(self) -> bool:
        """Whether the last tick succeeded within the bound (see the module)."""
        return self._heartbeat.alive()

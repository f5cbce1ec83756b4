"""The clock: when the daily sweeps are due, and the run keys that make each run once.

``plan`` is pure (which runs are due at ``now``), ``runs`` keeps the run keys in the
database, ``service`` ticks and sends, ``loop`` ticks until stopped, ``report`` logs
and counts what the ticks did, ``health`` says whether they do their job,
``process`` wires ``residuo scheduler``.
See ``docs/scheduler.md``.
"""

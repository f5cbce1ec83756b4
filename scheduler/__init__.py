"""The clock: when the daily sweeps are due, and the run keys that make each run once.

``plan`` is pure (which runs are due at ``now``), ``runs`` keeps the run keys in the
database, ``service`` ticks and sends, ``process`` wires ``residuo scheduler``.
See ``docs/scheduler.md``.
"""

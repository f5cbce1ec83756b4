"""Dramatiq: the broker, thin actors and their middleware, ingress, the outbox relay.

Modules, each with its ``__all__``: ``broker`` (``create_broker``), ``actors``
(``declare_actors``), ``middleware``, ``ingress`` (``route``), ``relay``
(``relay_batch``, publishers), ``embedded`` (one message at a time, in process),
``errors``. Nothing here is made at import time; ``residuo.bootstrap`` wires it.
"""

"""Dramatiq: the broker, thin actors and their middleware, ingress, the outbox relay.

Modules, each with its ``__all__``: ``broker`` (``create_broker``), ``actors``
(``declare_actors``), ``middleware``, ``retries`` (``DurableRetries``), ``failures``
(``classify``: transient, invalid, or anything else), ``ingress``
(``route``, ``open_raw_ingress``, ``publish_event``), ``relay`` (``relay_batch``,
``Relay``, publishers), ``embedded`` (one message at a time, in process), ``backoff``,
``errors``, and the ``rabbitmq`` package (the production broker, its consumer, dead
letters, the relay's publisher). Nothing here is made at import time;
``residuo.bootstrap`` wires it.
"""

"""RabbitMQ: residuo's topology, Dramatiq's broker and consumer with their gaps
closed, dead letters, and the relay's confirmed publisher.

Modules, each with its ``__all__``: ``topology`` (names, connection parameters),
``broker`` (``ResiduoRabbitmqBroker``), ``consumer``, ``properties`` (headers pika
cannot decode, received instead of fatal), ``dead_letters`` (what a dead
letter carries), ``dead_letter_queue`` (listing and replaying them), ``publisher``
(``RabbitmqPublisher``, for the relay), ``admin`` (queue depths), ``management``
(unacknowledged counts, from the management API).
"""

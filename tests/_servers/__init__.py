"""Implementations behind `servers`: one module per way of getting a server."""

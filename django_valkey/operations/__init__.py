"""The cache commands, each defined once for sync and async.

Each function here is a generator taking the client (``self``) and the
command's arguments: it yields :mod:`django_valkey.driver` requests, receives
their replies and returns the result.  ``ClientCommands`` and
``AsyncClientCommands`` (``base_client.py``) turn them into methods with the
sync or the async driver.  Nothing here does I/O or knows which world runs it.
"""

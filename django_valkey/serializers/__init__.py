"""Serializers: turn a cache value into bytes and back.

Pick one with ``OPTIONS["SERIALIZER"]`` (a dotted path); the default is
``django_valkey.serializers.pickle.PickleSerializer``.  Serializers know
nothing about compression, keys or servers.
"""

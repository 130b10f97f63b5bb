"""Compressors: shrink serialized cache values before they are stored.

Pick one with ``OPTIONS["COMPRESSOR"]`` (a dotted path); the default,
``django_valkey.compressors.identity.IdentityCompressor``, stores values as
they are.  Compressors know nothing about serialization, keys or servers.
"""

"""The herd client: thundering-herd protection (see ``operations/herd.py``)."""

from __future__ import annotations

from django_valkey.base_client import HerdCommonMethods, Marker, _is_expired
from django_valkey.client.default import DefaultClient
from django_valkey.generated.herd_client import HerdAPI

__all__ = ["HerdClient", "Marker", "_is_expired"]


class HerdClient(HerdCommonMethods, HerdAPI, DefaultClient):
    """``DefaultClient`` whose values carry a soft deadline (``CACHE_HERD_TIMEOUT``)."""

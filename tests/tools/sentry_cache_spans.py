"""Run by tests/test_tool_integrations.py in a process of its own (Sentry's
Django integration patches Django globally): a cache on the given LOCATION,
Sentry with cache spans and a capturing transport; prints the span ops and
descriptions as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main(location: str) -> None:
    from django.conf import settings

    settings.CACHES = {
        "default": {"BACKEND": "django_valkey.cache.ValkeyCache", "LOCATION": location}
    }
    django.setup()
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.transport import Transport

    events: list[Any] = []

    class Capture(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            for item in envelope.items:
                if item.type == "transaction":
                    events.append(item.payload.json)

    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        integrations=[DjangoIntegration(cache_spans=True)],
        traces_sample_rate=1.0,
        transport=Capture,
        default_integrations=False,
    )
    from django.core.cache import caches

    with sentry_sdk.start_transaction(name="cache-test"):
        cache = caches["default"]
        cache.set("sentry-key", "v")
        results = [cache.get("sentry-key"), cache.get("sentry-missing")]
        results.append(cache.get_many(["sentry-key", "sentry-missing"]))
        results.append(asyncio.run(cache.aget("sentry-key")))
    sentry_sdk.flush()
    spans = [
        {"op": span["op"], "description": span.get("description"), "data": span.get("data", {})}
        for event in events
        for span in event.get("spans", [])
    ]
    print(json.dumps({"results": results, "spans": spans}, default=str))


if __name__ == "__main__":
    main(sys.argv[1])

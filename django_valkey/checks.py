"""Django system checks (``manage.py check``) for risky cache configurations.

Registered when the package is imported (add ``"django_valkey"`` to
``INSTALLED_APPS`` to be sure it is imported before the checks run).

* ``django_valkey.W001``: values are unsigned pickles (anyone who can write
  to the server can run code in the application).
* ``django_valkey.W002``: a password in LOCATION travels without TLS.
* ``django_valkey.W003``: ``IGNORE_EXCEPTIONS`` hides errors without logging.
* ``django_valkey.E100``: the upstream ``django-valkey`` is installed too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.core import checks

UNSIGNED = {
    "django_valkey.serializers.pickle.PickleSerializer",
}
TLS_SCHEMES = ("valkeys", "rediss")


def _ours(entry: dict[str, Any]) -> bool:
    return str(entry.get("BACKEND", "")).startswith("django_valkey.")


def _locations(entry: dict[str, Any]) -> list[str]:
    location = entry.get("LOCATION") or []
    if isinstance(location, str):
        return [part.strip() for part in location.split(",") if part.strip()]
    return [str(part) for part in location]


@checks.register(checks.Tags.caches, checks.Tags.security)
def check_caches(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    messages: list[checks.CheckMessage] = []
    for alias, entry in getattr(settings, "CACHES", {}).items():
        if not _ours(entry):
            continue
        options = entry.get("OPTIONS") or {}
        serializer = options.get("SERIALIZER", "django_valkey.serializers.pickle.PickleSerializer")
        if serializer in UNSIGNED or getattr(serializer, "__name__", "") == "PickleSerializer":
            messages.append(
                checks.Warning(
                    f"Cache {alias!r} stores unsigned pickles: whoever can write to the "
                    "server can run code in this application.",
                    hint="Use django_valkey.serializers.signed.SignedPickleSerializer, or "
                    "make sure only this application can write to the server.",
                    id="django_valkey.W001",
                )
            )
        for url in _locations(entry):
            parsed = urlparse(url)
            if parsed.password and parsed.scheme not in TLS_SCHEMES:
                messages.append(
                    checks.Warning(
                        f"Cache {alias!r} sends a password over {parsed.scheme}:// without TLS.",
                        hint="Use valkeys:// (or rediss://), or a unix socket.",
                        id="django_valkey.W002",
                    )
                )
                break
        ignore = options.get(
            "IGNORE_EXCEPTIONS", getattr(settings, "DJANGO_VALKEY_IGNORE_EXCEPTIONS", False)
        )
        log = options.get(
            "LOG_IGNORE_EXCEPTIONS",
            getattr(settings, "DJANGO_VALKEY_LOG_IGNORED_EXCEPTIONS", False),
        )
        if ignore and not log:
            messages.append(
                checks.Warning(
                    f"Cache {alias!r} ignores server errors without logging them.",
                    hint="Set OPTIONS['LOG_IGNORE_EXCEPTIONS'] = True.",
                    id="django_valkey.W003",
                )
            )
    return messages


@checks.register(checks.Tags.caches)
def check_upstream_conflict(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Both this package and the upstream ``django-valkey`` installed.

    Installed after ours, upstream's ``django_valkey/__init__.py`` replaces
    ours (whose import-time check then never runs), but this module and
    ``apps.py`` have no upstream counterpart and survive: with
    ``"django_valkey"`` in INSTALLED_APPS this check still reports it.
    """
    from django_valkey._conflict import UPSTREAM, conflict_message

    message = conflict_message()
    if message is None:
        return []
    return [
        checks.Error(
            message,
            hint=f"Uninstall both, then install django-valkey-compiled alone (never {UPSTREAM}).",
            id="django_valkey.E100",
        )
    ]

"""Django system checks (``manage.py check``) for risky cache configurations.

Registered when the package is imported (add ``"django_valkey"`` to
``INSTALLED_APPS`` to be sure it is imported before the checks run).

* ``django_valkey.W001``: values are unsigned pickles (anyone who can write
  to the server can run code in the application).
* ``django_valkey.W002``: a password in LOCATION travels without TLS.
* ``django_valkey.W003``: ``IGNORE_EXCEPTIONS`` hides errors without logging.
* ``django_valkey.E100``: the upstream ``django-valkey`` is installed too.

Settings that would fail on the first request (or be silently ignored) are
caught here instead, by :func:`check_cache_settings`:

* ``E010``: ``OPTIONS`` is not a dict.
* ``E011``: ``LOCATION`` is missing or has an unsupported scheme.
* ``E012``: a dotted path in ``OPTIONS`` (``SERIALIZER``, ``COMPRESSOR``,
  ``CLIENT_CLASS``, ...) cannot be imported.
* ``E013``: ``TIMEOUT`` is neither a number nor None.
* ``E014``: ``CONNECTION_POOL_KWARGS`` has a key valkey-py does not accept
  (it would fail with a bare ``TypeError`` on the first connection).
* ``E015``: ``RETRY``, ``CIRCUIT_BREAKER``, ``OPENTELEMETRY``, ``NEAR_CACHE`` or a
  ``PIPELINING*`` key is malformed, or the near cache is refused for the client.
* ``W010``: an ``OPTIONS`` key the package does not know (ignored today):
  the closest known name is suggested.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any
from urllib.parse import urlparse

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from django_valkey.options import KNOWN_OPTIONS

UNSIGNED = {
    "django_valkey.serializers.pickle.PickleSerializer",
}
TLS_SCHEMES = ("valkeys", "rediss")


def _backend_class(entry: dict[str, Any]) -> type | None:
    backend = entry.get("BACKEND", "")
    if isinstance(backend, type):
        return backend
    try:
        cls = import_string(str(backend))
    except Exception:
        return None  # Django reports a BACKEND it cannot import
    return cls if isinstance(cls, type) else None


def _ours(entry: Any) -> bool:
    """A CACHES entry using this package: one of its backends, or any
    subclass of ``BaseValkeyCache`` (custom backends, as the docs suggest)."""
    if not isinstance(entry, dict):
        return False
    if str(entry.get("BACKEND", "")).startswith("django_valkey."):
        return True
    from django_valkey.base import BaseValkeyCache

    cls = _backend_class(entry)
    return cls is not None and issubclass(cls, BaseValkeyCache)


def _is_cluster(entry: dict[str, Any]) -> bool:
    """A cluster backend: named so, or built on one of the cluster backends."""
    if "cluster" in str(entry.get("BACKEND", "")).lower():
        return True
    cls = _backend_class(entry)
    return cls is not None and any(
        base.__module__.startswith("django_valkey.cluster_cache") for base in cls.__mro__
    )


def _options(entry: dict[str, Any]) -> dict[str, Any]:
    # Not a dict (a list, say): E010 reports it; the other checks see none.
    options = entry.get("OPTIONS") or {}
    return options if isinstance(options, dict) else {}


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
        options = _options(entry)
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


#: OPTIONS keys naming a class or callable by dotted path.
DOTTED_OPTIONS = (
    "CLIENT_CLASS",
    "SERIALIZER",
    "COMPRESSOR",
    "CONNECTION_FACTORY",
    "CONNECTION_POOL_CLASS",
    "BASE_CLIENT_CLASS",
    "PARSER_CLASS",
    "PARSER_CLS",
    "CREDENTIAL_PROVIDER",
)


def _closest(name: str, known: Any) -> str | None:
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _accepted_kwargs(*classes: Any) -> set[str] | None:
    """Keyword names the classes' constructors take (None: one takes any)."""
    names: set[str] = set()
    for cls in classes:
        try:
            params = inspect.signature(cls.__init__).parameters.values()
        except (TypeError, ValueError):
            return None
        for param in params:
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                continue  # pools pass **kwargs on to their connections
            names.add(param.name)
    names.discard("self")
    return names


def _pool_kwarg_names(entry: dict[str, Any], options: dict[str, Any]) -> set[str] | None:
    from valkey.connection import (
        AbstractConnection,
        Connection,
        SSLConnection,
        UnixDomainSocketConnection,
    )

    classes: list[Any] = [AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection]
    pool_path = options.get("CONNECTION_POOL_CLASS", "valkey.connection.ConnectionPool")
    try:
        pool_cls = import_string(pool_path) if isinstance(pool_path, str) else pool_path
    except ImportError:
        return None  # E012 reports it
    classes.append(pool_cls)
    if _is_cluster(entry):
        from valkey.cluster import ValkeyCluster

        classes.append(ValkeyCluster)
    names = _accepted_kwargs(*classes)
    if names is not None:
        # Taken from **kwargs by valkey-py's blocking and sentinel pools.
        names |= {
            "connection_class",
            "max_connections",
            "timeout",
            "queue_class",
            "is_master",
            "check_connection",
        }
    return names


def _check_entry(alias: str, entry: dict[str, Any]) -> list[checks.CheckMessage]:
    from django_valkey.base_client import parse_location

    messages: list[checks.CheckMessage] = []
    raw_options = entry.get("OPTIONS")
    if raw_options is not None and not isinstance(raw_options, dict):
        messages.append(
            checks.Error(
                f"Cache {alias!r}: OPTIONS must be a dict, not {type(raw_options).__name__}.",
                hint='Write OPTIONS as a dict, e.g. {"SOCKET_TIMEOUT": 1}.',
                id="django_valkey.E010",
            )
        )
    options = _options(entry)
    if not _is_cluster(entry) or entry.get("LOCATION"):
        try:
            parse_location(entry.get("LOCATION", ""))
        except ImproperlyConfigured as exc:
            messages.append(
                checks.Error(
                    f"Cache {alias!r}: {exc}.",
                    hint="Use valkey://host:port/db, valkeys:// (TLS), redis://, rediss:// "
                    "or unix:///path?db=N; several URLs as a list or comma-separated.",
                    id="django_valkey.E011",
                )
            )
    for key in DOTTED_OPTIONS:
        path = options.get(key)
        if not isinstance(path, str) or not path:
            continue
        try:
            import_string(path)
        except ImportError as exc:
            messages.append(
                checks.Error(
                    f"Cache {alias!r}: OPTIONS[{key!r}] = {path!r} cannot be imported ({exc}).",
                    hint=f"{key}: {KNOWN_OPTIONS[key]}; check the module and class names "
                    "and that the package providing it is installed.",
                    id="django_valkey.E012",
                )
            )
    timeout = entry.get("TIMEOUT", 300)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        messages.append(
            checks.Error(
                f"Cache {alias!r}: TIMEOUT must be a number of seconds or None, not {timeout!r}.",
                hint="e.g. TIMEOUT = 300 (None: never expire; 0: do not cache).",
                id="django_valkey.E013",
            )
        )
    pool_kwargs = options.get("CONNECTION_POOL_KWARGS") or {}
    accepted = _pool_kwarg_names(entry, options) if isinstance(pool_kwargs, dict) else None
    if accepted is not None:
        for name in pool_kwargs:
            if name in accepted:
                continue
            closest = _closest(str(name), accepted)
            messages.append(
                checks.Error(
                    f"Cache {alias!r}: CONNECTION_POOL_KWARGS has {name!r}, which the "
                    "connection pool and its connections do not accept.",
                    hint=f"Did you mean {closest!r}?" if closest else "Remove it.",
                    id="django_valkey.E014",
                )
            )
    messages.extend(_check_policies(alias, options))
    for key in options:
        if key in KNOWN_OPTIONS:
            continue
        closest = _closest(str(key), KNOWN_OPTIONS)
        if accepted is not None and str(key).lower() in accepted:
            hint = f"{key!r} is a connection setting: put it in CONNECTION_POOL_KWARGS."
        elif closest:
            hint = f"Did you mean {closest!r}? ({KNOWN_OPTIONS[closest]})"
        else:
            hint = "Known keys are listed in django_valkey.options.KNOWN_OPTIONS."
        messages.append(
            checks.Warning(
                f"Cache {alias!r}: unknown OPTIONS key {key!r} (it is ignored).",
                hint=hint,
                id="django_valkey.W010",
            )
        )
    return messages


def _check_policies(alias: str, options: dict[str, Any]) -> list[checks.CheckMessage]:
    from django_valkey.async_cache.pool import pipelining_options
    from django_valkey.breaker import breaker_from_options
    from django_valkey.guard import retry_from_options

    messages: list[checks.CheckMessage] = []
    validators: list[tuple[str, Any]] = [
        ("RETRY", retry_from_options),
        ("CIRCUIT_BREAKER", lambda value: breaker_from_options(value, ["check"])),
        ("OPENTELEMETRY", _validate_opentelemetry),
        ("NEAR_CACHE", lambda value: _validate_near_cache(value, options)),
    ]
    for key in ("PIPELINING", "PIPELINING_CONNECTIONS", "PIPELINING_MAX_IN_FLIGHT"):
        validators.append((key, lambda value, key=key: pipelining_options({key: value})))
    for key, validate in validators:
        if key not in options:
            continue
        try:
            validate(options[key])
        except ImproperlyConfigured as exc:
            messages.append(
                checks.Error(
                    f"Cache {alias!r}: {exc}",
                    hint=f"{key}: {KNOWN_OPTIONS[key]}.",
                    id="django_valkey.E015",
                )
            )
    return messages


def _validate_near_cache(value: Any, options: dict[str, Any]) -> None:
    from django.conf import settings
    from django.utils.module_loading import import_string

    from django_valkey import near

    near.parse_options(value)
    path = options.get("CLIENT_CLASS")
    if not isinstance(path, str):
        return  # the backend's default client: supported
    try:
        client_cls = import_string(path)
    except ImportError:
        return  # E012 reports it
    factory = options.get("CONNECTION_FACTORY") or getattr(
        settings, "DJANGO_VALKEY_CONNECTION_FACTORY", ""
    )
    near.check_supported(client_cls, factory)


def _validate_opentelemetry(value: Any) -> None:
    from django_valkey.telemetry import telemetry_from_options

    telemetry_from_options(value, "check")


@checks.register(checks.Tags.caches)
def check_cache_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings errors that would otherwise surface on the first request."""
    from django.conf import settings

    messages: list[checks.CheckMessage] = []
    for alias, entry in getattr(settings, "CACHES", {}).items():
        if _ours(entry):
            messages.extend(_check_entry(alias, entry))
    return messages

"""End-to-end demo: a Django project caching with django-valkey.

Uses the Valkey server at $VALKEY_URL (default valkey://127.0.0.1:6379/0);
if nothing answers there it starts a throwaway valkey-server on a free
loopback port and stops it at the end.  Run it with `bash .ci/demo` on a fresh
Debian machine, or `python examples/demo.py` in an environment that has the
package installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlparse

import django
from django.conf import settings


def answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_server() -> tuple[subprocess.Popen[bytes], str, str]:
    binary = shutil.which("valkey-server")
    if binary is None:
        sys.exit("valkey-server not found: install it (Debian: apt-get install -t "
                 "bookworm-backports valkey-server) or set VALKEY_URL")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="django-valkey-demo-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"valkey://127.0.0.1:{port}/0"
    for _ in range(100):
        if answers(url):
            return proc, url, workdir
        time.sleep(0.05)
    proc.kill()
    sys.exit("valkey-server did not start")


def main() -> None:
    url = os.environ.get("VALKEY_URL", "valkey://127.0.0.1:6379/0")
    server = None
    if not answers(url):
        server, url, workdir = start_server()
        print(f"started a throwaway valkey-server at {url}")
    else:
        print(f"using the Valkey server at {url}")
    try:
        run_demo(url)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
            shutil.rmtree(workdir, ignore_errors=True)


def run_demo(url: str) -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="demo-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.sessions"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        CACHES={
            "default": {
                "BACKEND": "django_valkey.cache.ValkeyCache",
                "LOCATION": url,
                "KEY_PREFIX": "demo",
                "TIMEOUT": 60,
            }
        },
    )
    django.setup()

    from django.core.cache import cache
    from django.test import Client

    import django_valkey._speedups as speedups

    print(f"speedups: {speedups.IMPLEMENTATION}")
    cache.delete_pattern("*")

    cache.set("greeting", "hello, valkey", timeout=30)
    print("get:", cache.get("greeting"), "| ttl:", cache.ttl("greeting"), "s")
    print("add existing:", cache.add("greeting", "ignored"))
    cache.set("visits", 41)
    print("incr:", cache.incr("visits"), "| stored raw:",
          cache.client.get_client().get(cache.make_key("visits")))
    cache.set_many({f"item:{i}": {"id": i, "name": f"item {i}"} for i in range(100)})
    many = cache.get_many(f"item:{i}" for i in range(100))
    print("get_many:", len(many), "values, item:7 =", many["item:7"])
    print("get_or_set:", cache.get_or_set("expensive", lambda: sum(range(10**6))))
    print("keys item:1*:", sorted(cache.keys("item:1*"))[:5], "...")

    client = Client()
    first = client.get("/slow/")
    started = time.perf_counter()
    second = client.get("/slow/")
    elapsed = (time.perf_counter() - started) * 1000
    print(f"cache_page: first {first.content.decode()!r}, second served from cache in "
          f"{elapsed:.1f} ms (same body: {first.content == second.content})")
    client.get("/count/")
    response = client.get("/count/")
    print("session (cache backend):", response.content.decode())

    n = 2000
    started = time.perf_counter()
    for i in range(n):
        cache.get("greeting")
    print(f"{n} gets: {(time.perf_counter() - started) / n * 1e6:.1f} µs each")
    print("deleted:", cache.delete_pattern("*"), "keys")


# A tiny URLconf for the demo views.
def _views():
    from django.http import HttpResponse
    from django.urls import path
    from django.views.decorators.cache import cache_page

    @cache_page(30)
    def slow(request):
        time.sleep(0.2)
        return HttpResponse(f"rendered at {time.strftime('%H:%M:%S')}")

    def count(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return HttpResponse(f"visit number {request.session['n']}")

    return [path("slow/", slow), path("count/", count)]


def __getattr__(name: str):
    if name == "urlpatterns":
        return _views()
    raise AttributeError(name)


if __name__ == "__main__":
    sys.modules.setdefault("demo", sys.modules[__name__])
    main()

"""Django's page and fragment caching over ValkeyCache.

``cache_page``, the per-site cache middleware and ``{% cache %}`` store whole
``HttpResponse`` objects (headers and cookies included) and rendered
fragments; these tests check they come back intact from a real server and
expire when told to.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache.utils import make_template_fragment_key
from django.http import HttpResponse
from django.middleware.cache import FetchFromCacheMiddleware, UpdateCacheMiddleware
from django.template import engines
from django.test import RequestFactory
from django.views.decorators.cache import cache_page
from django.views.decorators.vary import vary_on_headers

pytestmark = pytest.mark.server

SHORT = 0.3
WAIT = 0.45


@pytest.fixture
def page_caches(speedups: str, django_caches: Any) -> Any:
    return django_caches


@pytest.fixture
def rf() -> RequestFactory:
    return RequestFactory()


class CountingView:
    """A view that says how many times it really ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: Any) -> HttpResponse:
        self.calls += 1
        response = HttpResponse(f"call {self.calls}")
        response["X-Calls"] = str(self.calls)
        response.set_cookie("flavour", "oatmeal")
        return response


def test_cache_page_serves_the_second_request_from_the_cache(
    page_caches: Any, rf: RequestFactory
) -> None:
    counting = CountingView()
    view = cache_page(60)(counting)
    first = view(rf.get("/page/"))
    second = view(rf.get("/page/"))
    assert counting.calls == 1
    assert second.content == first.content == b"call 1"
    assert second["X-Calls"] == "1"
    assert second.cookies["flavour"].value == "oatmeal"
    assert "max-age=60" in second["Cache-Control"]

    view(rf.get("/other-page/"))
    assert counting.calls == 2


def test_cache_page_honours_the_cache_alias_and_key_prefix(
    page_caches: Any, rf: RequestFactory, valkey_server: Any
) -> None:
    counting = CountingView()
    on_other = cache_page(60, cache="other", key_prefix="site1")(counting)
    on_default = cache_page(60, key_prefix="site2")(counting)
    on_other(rf.get("/page/"))
    on_other(rf.get("/page/"))
    assert counting.calls == 1
    with valkey_server.client(db=0) as db0, valkey_server.client(db=1) as db1:
        assert db0.dbsize() == 0
        assert db1.dbsize() > 0
    # Another prefix is another cache namespace: the view runs again.
    on_default(rf.get("/page/"))
    assert counting.calls == 2


def test_cache_page_entries_expire(page_caches: Any, rf: RequestFactory) -> None:
    counting = CountingView()
    view = cache_page(SHORT)(counting)
    view(rf.get("/page/"))
    view(rf.get("/page/"))
    assert counting.calls == 1
    time.sleep(WAIT)
    assert view(rf.get("/page/")).content == b"call 2"


def test_clearing_the_cache_drops_cached_pages(page_caches: Any, rf: RequestFactory) -> None:
    counting = CountingView()
    view = cache_page(60)(counting)
    view(rf.get("/page/"))
    page_caches["default"].clear()
    view(rf.get("/page/"))
    assert counting.calls == 2


def test_vary_headers_keep_variants_apart(page_caches: Any, rf: RequestFactory) -> None:
    counting = CountingView()
    # Not Accept-Language: with USE_I18N Django keys on the active language instead.
    view = cache_page(60)(vary_on_headers("X-Flavour")(counting))
    oatmeal = view(rf.get("/page/", headers={"x-flavour": "oatmeal"}))
    ginger = view(rf.get("/page/", headers={"x-flavour": "ginger"}))
    oatmeal_again = view(rf.get("/page/", headers={"x-flavour": "oatmeal"}))
    assert counting.calls == 2
    assert oatmeal_again.content == oatmeal.content != ginger.content


def test_post_requests_are_not_cached(page_caches: Any, rf: RequestFactory) -> None:
    counting = CountingView()
    view = cache_page(60)(counting)
    view(rf.post("/page/"))
    view(rf.post("/page/"))
    assert counting.calls == 2


def test_site_wide_middleware_round_trip(
    page_caches: Any, rf: RequestFactory, settings: Any
) -> None:
    settings.CACHE_MIDDLEWARE_ALIAS = "default"
    settings.CACHE_MIDDLEWARE_SECONDS = 60
    settings.CACHE_MIDDLEWARE_KEY_PREFIX = ""
    counting = CountingView()
    fetch = FetchFromCacheMiddleware(counting)
    update = UpdateCacheMiddleware(counting)

    request = rf.get("/site/")
    assert fetch.process_request(request) is None
    response = update(request)
    assert response.content == b"call 1"

    cached = fetch.process_request(rf.get("/site/"))
    assert cached is not None
    assert cached.content == b"call 1"
    assert cached.cookies["flavour"].value == "oatmeal"
    assert cached["X-Calls"] == "1"

    # Storing the cached response again (as the next update would) still works.
    update_from_cache = UpdateCacheMiddleware(lambda req: cached)
    again = rf.get("/site/")
    again._cache_update_cache = True
    update_from_cache(again)
    assert fetch.process_request(rf.get("/site/")).content == b"call 1"
    assert counting.calls == 1


@pytest.mark.asyncio
async def test_cache_page_on_an_async_view(page_caches: Any, rf: RequestFactory) -> None:
    calls = []

    @cache_page(60)
    async def view(request: Any) -> HttpResponse:
        calls.append(1)
        return HttpResponse(f"async call {len(calls)}")

    first = await view(rf.get("/async/"))
    second = await view(rf.get("/async/"))
    assert len(calls) == 1
    assert second.content == first.content == b"async call 1"


# Template fragments --------------------------------------------------------------


def render(source: str, **context: Any) -> str:
    return engines["django"].from_string(source).render(context)


def test_template_fragment_is_cached_until_deleted(page_caches: Any) -> None:
    source = "{% load cache %}{% cache 60 greeting name %}Hello {{ value }}{% endcache %}"
    assert render(source, name="ann", value="first") == "Hello first"
    assert render(source, name="ann", value="second") == "Hello first"
    assert render(source, name="bob", value="second") == "Hello second"

    key = make_template_fragment_key("greeting", ["ann"])
    assert page_caches["default"].delete(key) is True
    assert render(source, name="ann", value="third") == "Hello third"


def test_template_fragment_using_another_cache(page_caches: Any) -> None:
    source = '{% load cache %}{% cache 60 frag using="other" %}{{ value }}{% endcache %}'
    assert render(source, value="one") == "one"
    assert render(source, value="two") == "one"
    key = make_template_fragment_key("frag")
    assert page_caches["other"].get(key) == "one"
    assert page_caches["default"].get(key) is None

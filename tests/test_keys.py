"""The key maker, both twins: same keys, Django's validation warnings."""

from __future__ import annotations

import warnings

import pytest
from django.core.cache.backends.base import CacheKeyWarning, default_key_func, memcache_key_warnings
from hypothesis import given
from hypothesis import strategies as st

from django_valkey.util import CacheKey, default_reverse_key, glob_escape, make_pattern
from tests.impls import IMPLS, speedups_module


def django_validate(key: str) -> None:
    for message in memcache_key_warnings(key):
        warnings.warn(message, CacheKeyWarning, stacklevel=2)


@pytest.fixture(params=IMPLS)
def keys_mod(request):
    return speedups_module("keys", request.param)


def test_default_layout(keys_mod):
    maker = keys_mod.KeyMaker(default_key_func, "pfx", 1)
    assert maker.make("foo") == "pfx:1:foo"
    assert maker.make("foo", 3) == "pfx:3:foo"
    assert maker.make(42) == "pfx:1:42"
    assert maker.make_many(["a", "b"], 2) == ["pfx:2:a", "pfx:2:b"]


def test_version_zero_and_empty_prefix_are_honoured(keys_mod):
    # The reference treated version=0 / prefix="" as "use the default".
    maker = keys_mod.KeyMaker(default_key_func, "pfx", 1)
    assert maker.make("k", 0) == "pfx:0:k"
    assert maker.make_cache_key("k", prefix="") == ":1:k"


def test_made_keys_pass_through(keys_mod):
    maker = keys_mod.KeyMaker(default_key_func, "", 1)
    made = maker.make_cache_key("foo")
    assert isinstance(made, CacheKey)
    assert made == ":1:foo"
    assert maker.make(made) == ":1:foo"
    assert maker.make_cache_key(made) is made


def test_custom_key_function(keys_mod):
    def key_func(key, prefix, version):
        return f"{prefix}#{version}#{key}"

    maker = keys_mod.KeyMaker(key_func, "p", 7)
    assert maker.make("x") == "p#7#x"
    assert maker.make("x", 8) == "p#8#x"


@pytest.mark.parametrize("key", ["a" * 251, "with space", "tab\there", "del\x7f", "nl\n"])
def test_suspect_keys_warn_like_django(keys_mod, key):
    maker = keys_mod.KeyMaker(default_key_func, "", 1, django_validate)
    with pytest.warns(CacheKeyWarning):
        maker.make(key)


def test_clean_keys_do_not_call_the_validator(keys_mod):
    calls = []
    maker = keys_mod.KeyMaker(default_key_func, "", 1, calls.append)
    maker.make("fine-key_é€")
    assert calls == []


def test_validate_all_calls_for_every_key(keys_mod):
    calls = []
    maker = keys_mod.KeyMaker(default_key_func, "", 1, calls.append, True)
    maker.make("a")
    maker.make_many(["b", "c"])
    assert calls == [":1:a", ":1:b", ":1:c"]


@given(st.text(), st.text(max_size=10), st.integers(min_value=-5, max_value=10**6))
def test_twins_agree(key, prefix, version):
    pure = speedups_module("keys", "pure")
    try:
        compiled = speedups_module("keys", "compiled")
    except pytest.skip.Exception:
        compiled = pure
    seen = {}
    for mod in (pure, compiled):
        flagged = []
        maker = mod.KeyMaker(default_key_func, prefix, version, flagged.append)
        seen[mod.__name__] = (maker.make(key), maker.make(key, version + 1), flagged)
        assert mod.is_suspect(key) == bool(list(memcache_key_warnings(key)))
    assert len(set(map(repr, seen.values()))) == 1


def test_patterns_and_reverse_keys():
    assert glob_escape("a*b?c[d") == "a[*]b[?]c[[]d"
    assert make_pattern("user:*", default_key_func, 1, "pre*") == "pre[*]:1:user:*"
    assert default_reverse_key(":1:some:key") == "some:key"
    assert CacheKey(":1:a:b").original_key() == "a:b"

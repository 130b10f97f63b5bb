# cython: language_level=3
"""Cache key maker, compiled twin of ``_keys_py.py`` (which is the specification).

Same API and the same results: ``make`` concatenates a precomputed
"prefix:version:" head for str keys at the default version, and checks
Django's memcached key rules in one C loop over the made key.
"""

from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_READ, PyUnicode_KIND, PyUnicode_DATA

from django.core.cache.backends.base import default_key_func

from django_valkey.util import CacheKey

cdef Py_ssize_t MAX_KEY_LENGTH = 250


cdef bint _is_suspect(str key) noexcept:
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(key)
    cdef Py_ssize_t i
    cdef int kind
    cdef void *data
    cdef Py_UCS4 ch
    if n > MAX_KEY_LENGTH:
        return True
    kind = PyUnicode_KIND(key)
    data = PyUnicode_DATA(key)
    for i in range(n):
        ch = PyUnicode_READ(kind, data, i)
        if ch <= 0x20 or ch == 0x7F:
            return True
    return False


def is_suspect(str key):
    """True when Django's ``validate_key`` would warn about ``key``."""
    return _is_suspect(key)


cdef class KeyMaker:
    """Makes the server-side keys of one cache (see ``_keys_py.KeyMaker``)."""

    cdef readonly object key_func
    cdef readonly object prefix
    cdef readonly object version
    cdef readonly object validate
    cdef readonly bint validate_all
    cdef bint _fast
    cdef str _default_head

    def __init__(self, key_func, prefix, version, validate=None, bint validate_all=False):
        self.key_func = key_func
        self.prefix = prefix
        self.version = version
        self.validate = validate
        self.validate_all = validate_all
        self._fast = key_func is default_key_func
        self._default_head = f"{prefix}:{version}:"

    cdef inline object _check(self, object made):
        if self.validate is not None:
            if self.validate_all or type(made) is not str or _is_suspect(<str>made):
                self.validate(made)
        return made

    cpdef object make(self, object key, object version=None):
        """The server-side key for ``key`` (a ``CacheKey`` passes unchanged)."""
        if type(key) is CacheKey:
            return key
        if version is None:
            if self._fast and type(key) is str:
                return self._check(self._default_head + <str>key)
            return self._check(self.key_func(key, self.prefix, self.version))
        return self._check(self.key_func(key, self.prefix, version))

    def make_many(self, keys, version=None):
        """``make`` for each key, in order."""
        cdef list out = []
        for key in keys:
            out.append(self.make(key, version))
        return out

    def make_cache_key(self, key, version=None, prefix=None):
        """The public ``make_key``: a ``CacheKey``, for any prefix."""
        if isinstance(key, CacheKey):
            return key
        if prefix is None or prefix == self.prefix:
            return CacheKey(self.make(key, version))
        if version is None:
            version = self.version
        return CacheKey(self._check(self.key_func(key, prefix, version)))

"""Django settings for the test suite.

They must import without a running server: the cache LOCATION below is a
placeholder that no test talks to.  Tests that go through
``django.core.cache.caches`` use the ``django_caches`` fixture, which points
CACHES at the throwaway server of the session.
"""

SECRET_KEY = "django-valkey-tests-not-a-secret"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": False,
        "OPTIONS": {},
    }
]

# Port 1 on loopback: nothing listens there, so a test that forgot the
# django_caches fixture fails loudly instead of reaching some other server.
CACHES = {
    "default": {
        "BACKEND": "django_valkey.cache.ValkeyCache",
        "LOCATION": "valkey://127.0.0.1:1/0",
    }
}

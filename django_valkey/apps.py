"""Optional app config: add ``"django_valkey"`` to INSTALLED_APPS to have the
system checks registered before ``manage.py check`` runs."""

from django.apps import AppConfig


class DjangoValkeyConfig(AppConfig):
    name = "django_valkey"
    verbose_name = "django-valkey"

    def ready(self) -> None:
        from django_valkey import checks  # noqa: F401  (registers the checks)

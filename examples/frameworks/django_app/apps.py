"""The app config: it owns the process's tenancy handle (see :class:`LazyTenancy`)."""

from __future__ import annotations

import atexit
import threading

from django.apps import AppConfig, apps
from django.conf import settings

import tenancy

__all__ = ["LazyTenancy", "TenancyConfig", "handle"]


class LazyTenancy:
    """Opens the handle on first use, once per process, from ``settings.TENANCY_DB``.

    Not in ``ready()``: Django runs it in every ``manage.py`` command, and in gunicorn's
    master with ``--preload``, where opening would read the whole store for nothing (or
    before the fork: safe with tenancy, but each worker then holds the master's copy).
    """

    def __init__(self) -> None:
        self._handle: tenancy.Tenancy | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether this process has opened its handle yet."""
        return self._handle is not None

    def get(self) -> tenancy.Tenancy:
        if self._handle is None:
            with self._lock:  # two first requests at once open one handle
                if self._handle is None:
                    self._handle = tenancy.open(str(settings.TENANCY_DB))
        return self._handle

    def close(self) -> None:
        """Close the handle (flushing its usage counters); the next use opens it again."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


class TenancyConfig(AppConfig):
    name = "examples.frameworks.django_app"
    label = "tenancy_recipe"
    tenancy: LazyTenancy

    def ready(self) -> None:
        self.tenancy = LazyTenancy()
        atexit.register(self.tenancy.close)


def handle() -> tenancy.Tenancy:
    """The process's handle (opened by the first call)."""
    config = apps.get_app_config(TenancyConfig.label)
    assert isinstance(config, TenancyConfig)
    return config.tenancy.get()

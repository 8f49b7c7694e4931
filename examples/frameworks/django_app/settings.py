"""The smallest settings that serve the Django recipe: ``DJANGO_SETTINGS_MODULE=
examples.frameworks.django_app.settings``. tenancy keeps its own store, so Django needs
no database here; ``TENANCY_DB`` names the store's file."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-the-recipe")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["examples.frameworks.django_app.apps.TenancyConfig"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "examples.frameworks.django_app.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TENANCY_DB = os.environ.get("TENANCY_DB", "tenancy.db")

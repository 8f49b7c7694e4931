"""The URLs of the Django recipe."""

from __future__ import annotations

from django.urls import path

from examples.frameworks.django_app import views

urlpatterns = [
    path("devices", views.devices),
    path("tenants/<str:tenant_id>/devices/<str:device_id>", views.device),
]

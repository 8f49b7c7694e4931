"""``delegated``: a public method of a facade that is the method of one of its parts.

The handle is composed of parts (:mod:`tenancy.handle.tenancy`); most of its public methods
only hand the call to one of them. Writing each as a method would repeat the part's whole
signature and docstring in the facade, and keep two copies that drift. Instead::

    class Tenancy:
        tenants = delegated("_lookups", StoreLookups.tenants)

makes ``tn.tenants`` the bound method of ``tn._lookups``: its signature, its docstring and,
for mypy, its type are the part's (the ``ParamSpec`` carries them), and ``Tenancy.tenants``
is the part's function, so ``help``, ``inspect`` and the docs tests read it as they read any
method. The API reference shows it under the facade too: docs/griffe_prose.py renders each
``delegated`` attribute as the function it names.

Cost: one attribute look-up more than a method defined on the facade, and one call less (the
facade's frame is gone); the hot queries, ``verify`` and ``check``, are not delegated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["delegated"]

P = ParamSpec("P")
R = TypeVar("R")


class delegated(Generic[P, R]):  # noqa: N801 - used like a decorator, named like one
    """The method ``method`` of the part held in the facade's attribute ``part``."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self._part = part
        self._method = method
        self._name: str = method.__name__
        self.__doc__ = method.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self._name:  # the reference names it after the part's method
            raise TypeError(f"{owner.__name__}.{name} delegates to a method named {self._name}")

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[Concatenate[Any, P], R]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Callable[..., R]:
        if obj is None:
            return self._method
        return getattr(getattr(obj, self._part), self._name)  # type: ignore[no-any-return]

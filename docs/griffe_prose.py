"""A griffe extension for the API reference (mkdocs.yml loads it): the docstrings of
tenancy are prose with the roles and doctests of Python's own documentation, which this
turns into Markdown before mkdocstrings renders them.

- ``:meth:`Tenancy.tenant```, ``:class:`~tenancy.Page``` and the other roles become code
  spans (``Tenancy.tenant``, ``Page``: a ``~`` keeps the last name, ``title <target>`` the
  title); ``double backticks`` are already a code span in Markdown.
- A ``>>>`` example, with the output lines after it, becomes a fenced ``pycon`` block.

Not part of the package: it runs only while the documentation is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from griffe import Alias, ExprCall, Extension, Object

_ROLE = re.compile(r":(?:py:)?(?:meth|func|class|attr|data|mod|exc|obj):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, text = match.groups()
    titled = re.fullmatch(r"(.+?)\s*<[^>]+>", text)
    if titled:
        text = titled.group(1)
    elif tilde:
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


def markdown(text: str) -> str:
    """The docstring ``text`` in Markdown: roles as code spans, doctests fenced."""
    lines = _ROLE.sub(_role, text).split("\n")
    out: list[str] = []
    in_example = False
    for line in lines:
        if not in_example and line.lstrip().startswith(">>>"):
            out.extend(["", "```pycon"])
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class ProseDocstrings(Extension):
    """Turn every docstring of the loaded package into Markdown (see the module)."""

    def __init__(self) -> None:
        super().__init__()
        self._done: set[int] = set()  # docstrings already turned (an object seen twice)

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and id(docstring) not in self._done:
            self._done.add(id(docstring))
            docstring.value = markdown(docstring.value)


class DelegatedMethods(Extension):
    """Render each ``name = delegated("_part", Part.name)`` attribute of a class (see
    :mod:`tenancy.handle.delegate`) as the method it names: an alias of the part's function,
    so the facade's reference shows its signature and docstring."""

    def on_package(self, *, pkg: Object, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            for name, member in list(cls.members.items()):
                target = _delegated_target(member)
                if target is not None:
                    cls.set_member(name, Alias(name, target, parent=cls))


def _classes(obj: Object) -> Iterator[Object]:
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            yield member
        if member.is_module or member.is_class:
            yield from _classes(member)


def _delegated_target(member: Object | Alias) -> str | None:
    """``Part.name`` of a ``delegated("_part", Part.name)`` attribute, else None."""
    if member.is_alias or not member.is_attribute:
        return None
    value = member.value
    if not isinstance(value, ExprCall) or str(value.function) != "delegated":
        return None
    method = value.arguments[1]
    return getattr(method, "canonical_path", None)  # the part's function, imports resolved

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
from typing import Any

from griffe import Extension, Object

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

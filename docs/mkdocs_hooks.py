"""mkdocs hooks (mkdocs.yml loads this file; not part of the package).

Headings get the anchors GitHub gives them, so a link such as
``sqlite.md#forking-servers-gunicorn---preload`` works on the site and on GitHub alike
(Python-Markdown's own slugs would squeeze the three hyphens into one).
"""

from __future__ import annotations

import re
from typing import Any


def github_slug(value: str, separator: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, each space a
    ``separator``."""
    value = re.sub(r"[^\w\- ]", "", value.strip().lower())
    return value.replace(" ", separator)


def on_config(config: Any, **kwargs: Any) -> Any:
    config.mdx_configs.setdefault("toc", {})["slugify"] = github_slug
    return config

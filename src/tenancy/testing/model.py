"""Model test files: a store described in a file, and what it must answer.

As OpenFGA's ``.fga.yaml`` and SpiceDB's validation files let a team test its authorization
model in CI, a model file holds a tenancy document (inline, or a path beside the file) and
assertions about the store it makes. ``tenancy test FILE...`` runs them and exits 1 on a
failure; :func:`assert_model` does the same inside a test suite. A model file is TOML
(``.toml``) or JSON (``.json``) with this shape::

    document = "hospital.json"        # a document file, relative to this one; or inline:
    # [document.header] ... and [[document.records]] ... (the document's own schema)

    [[verify]]                        # tn.verify(user, device) is expect
    user = "ana"
    device = "gen-7"
    expect = true

    [[check]]                         # tn.check(user, permission, device) is expect
    user = "ana"
    permission = "device:READ"
    device = "gen-7"
    expect = true

    [[devices_for]]                   # every device the user reaches, by id
    user = "ana"
    tags = { site = "sb" }            # optional filter
    expect = ["gen-7", "gen-9"]

    [[users_for]]                     # every user who reaches the device, by id
    device = "gen-7"
    tags = { notify = "sms" }         # optional filter: whom to alert
    expect = ["ana"]

    [[explain]]                       # the code of tn.explain(user, device)
    user = "ana"
    device = "gen-9"
    expect = "no-covering-group"

The store is imported into memory, so a model file never touches a database. A malformed
file (an unknown section or key, a value of the wrong type) is a failure that names where
it is, not a crash.
"""

from __future__ import annotations

import io
import json
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import msgspec

import tenancy
from tenancy.errors import TenancyError

__all__ = ["ModelReport", "assert_model", "run_model"]

_SECTIONS: dict[str, tuple[str, ...]] = {
    "verify": ("user", "device"),
    "check": ("user", "permission", "device"),
    "devices_for": ("user",),
    "users_for": ("device",),
    "explain": ("user", "device"),
}
"""Each kind of assertion and its required keys (besides ``expect``; ``tags`` is optional
for the two listings)."""


@attrs.frozen
class ModelReport:
    """What a model file's assertions gave: how many ran and the failures, each one line."""

    path: str
    ran: int
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """``FILE: N assertions, M failed`` and the failures, one a line."""
        head = f"{self.path}: {self.ran} assertions, {len(self.failures)} failed"
        return "\n".join([head, *(f"  {f}" for f in self.failures)])


class _BadModel(Exception):
    """The file itself is wrong (not the store's answers): reported as one failure."""


def run_model(path: str | Path) -> ModelReport:
    """Load the model file at ``path``, build its store in memory, and check every
    assertion. Never raises for a wrong answer or a malformed file: each is a failure of
    the report. Runtime complexity: the import of its document, plus one query per
    assertion."""
    where = Path(path)
    try:
        model = _load(where)
        tn = tenancy.open()
        tn.import_from(io.BytesIO(_document_bytes(model, where)))
        failures = []
        ran = 0
        for kind, index, item in _assertions(model):
            ran += 1
            problem = _check(tn, kind, item)
            if problem is not None:
                failures.append(f"{kind}[{index}] {problem}")
        return ModelReport(str(where), ran, tuple(failures))
    except (_BadModel, TenancyError, OSError) as error:
        return ModelReport(str(where), 0, (f"cannot run the model: {error}",))


def assert_model(path: str | Path) -> None:
    """:func:`run_model`, failing the test (AssertionError) with every failure when any
    assertion does not hold. For pytest: ``def test_model(): assert_model("model.toml")``."""
    report = run_model(path)
    if not report.passed:
        raise AssertionError(report.summary())


# ---------------------------------------------------------------- reading the file


def _load(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _BadModel(f"cannot read {path}: {error.strerror}") from None
    try:
        is_json = path.suffix == ".json"
        model = json.loads(data) if is_json else tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise _BadModel(f"{path.name} is not valid {_format(path)}: {error}") from None
    if not isinstance(model, dict):
        raise _BadModel(f"{path.name}: a model file is a table (an object) at the top")
    unknown = set(model) - {"document", *_SECTIONS}
    if unknown:
        raise _BadModel(
            f"unknown section {sorted(unknown)[0]!r}: a model file has document and "
            f"{', '.join(_SECTIONS)}"
        )
    return model


def _format(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "TOML"


def _document_bytes(model: Mapping[str, Any], path: Path) -> bytes:
    document = model.get("document")
    if isinstance(document, str):
        target = (path.parent / document).resolve()
        try:
            return target.read_bytes()
        except OSError as error:
            raise _BadModel(f"cannot read the document {document!r}: {error.strerror}") from None
    if isinstance(document, dict):
        return msgspec.json.encode(document)
    raise _BadModel("document is a path (a string) or an inline document (a table)")


def _assertions(model: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for kind, required in _SECTIONS.items():
        items = model.get(kind, [])
        if not isinstance(items, list):
            raise _BadModel(f"{kind} is a list of assertions ([[{kind}]] in TOML)")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise _BadModel(f"{kind}[{index}] is a table of keys")
            allowed = {*required, "expect", *(("tags",) if kind.endswith("_for") else ())}
            missing = [k for k in (*required, "expect") if k not in item]
            extra = sorted(set(item) - allowed)
            if missing or extra:
                what = f"lacks {missing[0]!r}" if missing else f"has an unknown key {extra[0]!r}"
                raise _BadModel(f"{kind}[{index}] {what}")
            yield kind, index, item


# ---------------------------------------------------------------- checking one assertion


def _check(tn: tenancy.Tenancy, kind: str, item: Mapping[str, Any]) -> str | None:
    """None when the assertion holds, else what went wrong, with the explanation."""
    try:
        got, expect, subject = _ASK[kind](tn, item)
    except TenancyError as error:  # a malformed value in the assertion itself
        return f"{_subject(item)}: refused: {error}"
    if got == expect:
        return None
    message = f"{subject}: expected {_show(expect)}, got {_show(got)}"
    if kind in ("verify", "check", "explain"):
        why = tn.explain(str(item["user"]), str(item["device"]))
        message += f" ({why.code}: {why.reason})"
    return message


def _subject(item: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={item[k]!r}" for k in ("user", "permission", "device") if k in item)


def _show(value: object) -> str:
    return json.dumps(value)


def _tags(item: Mapping[str, Any]) -> Any:
    return item.get("tags")


def _verify(tn: tenancy.Tenancy, item: Mapping[str, Any]) -> tuple[object, object, str]:
    got = tn.verify(item["user"], item["device"])
    return got, item["expect"], f"verify {item['user']} -> {item['device']}"


def _check_permission(tn: tenancy.Tenancy, item: Mapping[str, Any]) -> tuple[object, object, str]:
    got = tn.check(item["user"], item["permission"], item["device"])
    return got, item["expect"], f"check {item['user']} {item['permission']} {item['device']}"


def _devices_for(tn: tenancy.Tenancy, item: Mapping[str, Any]) -> tuple[object, object, str]:
    devices = tenancy.every_page(tn.devices_for, item["user"], tags=_tags(item), limit=10_000)
    return [d.id for d in devices], item["expect"], f"devices_for {item['user']}"


def _users_for(tn: tenancy.Tenancy, item: Mapping[str, Any]) -> tuple[object, object, str]:
    users = tn.users_for(item["device"], tags=_tags(item))
    return [u.id for u in users], item["expect"], f"users_for {item['device']}"


def _explain(tn: tenancy.Tenancy, item: Mapping[str, Any]) -> tuple[object, object, str]:
    why = tn.explain(item["user"], item["device"])
    return why.code, item["expect"], f"explain {item['user']} -> {item['device']}"


_ASK: dict[str, Callable[[tenancy.Tenancy, Mapping[str, Any]], tuple[object, object, str]]] = {
    "verify": _verify,
    "check": _check_permission,
    "devices_for": _devices_for,
    "users_for": _users_for,
    "explain": _explain,
}

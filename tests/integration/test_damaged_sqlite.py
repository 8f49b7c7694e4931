"""Damaged SQLite files: every one refuses to open with a StoreError naming the file and the
problem, or (damage that changes nothing the store reads: free space, unused bytes) opens
with the original's answers; never a wrong answer, never an untyped exception.

A small store with every kind of record is made once; then copies of it are damaged in
many ways, deterministically (:func:`damages`): truncated, pages zeroed, swapped and given
flipped bytes (in the header, in every table's and index's pages, found with the dbstat
virtual table), empty, garbage and foreign files, damaged WAL files, and rows edited by
hand with sqlite3 (undecodable blobs, records naming what does not exist, checksums).
"""

from __future__ import annotations

import functools
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import InvalidValue, StoreError, Tenancy, TenantScope
from tenancy.records.changes import Associated, Change, DeviceCreated, MemberAdded, UserCreated
from tenancy.records.model import Device, Group, Page, Tenant, User
from tenancy.store import _codec
from tenancy.store.migrations import CHECKED
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.contract import sample_commits
from tests.unit._world import hospital, new_tenant

PAGE = 4096
Answers = dict[str, Any]


def _answers(tn: Tenancy) -> Answers:
    """verify for every (user, device) pair, devices_for (every page) of every user and
    users_for of every device, over every tenant; and the records themselves."""
    root = tn.management_tenant
    tenants = [root, *tn.subtenants(root.id, recursive=True)]
    scopes = [tn.tenant(t.id) for t in tenants]
    users = sorted((u for s in scopes for u in s.users()), key=lambda u: u.id)
    devices: list[Device] = []
    for scope in scopes:
        devices.extend(_every_page(functools.partial(_devices_page, scope)))
    devices.sort(key=lambda d: d.id)
    listed = {
        u.id: [d.id for d in _every_page(functools.partial(_reach_page, tn, u.id))] for u in users
    }
    return {
        "revision": tn.revision,
        "tenants": sorted(tenants, key=lambda t: t.id),
        "groups": sorted((g for s in scopes for g in s.groups()), key=lambda g: g.id),
        "users": users,
        "devices": devices,
        "verify": [(u.id, d.id) for u in users for d in devices if tn.verify(u.id, d.id)],
        "devices_for": listed,
        "users_for": {d.id: sorted(u.id for u in tn.users_for(d.id)) for d in devices},
    }


def _devices_page(scope: TenantScope, after: str | None) -> Page[Device]:
    return scope.devices(limit=100, after=after)


def _reach_page(tn: Tenancy, user_id: str, after: str | None) -> Page[Device]:
    return tn.devices_for(user_id, limit=50, after=after)


def _every_page(page_of: Callable[[str | None], Page[Device]]) -> Iterator[Device]:
    after = None
    while True:
        page = page_of(after)
        yield from page
        if page.next is None:
            return
        after = page.next


def _make(path: Path) -> None:
    """Every kind of record: tenants (a subtenant, one suspended), groups in a tree with
    device ids and tag rules (a conjunction, a wildcard), devices with tags and gateways,
    users with tags, memberships, roles, grants, a delegation, a support request, usage;
    enough devices and users for their tables to span many pages; and free pages (a
    batch of devices created then deleted)."""
    with tenancy.open(path, staleness=None) as tn:
        h = hospital(tn)
        t = h.t
        rng = random.Random(11)
        sites = ["sb", "mp", "north", "south", "east"]
        gateways: list[str] = []
        for n in range(240):
            tags = [("site", rng.choice(sites)), ("kind", rng.choice(["pump", "generator"]))]
            parent = rng.choice(gateways) if gateways and n % 5 == 0 else None
            device = t.create_device(f"Device {n}", id=f"dev-{n:04d}", tags=tags, parent=parent)
            if n % 7 == 0:
                gateways.append(device.id)
        t.create_group("East", id="east", parent="chain", device_tags=[("site", "east")])
        t.associate("south", device_ids=[f"dev-{n:04d}" for n in range(0, 240, 9)])
        for n in range(120):
            t.create_user(f"user{n}@hospital.example", id=f"user-{n:03d}", tags={"n": str(n)})
            t.add_member(
                rng.choice(["chain", "north", "sb", "mp", "south", "east"]), f"user-{n:03d}"
            )
        t.define_role("tech", ["device:READ"], kind="inventory")
        t.grant_inventory_role("nobody", "tech", group="mp")
        t.grant_role("nobody", "readonly")
        t.grant_role("regional", "business")
        t.delegate("ceo", "regional")
        t.request_support("site_manager")
        tn.record_request(t.tenant_id, "api", 5)
        tn.flush_usage()
        tn.update_tenant(t.tenant_id, allow_subtenants=True)
        child = tn.create_tenant(
            domain="clinic", name="Clinic", admin_email="a@clinic.example", parent=t.tenant_id
        )
        c = tn.tenant(child.id)
        c.create_group("Ward", id="ward", device_tags=[("site", "ward")])
        c.create_device("Monitor", id="mon-1", tags=[("site", "ward")])
        c.create_user("nurse@clinic.example", id="nurse")
        c.add_member("ward", "nurse")
        other = new_tenant(tn, "paused")
        other.create_device("Idle", id="idle-1")
        tn.suspend_tenant(other.tenant_id)
        doomed = new_tenant(tn, "doomed")
        doomed.create_devices(
            [{"name": f"Doomed {n} " + "z" * 200, "id": f"zz-{n:04d}"} for n in range(300)]
        )
        tn.delete_tenant(doomed.tenant_id)  # one commit: its pages go to the free list
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@dataclass(frozen=True)
class Original:
    path: Path
    data: bytes
    answers: Answers
    pages: dict[str, list[tuple[int, str]]]
    """Each table and index: its (page number, page type) (dbstat, or the root page)."""
    free: list[int]
    """Pages on the free list's leaves: their content is read by nothing."""


def _pages(path: Path) -> dict[str, list[tuple[int, str]]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, pageno, pagetype FROM dbstat ORDER BY pageno")
        found: dict[str, list[tuple[int, str]]] = {}
        for name, number, kind in rows:
            found.setdefault(name, []).append((number, kind))
    except sqlite3.OperationalError:  # no dbstat in this SQLite: the root pages
        found = {
            name: [(root, "root")]
            for name, root in conn.execute("SELECT name, rootpage FROM sqlite_master")
            if root
        }
    finally:
        conn.close()
    return found


def _free_leaves(data: bytes) -> list[int]:
    trunk = int.from_bytes(data[32:36], "big")
    leaves: list[int] = []
    while trunk:
        page = data[(trunk - 1) * PAGE : trunk * PAGE]
        count = int.from_bytes(page[4:8], "big")
        leaves.extend(int.from_bytes(page[8 + 4 * i : 12 + 4 * i], "big") for i in range(count))
        trunk = int.from_bytes(page[0:4], "big")
    return sorted(leaves)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Original:
    path = tmp_path_factory.mktemp("damaged") / "original.db"
    _make(path)
    with tenancy.open(path, staleness=None) as tn:
        answers = _answers(tn)
    data = path.read_bytes()
    assert int.from_bytes(data[16:18], "big") == PAGE
    pages = _pages(path)
    free = _free_leaves(data)
    assert len(free) >= 2, "the original has free pages"
    assert all(len(pages[t]) >= 3 for t in ("devices", "users")), pages
    return Original(path, data, answers, pages, free)


# --------------------------------------------------------------------------- damages

Damage = Callable[[Original, Path], None]
"""Writes the damaged copy of the original at the path (and its WAL, if any)."""


def _bytes(edit: Callable[[bytearray, Original], bytes | bytearray]) -> Damage:
    def damage(o: Original, path: Path) -> None:
        path.write_bytes(bytes(edit(bytearray(o.data), o)))

    return damage


def _truncate(size: int | Callable[[int], int]) -> Damage:
    return _bytes(lambda b, o: b[: size if isinstance(size, int) else size(len(b))])


def _flip(offset: int | Callable[[Original], int], mask: int = 0xFF) -> Damage:
    def edit(b: bytearray, o: Original) -> bytearray:
        at = offset if isinstance(offset, int) else offset(o)
        b[at] ^= mask
        return b

    return _bytes(edit)


def _page_of(name: str, which: int | str) -> Callable[[Original], int]:
    """A page number of a table or index: the n-th of its pages, or its first of a type."""

    def number(o: Original) -> int:
        pages = o.pages[name]
        if isinstance(which, int):
            return pages[min(which, len(pages) - 1)][0]
        return next((n for n, kind in pages if kind == which), pages[0][0])

    return number


def _in_page(page: Callable[[Original], int], at: int | str) -> Callable[[Original], int]:
    """An offset in a page: a fixed one, or a named place of a b-tree page."""

    def offset(o: Original) -> int:
        number = page(o)
        start = (number - 1) * PAGE
        header = start + (100 if number == 1 else 0)
        if isinstance(at, int):
            return start + at
        cells = int.from_bytes(o.data[header + 3 : header + 5], "big")
        content = int.from_bytes(o.data[header + 5 : header + 7], "big") or 65536
        leaf = o.data[header] in (0x0A, 0x0D)
        pointers = header + (8 if leaf else 12)
        places = {
            "type": header,
            "cell count": header + 3,
            "first pointer": pointers,
            "last pointer": pointers + 2 * max(cells - 1, 0),
            "first cell": start + content + 1,
            "middle cell": start + (content + PAGE) // 2,
            "last byte": start + PAGE - 2,
        }
        return places[at]

    return offset


def _zero_page(page: Callable[[Original], int]) -> Damage:
    def edit(b: bytearray, o: Original) -> bytearray:
        start = (page(o) - 1) * PAGE
        b[start : start + PAGE] = bytes(PAGE)
        return b

    return _bytes(edit)


def _swap(first: Callable[[Original], int], second: Callable[[Original], int]) -> Damage:
    def edit(b: bytearray, o: Original) -> bytearray:
        x, y = (first(o) - 1) * PAGE, (second(o) - 1) * PAGE
        b[x : x + PAGE], b[y : y + PAGE] = b[y : y + PAGE], b[x : x + PAGE]
        return b

    return _bytes(edit)


def _write(data: bytes | Callable[[Path], None]) -> Damage:
    def damage(o: Original, path: Path) -> None:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            data(path)

    return damage


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('shopping list')")
    conn.close()


def _rails(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        conn.execute("INSERT INTO schema_migrations VALUES ('20240101000000')")
    conn.close()


def _no_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")  # writes the header: a database without tables
    conn.close()


Edit = Callable[[sqlite3.Connection], None]


def _hospital(conn: sqlite3.Connection) -> str:
    tenant_id: str = conn.execute("SELECT tenant_id FROM groups WHERE id = 'sb'").fetchone()[0]
    return tenant_id


def _sql(*statements: str | tuple[str, tuple[Any, ...]] | Edit, totals: bool = True) -> Damage:
    """The original copied, then edited by hand with sqlite3; with ``totals``, a careful
    editor's edit: each table's row count and checksum total made to match its rows'
    checksum column again (the rows whose checksums were not fixed still fail theirs)."""

    def damage(o: Original, path: Path) -> None:
        path.write_bytes(o.data)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.create_function("crc", -1, _codec.crc_of_columns, deterministic=True)
        try:
            for statement in statements:
                if callable(statement):
                    statement(conn)
                    continue
                sql, params = statement if isinstance(statement, tuple) else (statement, ())
                conn.execute(sql, params)
            if totals:
                for table in CHECKED:
                    conn.execute(
                        f"UPDATE checksums SET rows = (SELECT count(*) FROM {table}),"
                        f" total = (SELECT coalesce(sum(crc), 0) FROM {table})"
                        f" WHERE name = '{table}'"
                    )
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    return damage


def _with_wal(edit: Callable[[bytearray], bytes | bytearray]) -> Damage:
    """The original plus one commit that is only in its WAL (a process's last write, not
    yet checkpointed), the WAL then damaged: the file opens at the state before that
    commit (SQLite drops a WAL's frames from the first bad one) or after it, or refuses."""

    def damage(o: Original, path: Path) -> None:
        path.write_bytes(o.data)
        _wal_write(path)
        wal = Path(f"{path}-wal")
        wal.write_bytes(bytes(edit(bytearray(wal.read_bytes()))))

    return damage


def _wal_write(path: Path) -> None:
    """One commit left in the WAL (a device created): the files are copied while a
    connection holds them open, so the WAL is not checkpointed."""
    live = path.with_suffix(".live")
    shutil.copyfile(path, live)
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        with tenancy.open(live, staleness=None) as tn:
            hospital = tn.find_tenant("hospital")
            assert hospital is not None
            t = tn.tenant(hospital.id)
            t.create_device("Late", id="late-1", tags=[("site", "sb")])
            shutil.copyfile(live, path)
            shutil.copyfile(f"{live}-wal", f"{path}-wal")
    finally:
        conn.close()


def _wal_flip(offset: int | Callable[[int], int]) -> Callable[[bytearray], bytearray]:
    def edit(b: bytearray) -> bytearray:
        at = offset if isinstance(offset, int) else offset(len(b))
        b[at] ^= 0x5A
        return b

    return edit


def _device_blob(tenant: str, device_id: str = "dev-0003") -> bytes:
    return _codec.encode_record(Device(id=device_id, tenant_id=tenant, name="Moved"))


def _reparent(table: str, kind: type[Any], record_id: str, parent: str) -> Edit:
    """Give a stored record another parent, by hand, its checksum made to match."""

    def edit(conn: sqlite3.Connection) -> None:
        (body,) = conn.execute(f"SELECT body FROM {table} WHERE id = ?", (record_id,)).fetchone()
        record = msgspec.structs.replace(_codec.record_decoder(kind).decode(body), parent_id=parent)
        blob = _codec.encode_record(record)
        conn.execute(
            f"UPDATE {table} SET body = ?, crc = ? WHERE id = ?",
            (blob, _codec.row_crc(blob), record_id),
        )

    return edit


_HOSPITAL = "(SELECT tenant_id FROM groups WHERE id = 'sb')"

REFUSE = "refuse"
"""Refused with a StoreError whatever ``integrity`` is: damage to what the open reads."""
OPEN = "open"
"""Opens with the original's answers: damage to what nothing reads (free pages, a WAL that
SQLite's own checksums drop)."""
FULL = "full"
"""Refused by ``integrity="full"`` (SQLite's integrity_check); the default may open it
with the original's answers, as the damage is where the open reads nothing (an index, a
divider key of an interior page)."""
EITHER = "either"
"""Refused, or opens with the original's answers: bytes that may be unused (the middle or
end of a page, header fields SQLite ignores), or the change log and audit log, which the
open does not read (a damaged change-log row is refused when it is read: see below)."""

_READ = ("sqlite_schema", "meta", "checksums", "tenants", "groups", "devices", "users",
         "memberships", "group_devices", "group_rules", "usage", "access")  # fmt: skip
"""The tables an open reads."""
_INDEXES = ("devices_by_tenant", "users_by_tenant", "groups_by_tenant", "memberships_by_user",
            "group_devices_by_device", "sqlite_autoindex_tenants_1",
            "sqlite_autoindex_users_1", "sqlite_autoindex_access_1")  # fmt: skip
_PLACES = ("type", "cell count", "first pointer", "last pointer", "first cell",
           "middle cell", "last byte")  # fmt: skip


def _place_rule(name: str, place: str) -> str:
    if place in ("middle cell", "last byte"):
        return EITHER
    if name in ("changes", "audit"):
        return EITHER
    if name in _INDEXES or name == "schema_migrations" or (name, place) == ("meta", "last pointer"):
        return FULL  # meta's last row is the log floor, read by a catch-up, not the open
    return REFUSE


def damages() -> Iterator[tuple[str, Damage, str]]:
    """Every kind of damage, by name, with what must come of it (deterministic: the same
    damages every run)."""
    # Truncation.
    for size in (0, 1, 50, 100, 512, PAGE, PAGE + 1, 3 * PAGE):
        yield f"truncated to {size} bytes", _truncate(size), REFUSE
    yield "truncated to half", _truncate(lambda n: n // 2), REFUSE
    yield "last page cut", _truncate(lambda n: n - PAGE), EITHER
    yield "last byte cut", _truncate(lambda n: n - 1), EITHER
    # The header of the file (page 1).
    header = {
        0: "magic", 5: "magic end", 16: "page size", 18: "write version",
        19: "read version", 20: "reserved bytes", 21: "max payload", 24: "change counter",
        28: "size in pages", 32: "first free-list page", 36: "free-list count",
        40: "schema cookie", 44: "schema format", 48: "cache size", 52: "largest root",
        56: "text encoding", 60: "user version", 64: "vacuum mode", 68: "application id",
        92: "version valid for", 96: "SQLite version",
    }  # fmt: skip
    for offset, what in header.items():
        rule = REFUSE if offset in (0, 5, 16) else EITHER
        yield f"header byte {offset} ({what}) flipped", _flip(offset), rule
    yield "header byte 0 (magic) one bit", _flip(0, 0x01), REFUSE
    # Pages: zeroed, bytes flipped in each table's and index's pages, swapped.
    for name in (*_READ, "changes", "audit", "schema_migrations", *_INDEXES):
        zeroed = REFUSE if name in _READ else FULL if name in _INDEXES else EITHER
        yield f"{name}: first page zeroed", _zero_page(_page_of(name, 0)), zeroed
        for place in _PLACES:
            damage = _flip(_in_page(_page_of(name, 0), place))
            yield f"{name}: {place} flipped", damage, _place_rule(name, place)
    for name in ("devices", "users", "changes", "audit"):
        read = REFUSE if name in _READ else EITHER
        leaf, last = _page_of(name, "leaf"), _page_of(name, 10_000)
        yield f"{name}: a leaf page zeroed", _zero_page(leaf), read
        yield f"{name}: last page zeroed", _zero_page(last), read
        for place in ("first cell", "cell count"):
            yield f"{name}: leaf {place} flipped", _flip(_in_page(leaf, place)), read
        yield f"{name}: leaf middle cell flipped", _flip(_in_page(leaf, "middle cell")), EITHER
        yield f"{name}: last page middle flipped", _flip(_in_page(last, 2048)), EITHER
    interior = _page_of("devices", "internal")
    yield "devices: interior type flipped", _flip(_in_page(interior, "type")), REFUSE
    for place in ("first cell", "middle cell"):  # divider keys: a whole scan skips them
        yield f"devices: interior {place} flipped", _flip(_in_page(interior, place)), EITHER
    yield "page 1 zeroed", _zero_page(lambda o: 1), REFUSE
    devices, users = _page_of("devices", "leaf"), _page_of("users", "leaf")
    yield "two device leaves swapped", _swap(devices, _page_of("devices", 3)), REFUSE
    yield "a device leaf swapped with a user leaf", _swap(devices, users), REFUSE
    yield (
        "a device leaf swapped with the devices index",
        _swap(devices, _page_of("devices_by_tenant", 0)),
        REFUSE,
    )
    yield "a user leaf swapped with a free page", _swap(users, lambda o: o.free[0]), REFUSE
    yield (
        "memberships swapped with group_devices",
        _swap(_page_of("memberships", 0), _page_of("group_devices", 0)),
        REFUSE,
    )
    yield "a device leaf copied over another", _copy(devices, _page_of("devices", 3)), REFUSE
    # Free space: read by nothing (these must open with the same answers).
    yield "a free page zeroed", _zero_page(lambda o: o.free[0]), OPEN
    yield "a free page flipped", _flip(lambda o: (o.free[-1] - 1) * PAGE + 1234), OPEN
    # Files that are not this store.
    yield "0-byte file", _write(b""), REFUSE
    yield "garbage file", _write(random.Random(5).randbytes(5 * PAGE)), REFUSE
    yield "text file", _write(b"these are not the tables you are looking for\n" * 200), REFUSE
    yield (
        "SQLite header then garbage",
        _write(b"SQLite format 3\0" + random.Random(6).randbytes(3 * PAGE)),
        REFUSE,
    )
    yield "another application's database", _write(_foreign), REFUSE
    yield "a database with a foreign schema_migrations", _write(_rails), REFUSE
    yield "a database without tables", _write(_no_tables), REFUSE
    # The WAL holding the last commit: SQLite keeps the frames up to the first bad one.
    yield "WAL intact", _with_wal(lambda b: b), OPEN
    yield "WAL header flipped", _with_wal(_wal_flip(0)), OPEN
    yield "WAL salt flipped", _with_wal(_wal_flip(16)), OPEN
    yield "WAL first frame header flipped", _with_wal(_wal_flip(32 + 4)), OPEN
    yield "WAL first frame page flipped", _with_wal(_wal_flip(32 + 24 + 100)), OPEN
    yield "WAL last frame flipped", _with_wal(_wal_flip(lambda n: n - 10)), OPEN
    yield "WAL truncated mid-frame", _with_wal(lambda b: b[: len(b) - 100]), OPEN
    yield "WAL garbage", _with_wal(lambda b: random.Random(7).randbytes(len(b))), OPEN
    # Rows edited by hand with sqlite3.
    for name, damage in _hand_edits():
        yield name, damage, REFUSE


def _copy(source: Callable[[Original], int], target: Callable[[Original], int]) -> Damage:
    def edit(b: bytearray, o: Original) -> bytearray:
        x, y = (source(o) - 1) * PAGE, (target(o) - 1) * PAGE
        b[y : y + PAGE] = b[x : x + PAGE]
        return b

    return _bytes(edit)


def _hand_edits() -> Iterator[tuple[str, Damage]]:
    yield "device body garbage", _sql("UPDATE devices SET body = x'c1c1c1' WHERE id = 'gen-1'")
    yield "device body text", _sql("UPDATE devices SET body = '{\"id\": 1}' WHERE id = 'gen-1'")
    yield "device body an integer", _sql("UPDATE devices SET body = 5 WHERE id = 'gen-1'")
    yield (
        "device body of the wrong shape, checksum fixed",
        _sql(
            (
                "UPDATE devices SET body = ? WHERE id = 'gen-1'",
                (msgspec.msgpack.encode({"id": 5}),),
            ),
            "UPDATE devices SET crc = crc(body) WHERE id = 'gen-1'",
        ),
    )
    yield (
        "device moved to another tenant, checksum kept",
        _sql(("UPDATE devices SET body = ? WHERE id = 'dev-0003'", (_device_blob("t-other"),))),
    )
    yield (
        "device of a tenant that does not exist, checksum fixed",
        _sql(
            ("UPDATE devices SET body = ? WHERE id = 'dev-0003'", (_device_blob("t-nowhere"),)),
            "UPDATE devices SET crc = crc(body) WHERE id = 'dev-0003'",
        ),
    )
    orphan = Device(id="dev-0004", tenant_id="x", name="Child", parent_id="dev-9999")
    yield (
        "device of a gateway that does not exist, checksum fixed",
        _sql(
            ("UPDATE devices SET body = ? WHERE id = 'dev-0004'", (_codec.encode_record(orphan),)),
            f"UPDATE devices SET tenant_id = {_HOSPITAL} WHERE id = 'dev-0004'",
            "UPDATE devices SET crc = crc(body) WHERE id = 'dev-0004'",
        ),
    )
    stray = User(id="ceo", tenant_id="t-gone", email="c@x.example")
    yield (
        "user of a tenant that does not exist, checksum fixed",
        _sql(
            ("UPDATE users SET body = ? WHERE id = 'ceo'", (_codec.encode_record(stray),)),
            "UPDATE users SET crc = crc(body) WHERE id = 'ceo'",
        ),
    )
    yield (
        "membership of a user that does not exist",
        _sql(
            "INSERT INTO memberships (group_id, user_id, crc) VALUES"
            " ('sb', 'ghost', crc('sb', 'ghost'))"
        ),
    )
    yield (
        "membership of a group that does not exist",
        _sql(
            "INSERT INTO memberships (group_id, user_id, crc) VALUES"
            " ('nowhere', 'ceo', crc('nowhere', 'ceo'))"
        ),
    )
    yield (
        "membership key edited",
        _sql("UPDATE memberships SET user_id = 'cfo' WHERE user_id = 'ceo'"),
    )
    yield (
        "group rule undecodable, checksum fixed",
        _sql(
            "UPDATE group_rules SET rule = x'c1', crc = crc(group_id, x'c1')"
            " WHERE group_id = 'north'"
        ),
    )
    yield (
        "group device of a group that does not exist",
        _sql(
            "INSERT INTO group_devices (group_id, device_id, crc) VALUES"
            " ('ghost', 'gen-1', crc('ghost', 'gen-1'))"
        ),
    )
    yield (
        "group whose parent does not exist, checksum fixed",
        _sql(
            "UPDATE groups SET body = (SELECT body FROM groups WHERE id = 'chain') WHERE id = 'sb'",
            "DELETE FROM groups WHERE id = 'chain'",  # 'sb' is now a second 'chain'
            "UPDATE groups SET crc = crc(body) WHERE id = 'sb'",
        ),
    )
    yield (
        "group that is its own grandparent, checksum fixed",
        _sql(_reparent("groups", Group, "chain", "north")),
    )
    yield (
        "device that is its own gateway's gateway, checksum fixed",
        _sql(_reparent("devices", Device, "gen-1", "probe-1")),
    )
    yield (
        "tenant that is its own parent, checksum fixed",
        _sql(lambda conn: _reparent("tenants", Tenant, _hospital(conn), _hospital(conn))(conn)),
    )
    yield "tenant body garbage", _sql("UPDATE tenants SET body = x'00' WHERE rowid = 1")
    yield (
        "access body garbage, checksum fixed",
        _sql("UPDATE access SET body = x'92', crc = crc(x'92') WHERE rowid = 1"),
    )
    yield "usage body garbage", _sql("UPDATE usage SET body = x'ff'")
    yield (
        "a device row deleted, the totals left",
        _sql("DELETE FROM devices WHERE id = 'gen-2'", totals=False),
    )
    yield (
        "a device row added, the totals left",
        _sql(
            ("INSERT INTO devices (id, tenant_id, body, crc) SELECT 'dev-x', tenant_id, ?,"
             " crc(?) FROM devices WHERE id = 'gen-1'", (_device_blob("t"), _device_blob("t"))),
            totals=False,
        ),
    )  # fmt: skip
    yield (
        "a gateway deleted, the totals fixed",
        _sql("DELETE FROM devices WHERE id = 'sensor-1'"),
    )
    yield (
        "a device row's checksum edited",
        _sql("UPDATE devices SET crc = crc + 1 WHERE id = 'gen-3'"),
    )
    yield (
        "checksum count edited",
        _sql("UPDATE checksums SET rows = rows + 1 WHERE name = 'users'", totals=False),
    )
    yield (
        "checksum total edited",
        _sql("UPDATE checksums SET total = 0 WHERE name = 'groups'", totals=False),
    )
    yield "checksum row deleted", _sql("DELETE FROM checksums WHERE name = 'access'", totals=False)
    yield "checksums table dropped", _sql("DROP TABLE checksums", totals=False)
    yield "head revision lowered", _sql("UPDATE meta SET value = value - 3 WHERE key = 'head'")
    yield "head revision text", _sql("UPDATE meta SET value = 'x' WHERE key = 'head'")
    yield "head revision deleted", _sql("DELETE FROM meta WHERE key = 'head'")
    yield "devices table dropped", _sql("DROP TABLE devices", totals=False)
    yield "schema_migrations emptied", _sql("DELETE FROM schema_migrations")
    yield (
        "schema version from the future",
        _sql("UPDATE schema_migrations SET version = 99 WHERE version = 7"),
    )


DAMAGES = list(damages())


def test_the_damages_are_many_and_distinct(original: Original) -> None:
    names = [name for name, _, _ in DAMAGES]
    assert len(names) == len(set(names))
    assert len(names) >= 290, len(names)
    for name in ("devices", "users", "changes", "audit"):  # the page damages hit many pages
        assert len(original.pages[name]) >= 3, name


@pytest.mark.parametrize("integrity", ["rows", "full"])
def test_a_damaged_file_refuses_to_open_or_answers_as_the_original(
    original: Original, tmp_path: Path, integrity: str
) -> None:
    """Every damage: a StoreError naming the file and the problem, or the same answers;
    what each damage must give is said by its rule (REFUSE, OPEN, FULL, EITHER)."""
    wrong = []
    for number, (name, damage, rule) in enumerate(DAMAGES):
        path = tmp_path / f"copy-{number}.db"
        damage(original, path)
        outcome = _open(path, original, integrity, name)
        must = {REFUSE: "refused", OPEN: "same"}.get(rule)
        if rule == FULL and integrity == "full":
            must = "refused"
        if must is not None and outcome != must:
            wrong.append(f"{name}: {outcome}, expected {must}")
    assert not wrong, wrong


def _open(path: Path, original: Original, integrity: str, name: str) -> str:
    """ "refused" (a StoreError naming the file and the problem) or "same" (the original's
    answers); anything else (another exception, other answers) fails the test."""
    try:
        with tenancy.open(path, staleness=None, integrity=integrity) as tn:
            answers = _answers(tn)
    except StoreError as exc:
        text = str(exc)
        assert str(path) in text, f"{name}: the error does not name the file: {text}"
        assert len(text) > len(str(path)) + 10, f"{name}: the error names no problem: {text}"
        return "refused"
    if name.startswith("WAL") and answers["revision"] != original.answers["revision"]:
        # The commit the WAL held was kept: the answers are those after it.
        assert answers == _after_wal(original, path.with_name("wal-reference.db")), name
    else:
        assert answers == original.answers, f"{name}: opened with different answers"
    return "same"


_WAL_ANSWERS: dict[str, Answers] = {}


def _after_wal(original: Original, path: Path) -> Answers:
    """The answers after the commit the WAL cases hold (made the same way, intact)."""
    if "answers" not in _WAL_ANSWERS:
        _with_wal(lambda b: b)(original, path)
        with tenancy.open(path, staleness=None) as tn:
            _WAL_ANSWERS["answers"] = _answers(tn)
        assert _WAL_ANSWERS["answers"]["revision"] == original.answers["revision"] + 1
    return _WAL_ANSWERS["answers"]


# --------------------------------------------------------------------------- the change log


def _edited(original: Original, path: Path, *statements: str) -> None:
    _sql(*statements)(original, path)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("UPDATE changes SET body = x'c1' WHERE revision = (SELECT max(revision) FROM changes)",
         "checksum mismatch"),
        ("UPDATE changes SET body = x'c1', crc = crc(x'c1'), at = NULL, actor = NULL"
         " WHERE revision = (SELECT max(revision) FROM changes)", "does not decode"),
        ("DELETE FROM changes WHERE revision = (SELECT max(revision) FROM changes) - 1",
         "skips from revision"),
        ("UPDATE meta SET value = 1 WHERE key = 'log_floor'", None),
        ("UPDATE meta SET value = 'x' WHERE key = 'log_floor'", "log floor"),
    ],
)  # fmt: skip
def test_a_damaged_change_log_is_refused_when_it_is_read(
    original: Original, tmp_path: Path, edit: str, problem: str | None
) -> None:
    """The open does not read the change log; a handle catching up does, and each row is
    checked against its checksum, and the revisions against each other and the head."""
    path = tmp_path / "log.db"
    _edited(original, path, edit)
    store = SQLiteStore(path)
    try:
        head = store.head()
        if problem is None:  # a harmless edit: the log still reads whole
            assert [c.revision for c in store.changes_since(head - 5)] == list(
                range(head - 4, head + 1)
            )
            return
        with pytest.raises(StoreError, match=problem) as caught:
            store.changes_since(head - 5)
        assert str(path) in str(caught.value)
        assert store.head() == head  # the store still answers after the failed read
    finally:
        store.close()


def test_a_row_damaged_after_the_open_is_refused_by_the_write_that_reads_it(
    original: Original, tmp_path: Path
) -> None:
    path = tmp_path / "late.db"
    path.write_bytes(original.data)
    with tenancy.open(path, staleness=None) as tn:
        tenant = tn.find_tenant("hospital")
        assert tenant is not None
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE devices SET body = x'c1c1' WHERE id = 'gen-1'")
        conn.close()
        with pytest.raises(StoreError, match="damaged"):
            tn.tenant(tenant.id).tag_device("gen-1", [("x", "y")])
        assert tn.tenant(tenant.id).get_device("gen-1").tags == frozenset({("site", "sb")})


# --------------------------------------------------------------------------- new stores


def test_a_missing_file_becomes_a_new_store_and_never_shows_empty(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with tenancy.open(path) as tn:
        assert tn.revision == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with tenancy.open(f"sqlite:///{path}?create=false", staleness=None) as tn:
        assert tn.revision == 1


def test_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match=r"missing\.db: no such store"):
        tenancy.open(path, create=False)
    assert not path.exists()


@pytest.mark.parametrize("maker", ["empty", "no tables", "foreign"])
def test_an_empty_or_foreign_file_is_refused_and_left_as_it_was(tmp_path: Path, maker: str) -> None:
    path = tmp_path / "x.db"
    {"empty": lambda p: p.write_bytes(b""), "no tables": _no_tables, "foreign": _foreign}[maker](
        path
    )
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"x\.db (is empty|is not a tenancy store)"):
        tenancy.open(path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()
    if maker == "foreign":  # create=True makes a store only in an empty file
        with pytest.raises(StoreError, match="not a tenancy store"):
            tenancy.open(path, create=True)
        return
    with tenancy.open(path, create=True, staleness=None) as tn:
        tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    with tenancy.open(path, create=False, staleness=None) as tn:
        assert tn.find_tenant("acme") is not None


def test_the_file_options_are_checked_and_belong_to_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="integrity") as caught:
        tenancy.open(tmp_path / "a.db", integrity="paranoid")
    assert caught.value.field == "integrity"
    with pytest.raises(InvalidValue, match="create"):
        tenancy.open(tmp_path / "a.db", create="yes")
    with pytest.raises(InvalidValue, match="integrity= is an option of a SQLite file"):
        tenancy.open(None, integrity="full")
    with pytest.raises(InvalidValue, match="create"):
        tenancy.open(f"sqlite:///{tmp_path / 'a.db'}?create=maybe")
    with tenancy.open(f"sqlite:///{tmp_path / 'b.db'}?integrity=full", staleness=None) as tn:
        assert tn.revision == 1
    assert not (tmp_path / "a.db").exists()


# --------------------------------------------------------------------------- the totals


def _recomputed(store: SQLiteStore) -> dict[str, tuple[int, int]]:
    """Each table's (rows, checksum total) from its rows, checksums recomputed."""
    conn = store._conn
    found = {}
    for table, key in (
        ("memberships", "group_id, user_id"),
        ("group_devices", "group_id, device_id"),
        ("group_rules", "group_id, rule"),
    ):
        rows = conn.execute(f"SELECT {key} FROM {table}").fetchall()
        found[table] = (len(rows), sum(_codec.key_crc(a, b) for a, b in rows))
    for table in set(CHECKED) - set(found):
        blobs = [b for (b,) in conn.execute(f"SELECT body FROM {table}")]
        found[table] = (len(blobs), sum(map(_codec.row_crc, blobs)))
    return found  # fmt: skip


def _stored(store: SQLiteStore) -> dict[str, tuple[int, int]]:
    rows = store._conn.execute("SELECT name, rows, total FROM checksums")
    return {name: (count, total) for name, count, total in rows}


def _commit_then_fail(store: SQLiteStore, change: Change) -> None:
    with store.atomic():
        store.commit([change], expected_revision=store.head())
        raise StoreError("undo")


def test_every_write_keeps_the_totals_of_what_it_changed(tmp_path: Path) -> None:
    """The sample history (every change type, every cascade) and, after it, writes that
    take the slow paths: a creation of an id already there, a membership and an
    association twice, a commit rolled back inside another."""
    store = SQLiteStore(tmp_path / "totals.db")
    try:
        for changes in sample_commits():
            store.commit(changes, expected_revision=store.head())
            assert _stored(store) == _recomputed(store)
        snapshot = store.snapshot()
        device, user = snapshot.devices[0], snapshot.users[0]
        group = snapshot.groups[0]
        again: list[Change] = [
            DeviceCreated(device=msgspec.structs.replace(device, name="Renamed")),
            DeviceCreated(device=msgspec.structs.replace(device, name="Twice")),
            MemberAdded(group_id=group.id, user_id=user.id),
            MemberAdded(group_id=group.id, user_id=user.id),
            Associated(group_id=group.id, device_ids=frozenset({device.id})),
            Associated(group_id=group.id, device_ids=frozenset({device.id})),
        ]
        store.commit(again, expected_revision=store.head())
        with pytest.raises(StoreError, match="undo"):
            _commit_then_fail(store, UserCreated(user=msgspec.structs.replace(user, id="u-new")))
        assert _stored(store) == _recomputed(store)
        assert next(d for d in store.snapshot().devices if d.id == device.id).name == "Twice"
    finally:
        store.close()

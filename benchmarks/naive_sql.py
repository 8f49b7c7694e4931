"""The baseline a user would write by hand: the hierarchy in SQLite, reach by WITH RECURSIVE.

Plain tables with the indexes a careful user adds (parents, memberships both ways, device
ids, tags by (key, value)); verify walks *up* from the device (its gateways, the groups
associating them, their ancestors) and meets the user's memberships, which is the cheap
direction; users_for walks up the same way and joins the memberships of every group met;
a listing walks *down* from the user's groups to every device below and sorts, which is
the only direction SQL offers for a listing (the first page and the full enumeration are
the same query, with and without LIMIT). Writes are single statements in a transaction:
the hierarchy is only a ``parent_id`` column, so moving a subtree is one UPDATE (and every
read pays for it instead). The workload only uses exact ``(key, value)`` rules, so rules
join on equality and can use the index.
"""

from __future__ import annotations

import sqlite3

from tenancy.testing.workload import Workload

__all__ = ["NaiveSQL"]

SCHEMA = """
CREATE TABLE groups (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, parent_id TEXT);
CREATE TABLE devices (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, parent_id TEXT);
CREATE TABLE users (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, enabled INTEGER NOT NULL);
CREATE TABLE memberships (
    user_id TEXT NOT NULL, group_id TEXT NOT NULL, PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;
CREATE TABLE group_devices (
    group_id TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (group_id, device_id)
) WITHOUT ROWID;
CREATE TABLE device_tags (
    device_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (device_id, key, value)
) WITHOUT ROWID;
CREATE TABLE group_rules (
    group_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (group_id, key, value)
) WITHOUT ROWID;
"""

INDEXES = """
CREATE INDEX groups_parent ON groups (parent_id);
CREATE INDEX devices_parent ON devices (parent_id);
CREATE INDEX memberships_group ON memberships (group_id);
CREATE INDEX group_devices_device ON group_devices (device_id);
CREATE INDEX device_tags_pair ON device_tags (key, value);
CREATE INDEX group_rules_pair ON group_rules (key, value);
"""

UP_FROM_DEVICE = """
WITH RECURSIVE
  chain(id) AS (
    SELECT :device
    UNION
    SELECT d.parent_id FROM devices d JOIN chain ON d.id = chain.id WHERE d.parent_id IS NOT NULL
  ),
  assoc(group_id) AS (
    SELECT gd.group_id FROM chain JOIN group_devices gd ON gd.device_id = chain.id
    UNION
    SELECT r.group_id FROM chain
      JOIN devices d ON d.id = chain.id
      JOIN device_tags t ON t.device_id = chain.id
      JOIN group_rules r ON r.key = t.key AND r.value = t.value
      JOIN groups g ON g.id = r.group_id AND g.tenant_id = d.tenant_id
  ),
  up(id) AS (
    SELECT group_id FROM assoc
    UNION
    SELECT g.parent_id FROM groups g JOIN up ON g.id = up.id WHERE g.parent_id IS NOT NULL
  )
"""
"""The groups that cover :device: its gateways (chain), the groups associating any of
them by id or tag (assoc), and every ancestor of those (up). Shared by verify and users_for."""

VERIFY = (
    UP_FROM_DEVICE
    + """
SELECT EXISTS (
  SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
  WHERE m.user_id = :user AND u.enabled AND m.group_id IN (SELECT id FROM up)
)
"""
)

USERS_FOR = (
    UP_FROM_DEVICE
    + """
SELECT DISTINCT m.user_id FROM up
  JOIN memberships m ON m.group_id = up.id
  JOIN users u ON u.id = m.user_id
WHERE u.enabled
ORDER BY m.user_id
"""
)

FIRST_PAGE = """
WITH RECURSIVE
  below(id) AS (
    SELECT m.group_id FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.user_id = :user AND u.enabled
    UNION
    SELECT g.id FROM groups g JOIN below ON g.parent_id = below.id
  ),
  direct(id) AS (
    SELECT gd.device_id FROM below JOIN group_devices gd ON gd.group_id = below.id
    UNION
    SELECT t.device_id FROM below
      JOIN groups g ON g.id = below.id
      JOIN group_rules r ON r.group_id = below.id
      JOIN device_tags t ON t.key = r.key AND t.value = r.value
      JOIN devices d ON d.id = t.device_id AND d.tenant_id = g.tenant_id
  ),
  reached(id) AS (
    SELECT id FROM direct
    UNION
    SELECT d.id FROM devices d JOIN reached ON d.parent_id = reached.id
  )
SELECT id FROM reached WHERE :after IS NULL OR id > :after ORDER BY id LIMIT :limit
"""


class NaiveSQL:
    """The workload's records in SQLite (in memory by default) and the two queries."""

    def __init__(self, w: Workload, path: str = ":memory:") -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)
        # A bulk load as a careful user does it: rows in key order, secondary indexes after.
        with self.db:
            self.db.executemany(
                "INSERT INTO groups VALUES (?, ?, ?)",
                sorted((g, w.group_tenant[g], p) for g, p in w.group_parent.items()),
            )
            self.db.executemany(
                "INSERT INTO devices VALUES (?, ?, ?)",
                sorted((d, p.tenant_id, p.parent_id) for d, p in w.devices.items()),
            )
            self.db.executemany(
                "INSERT INTO users VALUES (?, ?, 1)", sorted(w.user_tenant.items())
            )  # every workload user is enabled
            self.db.executemany(
                "INSERT INTO memberships VALUES (?, ?)",
                sorted((u, g) for u, gs in w.user_groups.items() for g in gs),
            )
            self.db.executemany(
                "INSERT INTO group_devices VALUES (?, ?)",
                sorted((g, d) for g, ds in w.group_device_ids.items() for d in ds),
            )
            self.db.executemany(
                "INSERT INTO device_tags VALUES (?, ?, ?)",
                sorted((d, k, v) for d, p in w.devices.items() for k, v in p.tags),
            )
            self.db.executemany(
                "INSERT INTO group_rules VALUES (?, ?, ?)",
                sorted((g, k, v) for g, rules in w.group_rules.items() for k, v in rules),
            )
        self.db.executescript(INDEXES)
        # No ANALYZE on purpose: with statistics, SQLite 3.40 puts a Bloom filter on the
        # recursive step that scans the devices table on every query (1 ms instead of 40 us
        # at M); most users never run ANALYZE, and the baseline should be their best case.

    def verify(self, user_id: str, device_id: str) -> bool:
        row = self.db.execute(VERIFY, {"user": user_id, "device": device_id}).fetchone()
        return bool(row[0])

    def first_page(self, user_id: str, limit: int = 100, after: str | None = None) -> list[str]:
        rows = self.db.execute(FIRST_PAGE, {"user": user_id, "after": after, "limit": limit})
        return [r[0] for r in rows]

    def all_devices(self, user_id: str) -> list[str]:
        """Every device the user reaches, sorted: the listing query without a LIMIT."""
        return self.first_page(user_id, -1)

    def users_for(self, device_id: str) -> list[str]:
        return [r[0] for r in self.db.execute(USERS_FOR, {"device": device_id})]

    # ----------------------------------------------------------------- writes

    def tag(self, device_id: str, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO device_tags VALUES (?, ?, ?)", (device_id, key, value))

    def untag(self, device_id: str, key: str, value: str) -> None:
        with self.db:
            self.db.execute(
                "DELETE FROM device_tags WHERE device_id = ? AND key = ? AND value = ?",
                (device_id, key, value),
            )

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO memberships VALUES (?, ?)", (user_id, group_id))

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.db:
            self.db.execute(
                "DELETE FROM memberships WHERE user_id = ? AND group_id = ?", (user_id, group_id)
            )

    def create_device(self, device_id: str, tenant_id: str, tags: list[tuple[str, str]]) -> None:
        with self.db:
            self.db.execute("INSERT INTO devices VALUES (?, ?, NULL)", (device_id, tenant_id))
            self.db.executemany(
                "INSERT INTO device_tags VALUES (?, ?, ?)", [(device_id, k, v) for k, v in tags]
            )

    def move_group(self, group_id: str, parent_id: str | None) -> None:
        with self.db:
            self.db.execute("UPDATE groups SET parent_id = ? WHERE id = ?", (parent_id, group_id))

    def close(self) -> None:
        self.db.close()

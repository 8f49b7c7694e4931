"""The baseline a user would write by hand: the hierarchy in SQLite, reach by WITH RECURSIVE.

Plain tables with the indexes a careful user adds (parents, memberships both ways, device
ids, tags by (key, value)); verify walks *up* from the device (its gateways, the groups
associating them, their ancestors) and meets the user's memberships, which is the cheap
direction; the first page walks *down* from the user's groups to every device below and
sorts, which is the only direction SQL offers for a listing. The workload only uses exact
``(key, value)`` rules, so rules join on equality and can use the index.
"""

from __future__ import annotations

import sqlite3

from tenancy.testing.workload import Workload

__all__ = ["NaiveSQL"]

SCHEMA = """
CREATE TABLE groups (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, parent_id TEXT);
CREATE INDEX groups_parent ON groups (parent_id);
CREATE TABLE devices (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, parent_id TEXT);
CREATE INDEX devices_parent ON devices (parent_id);
CREATE TABLE users (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, enabled INTEGER NOT NULL);
CREATE TABLE memberships (
    user_id TEXT NOT NULL, group_id TEXT NOT NULL, PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;
CREATE INDEX memberships_group ON memberships (group_id);
CREATE TABLE group_devices (
    group_id TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (group_id, device_id)
) WITHOUT ROWID;
CREATE INDEX group_devices_device ON group_devices (device_id);
CREATE TABLE device_tags (
    device_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (device_id, key, value)
) WITHOUT ROWID;
CREATE INDEX device_tags_pair ON device_tags (key, value);
CREATE TABLE group_rules (
    group_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (group_id, key, value)
) WITHOUT ROWID;
CREATE INDEX group_rules_pair ON group_rules (key, value);
"""

VERIFY = """
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
SELECT EXISTS (
  SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
  WHERE m.user_id = :user AND u.enabled AND m.group_id IN (SELECT id FROM up)
)
"""

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
        with self.db:
            self.db.executemany(
                "INSERT INTO groups VALUES (?, ?, ?)",
                ((g, w.group_tenant[g], p) for g, p in w.group_parent.items()),
            )
            self.db.executemany(
                "INSERT INTO devices VALUES (?, ?, ?)",
                ((d, p.tenant_id, p.parent_id) for d, p in w.devices.items()),
            )
            self.db.executemany(
                "INSERT INTO users VALUES (?, ?, 1)", w.user_tenant.items()
            )  # every workload user is enabled
            self.db.executemany(
                "INSERT INTO memberships VALUES (?, ?)",
                ((u, g) for u, gs in w.user_groups.items() for g in gs),
            )
            self.db.executemany(
                "INSERT INTO group_devices VALUES (?, ?)",
                ((g, d) for g, ds in w.group_device_ids.items() for d in ds),
            )
            self.db.executemany(
                "INSERT INTO device_tags VALUES (?, ?, ?)",
                ((d, k, v) for d, p in w.devices.items() for k, v in p.tags),
            )
            self.db.executemany(
                "INSERT INTO group_rules VALUES (?, ?, ?)",
                ((g, k, v) for g, rules in w.group_rules.items() for k, v in rules),
            )
        # No ANALYZE on purpose: with statistics, SQLite 3.40 puts a Bloom filter on the
        # recursive step that scans the devices table on every query (1 ms instead of 40 us
        # at M); most users never run ANALYZE, and the baseline should be their best case.

    def verify(self, user_id: str, device_id: str) -> bool:
        row = self.db.execute(VERIFY, {"user": user_id, "device": device_id}).fetchone()
        return bool(row[0])

    def first_page(self, user_id: str, limit: int = 100, after: str | None = None) -> list[str]:
        rows = self.db.execute(FIRST_PAGE, {"user": user_id, "after": after, "limit": limit})
        return [r[0] for r in rows]

    def close(self) -> None:
        self.db.close()

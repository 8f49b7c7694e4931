"""Reads during writes: readers on several threads and one writer on the same handle.

STYLE.md's promise, held here: a query sees each entity either before or after a
concurrent write, never half of it. Every answer a reader gets (a page of devices_for,
with and without a permission, devices_in, TenantScope.devices, users_for, explain, check,
verify) must equal the answer at one of the revisions the handle went through while the
reader waited; a page must also be sorted and free of duplicates. The writer records the
whole answer after each of its writes (no other writer runs, so that answer is exact), and
the readers' answers are compared once every thread has stopped.

The lists here hold a few hundred ids, well under SortedIds.LARGE: plain Python lists that
an insert or a delete shifts while a reader walks them. A short switch interval makes the
interpreter switch threads often enough to land a write inside a listing.
"""

from __future__ import annotations

import bisect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import tenancy
from tenancy import Tenancy, TenantScope
from tenancy.testing.fixtures import seeded_random

DEVICES = 400
"""Devices at the start; the writer adds and deletes around this many."""
USERS = 12
WRITES = 1_500
"""At most this many writes; the test also stops after SECONDS, once it made MIN_WRITES."""
SECONDS = 3.0
MIN_WRITES = 150
"""Writes made whatever the clock says: on a busy or slow machine three seconds of writes
under readers switching every few microseconds was once fewer than the 100 the test needs
to mean anything (95 once, in a full run of this session)."""
READERS = 3
FIXED = ("d-fixed-1", "d-fixed-2")
"""Devices the writer never deletes: users_for, explain, check and verify ask about them."""


@contextmanager
def _switching_often() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _world() -> tuple[Tenancy, TenantScope]:
    tn = tenancy.open(staleness=None)
    t = tn.tenant(tn.create_tenant(domain="fleet", name="Fleet", admin_email="a@f.example").id)
    t.create_group("Site", id="g-site", device_tags=[("site", "a")])
    t.create_group("Yard", id="g-yard", parent="g-site", device_tags=[("yard", None)])
    t.create_devices(
        [{"name": n, "id": n, "tags": [("site", "a"), ("yard", "1")]} for n in FIXED]
        + [
            {"name": f"d{i}", "id": f"d{i * 7919 % 10_000:04d}", "tags": [("site", "a")]}
            for i in range(DEVICES)
        ]
    )
    t.create_user("reader@f.example", id="u-reader")
    t.add_member("g-site", "u-reader")
    for i in range(USERS):
        t.create_user(f"u{i}@f.example", id=f"u{i:02d}")
        if i % 2:
            t.add_member("g-yard", f"u{i:02d}")
    return tn, t


Answers = dict[str, Any]


def _answers(tn: Tenancy, t: TenantScope) -> Answers:
    """Every answer the readers ask for, whole, on a quiet handle."""
    everything = 10_000
    out: Answers = {
        "devices_for": [d.id for d in tn.devices_for("u-reader", limit=everything)],
        "devices_for_read": [
            d.id for d in tn.devices_for("u-reader", limit=everything, permission="device:READ")
        ],
        "devices_in": [d.id for d in tn.devices_in("g-site", limit=everything)],
        "tenant_devices": [d.id for d in t.devices(limit=everything)],
    }
    for device_id in FIXED:
        out[f"users_for {device_id}"] = [u.id for u in tn.users_for(device_id)]
    for i in range(USERS):
        uid = f"u{i:02d}"
        out[f"explain {uid}"] = tn.explain(uid, FIXED[0]).code
        out[f"check {uid}"] = tn.check(uid, "device:READ", FIXED[0])
        out[f"verify {uid}"] = tn.verify(uid, FIXED[0])
    return out


def _writer(
    tn: Tenancy, t: TenantScope, answers: dict[int, Answers], stop: threading.Event
) -> None:
    rng = seeded_random("reads during writes")
    extra: list[str] = []
    in_yard = {f"u{i:02d}" for i in range(1, USERS, 2)}
    deadline = time.monotonic() + SECONDS
    for n in range(WRITES):
        if n >= MIN_WRITES and time.monotonic() > deadline:
            break
        pick = rng.random()
        if pick < 0.35 or not extra:
            did = f"d{rng.randrange(10_000):04d}x{n}"
            t.create_device(did, id=did, tags=[("site", "a")])
            bisect.insort(extra, did)
        elif pick < 0.65:
            t.delete_device(extra.pop(rng.randrange(len(extra))))
        elif pick < 0.8:
            uid = f"u{rng.randrange(USERS):02d}"
            if uid in in_yard:
                t.remove_member("g-yard", uid)
                in_yard.discard(uid)
            else:
                t.add_member("g-yard", uid)
                in_yard.add(uid)
        else:
            did = extra[rng.randrange(len(extra))]
            if ("site", "a") in t.get_device(did).tags:
                t.untag_device(did, [("site", "a")])
            else:
                t.tag_device(did, [("site", "a")])
        answers[tn.revision] = _answers(tn, t)
    stop.set()


Seen = tuple[int, int, str, str | None, int | None, Any]
"""(revision before, revision after, what was asked, the cursor's last id, the page size,
the answer)."""


def _reader(
    tn: Tenancy, t: TenantScope, seen: list[Seen], stop: threading.Event, small: int
) -> None:
    def ask(
        what: str, call: Callable[[], Any], last: str | None = None, limit: int | None = None
    ) -> Any:
        before = tn.revision
        answer = call()
        seen.append((before, tn.revision, what, last, limit, answer))
        return answer

    def walk(what: str, listing: Callable[..., tenancy.Page[Any]]) -> None:
        """Every page of a listing, ``small`` devices at a time, each checked alone."""
        cursor, last = None, None
        while True:
            page = ask(what, partial(listing, limit=small, after=cursor), last, small)
            ids = [d.id for d in page]
            if page.next is None or not ids:
                return
            cursor, last = page.next, ids[-1]

    def users_of(device_id: str) -> list[str]:
        return [u.id for u in tn.users_for(device_id)]

    def explain_code(user_id: str) -> str:
        return tn.explain(user_id, FIXED[0]).code

    while not stop.is_set():
        ask("devices_for", lambda: [d.id for d in tn.devices_for("u-reader", limit=10_000)])
        walk("devices_for", lambda **kw: tn.devices_for("u-reader", **kw))
        walk(
            "devices_for_read",
            lambda **kw: tn.devices_for("u-reader", permission="device:READ", **kw),
        )
        walk("devices_in", lambda **kw: tn.devices_in("g-site", **kw))
        walk("tenant_devices", t.devices)
        for device_id in FIXED:
            ask(f"users_for {device_id}", partial(users_of, device_id))
        for i in range(0, USERS, 3):
            uid = f"u{i:02d}"
            ask(f"explain {uid}", partial(explain_code, uid))
            ask(f"check {uid}", partial(tn.check, uid, "device:READ", FIXED[0]))
            ask(f"verify {uid}", partial(tn.verify, uid, FIXED[0]))


def _agrees(whole: Any, last: str | None, limit: int | None, answer: Any) -> bool:
    """Is ``answer`` the answer when the whole answer is ``whole``? A page holds the first
    ``limit`` ids after the cursor's last id, and has a next page when more follow."""
    if limit is None:
        return bool(answer == whole)
    rest = whole[0 if last is None else bisect.bisect_right(whole, last) :]
    ids = [d.id for d in answer]
    return ids == rest[:limit] and (answer.next is None) == (len(rest) <= limit)


def _problem(answers: dict[int, Answers], entry: Seen) -> str | None:
    before, after, what, last, limit, answer = entry
    got = answer if limit is None else [d.id for d in answer]
    if isinstance(got, list) and got != sorted(set(got)):
        return f"{what} after {last!r}: not sorted or not unique: {got}"
    # The index holds revision r + 1 whole a moment before tn.revision says so; revisions
    # no write of the test made (none here) keep the answers of the one before.
    known = sorted(answers)
    first = known[max(bisect.bisect_right(known, before) - 1, 0)]
    states = [answers[r] for r in known if first <= r <= after + 1]
    if any(_agrees(state[what], last, limit, answer) for state in states):
        return None
    return f"{what} after {last!r} between revisions {before} and {after}: got {got}"


def test_every_answer_is_one_from_before_or_after_each_write() -> None:
    tn, t = _world()
    answers: dict[int, Answers] = {tn.revision: _answers(tn, t)}
    stop = threading.Event()
    seen: list[list[Seen]] = [[] for _ in range(READERS)]
    threads = [threading.Thread(target=_writer, args=(tn, t, answers, stop))] + [
        threading.Thread(target=_reader, args=(tn, t, seen[i], stop, (7, 50, 1_000)[i % 3]))
        for i in range(READERS)
    ]
    with _switching_often():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 60)
    assert not any(thread.is_alive() for thread in threads), "a thread did not stop"
    assert len(answers) > 100, "the writer wrote too little to test anything"
    entries = [e for per_reader in seen for e in per_reader]
    problems = [p for e in entries if (p := _problem(answers, e)) is not None]
    assert not problems, (
        f"{len(problems)} of {len(entries)} answers were neither before nor after a write; "
        f"first: {problems[:3]}"
    )
    tn.index.check_invariants()
    tn.close()


# ---------------------------------------------------------------- tenant listings

LISTING_SECONDS = 2.0
"""The writer of the tenant-listing test stops after this long (or LISTING_WRITES)."""
LISTING_WRITES = 1_500


def _listing_world() -> tuple[Tenancy, TenantScope]:
    tn = tenancy.open(staleness=None)
    t = tn.tenant(tn.create_tenant(domain="rooms", name="Rooms", admin_email="a@r.example").id)
    t.create_group("Fixed", id="g-fixed")
    t.create_devices([{"name": f"d{i}", "id": f"d{i:03d}"} for i in range(40)])
    t.create_user("owner@r.example", id="u-owner")
    t.create_user("sub@r.example", id="u-owner-sub", owner="u-owner")
    for i in range(30):
        t.create_group(f"G{i}", id=f"g{i:03d}")
        t.create_user(f"u{i}@r.example", id=f"u{i:03d}", owner="u-owner" if i % 2 else None)
    return tn, t


def _listing_answers(t: TenantScope) -> Answers:
    """What the listing readers ask for, as sortable tuples: whole records, so an answer
    with half of a write (a group's device ids, a user's name) differs from every state."""
    return {
        "groups": [(g.id, g.name, tuple(sorted(g.device_ids))) for g in t.groups()],
        "users": [(u.id, u.first_name, u.owner_id or "") for u in t.users()],
        "sub_users": [(u.id, u.first_name) for u in t.sub_users("u-owner", recursive=True)],
        "get_group": [(g.name, tuple(sorted(g.device_ids))) for g in [t.get_group("g-fixed")]],
        # One entry per look-up: each is one read, checked against one state (a list of six
        # reads would mix the states of the writes between them).
        **{
            f"find_user u{i}": [(u.id, u.first_name) for u in [t.find_user(f"u{i}@r.example")] if u]
            for i in range(0, 30, 5)
        },
        "roles_of": t.roles_of("u-owner"),
        "inventory_grants_of": [(g.role, g.group_id) for g in t.inventory_grants_of("u-owner")],
    }


def _listing_writer(
    tn: Tenancy, t: TenantScope, answers: dict[int, Answers], stop: threading.Event
) -> None:
    """Creates and deletes groups and (sub-)users, so a reader's record look-up can miss;
    edits fixed records, so a reader can see one half-applied."""
    rng = seeded_random("tenant listings during writes")
    groups = [f"g{i:03d}" for i in range(30)]
    users = [f"u{i:03d}" for i in range(30)]
    roles = {"business", "readonly"}
    held: set[str] = set()
    deadline = time.monotonic() + LISTING_SECONDS
    try:
        for n in range(LISTING_WRITES):
            if time.monotonic() > deadline:
                break
            pick = rng.random()
            if pick < 0.2 or len(groups) < 5:
                gid = f"g{rng.randrange(1_000):03d}x{n}"
                t.create_group(gid, id=gid)
                bisect.insort(groups, gid)
            elif pick < 0.4:
                gid = groups.pop(rng.randrange(len(groups)))
                t.revoke_inventory_role("u-owner", "viewer", group=gid)
                t.delete_group(gid)
            elif pick < 0.55 or len(users) < 5:
                uid = f"u{rng.randrange(1_000):03d}x{n}"
                t.create_user(f"{uid}@r.example", id=uid, owner="u-owner" if n % 2 else None)
                bisect.insort(users, uid)
            elif pick < 0.7:
                t.delete_user(users.pop(rng.randrange(len(users))))
            elif pick < 0.8:
                did = f"d{rng.randrange(40):03d}"
                if did in t.get_group("g-fixed").device_ids:
                    t.dissociate("g-fixed", device_ids=[did])
                else:
                    t.associate("g-fixed", device_ids=[did])
            elif pick < 0.9:
                t.update_user("u-owner-sub", first_name=f"Sub {n}")
                t.update_group("g-fixed", name=f"Fixed {n}")
            elif pick < 0.95:
                role = rng.choice(sorted(roles))
                if role in held:
                    t.revoke_role("u-owner", role)
                    held.discard(role)
                else:
                    t.grant_role("u-owner", role)
                    held.add(role)
            else:
                t.grant_inventory_role("u-owner", "viewer", group=rng.choice(groups))
            answers[tn.revision] = _listing_answers(t)
    finally:
        stop.set()


def _listing_reader(
    tn: Tenancy, t: TenantScope, seen: list[Seen], errors: list[BaseException],
    stop: threading.Event,
) -> None:  # fmt: skip
    try:
        while not stop.is_set():
            before = tn.revision
            answer = _listing_answers(t)
            after = tn.revision
            seen.extend((before, after, what, None, None, got) for what, got in answer.items())
    except BaseException as error:  # a KeyError from a record a write deleted, say
        errors.append(error)


def test_tenant_listings_are_whole_during_writes() -> None:
    """TenantScope.groups, users, sub_users, roles_of, inventory_grants_of, get_group and
    find_user walk index tables that a write on another thread changes: each answer must
    be one from before or after each write, and no reader may see a KeyError from a record
    deleted meanwhile."""
    tn, t = _listing_world()
    answers: dict[int, Answers] = {tn.revision: _listing_answers(t)}
    stop = threading.Event()
    seen: list[list[Seen]] = [[] for _ in range(READERS)]
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_listing_writer, args=(tn, t, answers, stop))] + [
        threading.Thread(target=_listing_reader, args=(tn, t, seen[i], errors, stop))
        for i in range(READERS)
    ]
    with _switching_often():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=LISTING_SECONDS + 60)
    assert not any(thread.is_alive() for thread in threads), "a thread did not stop"
    assert not errors, f"a reader raised: {errors[:3]!r}"
    assert len(answers) > 100, "the writer wrote too little to test anything"
    entries = [e for per_reader in seen for e in per_reader]
    assert len(entries) > 100, "the readers read too little to test anything"
    problems = [p for e in entries if (p := _problem(answers, e)) is not None]
    assert not problems, (
        f"{len(problems)} of {len(entries)} answers were neither before nor after a write; "
        f"first: {problems[:3]}"
    )
    tn.index.check_invariants()
    tn.close()

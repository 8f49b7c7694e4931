"""Hypothesis strategies shared by the property tests (and by applications testing their
own use of tenancy).

Tags come from a deliberately tiny alphabet (three keys, three values, and the same values
under every key) so that randomly drawn tag rules match randomly drawn devices often, and
``(None, value)`` matchers really do match across keys. A *world plan* is a small random
tenant (a group forest, devices with gateways, users with memberships, device recipes)
described by indices, so it shrinks well; :func:`build_world` creates it through the public API with
deterministic ids, so a failing example replays identically. A *share plan* is a connector
between two such worlds (DOMAIN.md section 7), accepted or not, either side toggled off;
:func:`build_shares` creates them.

>>> import tenancy
>>> plan = WorldPlan(
...     devices=(DevicePlan(tags=frozenset({("site", "a")})),),
...     groups=(GroupPlan(rules=(("site", None),)),),
...     users=(UserPlan(groups=(0,)),),
... )
>>> tn = tenancy.open()
>>> world = build_world(tn, plan)
>>> tn.verify(world.user_ids[0], world.device_ids[0])
True
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from tenancy.handle.tenancy import Tenancy
from tenancy.records.model import AllOf, Tag, all_of

__all__ = [
    "TAG_KEYS",
    "TAG_VALUES",
    "DevicePlan",
    "GroupPlan",
    "Matcher",
    "RawRule",
    "RecipePlan",
    "SharePlan",
    "UserPlan",
    "World",
    "WorldPlan",
    "build_shares",
    "build_world",
    "domains",
    "emails",
    "matchers",
    "names",
    "share_plans",
    "tag_keys",
    "tag_pairs",
    "tag_rules",
    "tag_sets",
    "tag_values",
    "user_tags",
    "world_plans",
]

TAG_KEYS: tuple[str, ...] = ("site", "kind", "zone")
TAG_VALUES: tuple[str, ...] = ("a", "b", "c")

Matcher = tuple[str | None, str | None]
RawRule = Matcher | AllOf
"""A tag rule as a caller writes it: one matcher, or an :func:`~tenancy.all_of`."""


def tag_keys() -> st.SearchStrategy[str]:
    return st.sampled_from(TAG_KEYS)


def tag_values() -> st.SearchStrategy[str]:
    return st.sampled_from(TAG_VALUES)


def tag_pairs() -> st.SearchStrategy[Tag]:
    """One ``(key, value)`` tag from the small alphabet."""
    return st.tuples(tag_keys(), tag_values())


def tag_sets(*, max_size: int = 3) -> st.SearchStrategy[frozenset[Tag]]:
    """A device's tags: a few pairs; a key may carry several values."""
    return st.frozensets(tag_pairs(), max_size=max_size)


def matchers() -> st.SearchStrategy[Matcher]:
    """Each of the three matcher forms: ``(k, v)``, ``(k, None)`` and ``(None, v)``."""
    return st.one_of(
        st.tuples(tag_keys(), tag_values()),
        st.tuples(tag_keys(), st.none()),
        st.tuples(st.none(), tag_values()),
    )


def tag_rules() -> st.SearchStrategy[RawRule]:
    """A tag rule: one matcher (most often) or an all-of of two or three matchers."""
    return st.one_of(
        matchers(),
        st.lists(matchers(), min_size=2, max_size=3).map(lambda ms: all_of(*ms)),
    )


_NAME_CHARS = st.characters(codec="utf-8", categories=("L", "N", "Zs"))


def names() -> st.SearchStrategy[str]:
    """A display name: short, non-blank, any letters (names never affect reach)."""
    return st.text(_NAME_CHARS, min_size=1, max_size=12).filter(lambda s: bool(s.strip()))


def domains() -> st.SearchStrategy[str]:
    """A valid tenant domain: lowercase letters, digits and hyphens, starting with a letter,
    no hyphen at either end, 2 to 63 characters."""
    return st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).filter(
        lambda d: len(d) >= 2
    )


def emails() -> st.SearchStrategy[str]:
    """A valid email from a small alphabet in mixed case, so case-insensitive collisions
    happen."""
    local = st.text(st.sampled_from("aAbB"), min_size=1, max_size=3)
    return local.map(lambda s: f"{s}@x.example")


def user_tags() -> st.SearchStrategy[frozenset[Tag]]:
    """User tags (what an alert filters on): a notification channel and a role."""
    pairs = st.tuples(st.sampled_from(("notify", "role")), st.sampled_from(("sms", "mail", "ops")))
    return st.frozensets(pairs, max_size=2)


# ---------------------------------------------------------------------- world plans


@attrs.frozen
class DevicePlan:
    """A device; ``parent`` is the index of an earlier device (its gateway)."""

    tags: frozenset[Tag] = frozenset()
    parent: int | None = None


@attrs.frozen
class GroupPlan:
    """A group; ``parent`` is the index of an earlier group, ``device_ids`` indices of
    devices it lists by id, ``rules`` its tag rules."""

    parent: int | None = None
    device_ids: tuple[int, ...] = ()
    rules: tuple[RawRule, ...] = ()


@attrs.frozen
class UserPlan:
    """A user; ``groups`` are the indices of the groups it is a member of."""

    groups: tuple[int, ...] = ()
    enabled: bool = True
    tags: frozenset[Tag] = frozenset()


@attrs.frozen
class RecipePlan:
    """A device recipe; ``parent`` is the index of a device (the gateway of the devices it
    makes), ``groups`` indices of the groups that associate them."""

    tags: frozenset[Tag] = frozenset()
    parent: int | None = None
    groups: tuple[int, ...] = ()


@attrs.frozen
class WorldPlan:
    """One tenant's records, by index."""

    devices: tuple[DevicePlan, ...] = ()
    groups: tuple[GroupPlan, ...] = ()
    users: tuple[UserPlan, ...] = ()
    recipes: tuple[RecipePlan, ...] = ()


@attrs.frozen
class World:
    """What :func:`build_world` created: the tenant and the ids, in plan order."""

    tenant_id: str
    group_ids: tuple[str, ...]
    device_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    recipe_ids: tuple[str, ...] = ()


def _optional_index(draw: st.DrawFn, count: int) -> int | None:
    """None, or an earlier index; the one just before is drawn often, so that chains
    (a gateway's child's child, a deep group path) are common, not rare."""
    if count == 0:
        return None
    return draw(st.none() | st.just(count - 1) | st.integers(0, count - 1))


@st.composite
def world_plans(
    draw: st.DrawFn,
    *,
    min_devices: int = 0,
    max_devices: int = 6,
    min_groups: int = 0,
    max_groups: int = 5,
    min_users: int = 0,
    max_users: int = 4,
    disabled_users: bool = True,
    max_recipes: int = 0,
) -> WorldPlan:
    """A small random tenant: devices (with gateways), a group forest associating them by
    id and by rule, users each a member of one or two groups (when there are any), and
    up to ``max_recipes`` device recipes naming a gateway and groups (none by default: a
    recipe keeps what it names from being deleted, which a test of deletions would not
    expect)."""
    n_devices = draw(st.integers(min_devices, max_devices))
    devices = tuple(
        DevicePlan(tags=draw(tag_sets()), parent=_optional_index(draw, i)) for i in range(n_devices)
    )
    n_groups = draw(st.integers(min_groups, max_groups))
    groups = []
    for i in range(n_groups):
        ids = (
            draw(st.lists(st.integers(0, n_devices - 1), max_size=2, unique=True))
            if n_devices
            else []
        )
        rules = draw(st.lists(tag_rules(), max_size=2))
        groups.append(
            GroupPlan(parent=_optional_index(draw, i), device_ids=tuple(ids), rules=tuple(rules))
        )
    n_users = draw(st.integers(min_users, max_users))
    users = tuple(
        UserPlan(
            groups=tuple(
                draw(st.lists(st.integers(0, n_groups - 1), min_size=1, max_size=2, unique=True))
                if n_groups
                else ()
            ),
            enabled=draw(st.booleans()) if disabled_users else True,
            tags=draw(user_tags()),
        )
        for _ in range(n_users)
    )
    recipes = tuple(
        RecipePlan(
            tags=draw(tag_sets()),
            parent=None if not n_devices else draw(st.none() | st.integers(0, n_devices - 1)),
            groups=tuple(
                draw(st.lists(st.integers(0, n_groups - 1), max_size=2, unique=True))
                if n_groups
                else ()
            ),
        )
        for _ in range(draw(st.integers(0, max_recipes)))
    )
    return WorldPlan(devices=devices, groups=tuple(groups), users=users, recipes=recipes)


def build_world(
    tn: Tenancy,
    plan: WorldPlan,
    *,
    domain: str = "acme",
    prefix: str = "",
    parent: str | None = None,
    allow_subtenants: bool = False,
) -> World:
    """Create the plan as a new tenant through the public API. Ids are ``{prefix}d0``,
    ``{prefix}g0``, ``{prefix}u0``, ``{prefix}r0``, ...: deterministic, so an example replays
    exactly."""
    tenant = tn.create_tenant(
        domain=domain,
        name=domain.title(),
        admin_email=f"admin@{domain}.example",
        parent=parent,
        allow_subtenants=allow_subtenants,
    )
    t = tn.tenant(tenant.id)
    device_ids = tuple(f"{prefix}d{i}" for i in range(len(plan.devices)))
    for i, d in enumerate(plan.devices):
        parent_id = None if d.parent is None else device_ids[d.parent]
        t.create_device(f"device {i}", tags=d.tags, id=device_ids[i], parent=parent_id)
    group_ids = tuple(f"{prefix}g{i}" for i in range(len(plan.groups)))
    for i, g in enumerate(plan.groups):
        t.create_group(
            f"group {i}",
            id=group_ids[i],
            parent=None if g.parent is None else group_ids[g.parent],
            device_ids=[device_ids[k] for k in g.device_ids],
            device_tags=g.rules,
        )
    user_ids = tuple(f"{prefix}u{i}" for i in range(len(plan.users)))
    for i, u in enumerate(plan.users):
        t.create_user(f"user{i}@{domain}.example", id=user_ids[i], enabled=u.enabled, tags=u.tags)
        for k in u.groups:
            t.add_member(group_ids[k], user_ids[i])
    recipe_ids = tuple(f"{prefix}r{i}" for i in range(len(plan.recipes)))
    for i, r in enumerate(plan.recipes):
        t.create_recipe(
            f"recipe {i}", name=f"{domain} {i}-{{n}}", tags=r.tags, id=recipe_ids[i],
            parent=None if r.parent is None else device_ids[r.parent],
            groups=[group_ids[k] for k in r.groups],
        )  # fmt: skip
    return World(
        tenant_id=tenant.id, group_ids=group_ids, device_ids=device_ids, user_ids=user_ids,
        recipe_ids=recipe_ids,
    )  # fmt: skip


# ---------------------------------------------------------------------- share plans


@attrs.frozen
class SharePlan:
    """A connector from one world to another (``backwards``: from the second to the
    first). ``groups`` and ``devices`` are indices into the source's groups and devices
    (taken modulo their number), ``tags`` narrow them; accepted or not, the connector
    suspended or the subscription paused; ``members`` index the destination's users made
    members of the virtual group, ``under`` a destination group it is moved under."""

    backwards: bool = False
    groups: tuple[int, ...] = ()
    devices: tuple[int, ...] = ()
    tags: tuple[Matcher, ...] = ()
    accepted: bool = True
    suspended: bool = False
    paused: bool = False
    members: tuple[int, ...] = ()
    under: int | None = None


@st.composite
def share_plans(draw: st.DrawFn, *, max_shares: int = 3) -> tuple[SharePlan, ...]:
    """A few shares between two worlds, in both directions, in every status."""
    index = st.integers(0, 7)
    return tuple(
        SharePlan(
            backwards=draw(st.booleans()),
            groups=tuple(draw(st.lists(index, max_size=2, unique=True))),
            devices=tuple(draw(st.lists(index, max_size=2, unique=True))),
            tags=tuple(draw(st.lists(matchers(), max_size=1))),
            accepted=draw(st.booleans()),
            suspended=draw(st.booleans()),
            paused=draw(st.booleans()),
            members=tuple(draw(st.lists(index, max_size=2, unique=True))),
            under=draw(st.none() | index),
        )
        for _ in range(draw(st.integers(0, max_shares)))
    )


def build_shares(
    tn: Tenancy, first: World, second: World, plans: tuple[SharePlan, ...], *, prefix: str = "s"
) -> list[tuple[str, str | None]]:
    """Create the plans through the public API, with ids ``{prefix}c0``, ``{prefix}s0``, ...;
    a plan whose source has no group or device to share is left out. Returns (connector
    id, subscription id or None) for each share made."""
    made: list[tuple[str, str | None]] = []
    for i, plan in enumerate(plans):
        source, destination = (second, first) if plan.backwards else (first, second)
        groups = sorted({source.group_ids[k % len(source.group_ids)] for k in plan.groups}
                        if source.group_ids else set())  # fmt: skip
        devices = sorted({source.device_ids[k % len(source.device_ids)] for k in plan.devices}
                         if source.device_ids else set())  # fmt: skip
        if not groups and not devices:
            continue
        src, dst = tn.tenant(source.tenant_id), tn.tenant(destination.tenant_id)
        connector = src.create_connector(
            f"share {i}", destination=destination.tenant_id, groups=groups, devices=devices,
            tags=[all_of(*plan.tags)] if plan.tags else None, id=f"{prefix}c{i}",
        )  # fmt: skip
        subscription_id: str | None = None
        if plan.accepted:
            sub = dst.accept_connector(
                connector.id, security_code=connector.security_code, name=f"shared {i}",
                id=f"{prefix}s{i}",
            )  # fmt: skip
            subscription_id = sub.id
            users = destination.user_ids
            for k in sorted({k % len(users) for k in plan.members} if users else set()):
                dst.add_member(sub.group_id, users[k])
            if plan.under is not None and destination.group_ids:
                under = destination.group_ids[plan.under % len(destination.group_ids)]
                dst.move_group(sub.group_id, parent=under)
            if plan.paused:
                dst.pause_subscription(sub.id)
        if plan.suspended:
            src.suspend_connector(connector.id)
        made.append((connector.id, subscription_id))
    return made

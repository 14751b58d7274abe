"""Routing table: kind and category decide the queue, starting tier and priority.

A table rather than code so the bank can change it in one place.
"""

from __future__ import annotations

import msgspec


class Route(msgspec.Struct, frozen=True):
    queue: str
    tier: int
    priority: str


_DEFAULT_PRIORITY = {
    "consultation": "normal",
    "application": "normal",
    "complaint": "high",
    "appointment": "normal",
}

# (kind, category) -> queue; "*" matches any category.
_QUEUES: dict[tuple[str, str], str] = {
    ("consultation", "*"): "general",
    ("consultation", "card"): "cards",
    ("consultation", "loan"): "lending",
    ("consultation", "wealth"): "wealth",
    ("application", "*"): "applications",
    ("application", "loan"): "lending",
    ("application", "card"): "cards",
    ("complaint", "*"): "complaints",
    ("appointment", "*"): "branch",
}

# Category-specific priority bumps: a card or payment problem blocks the customer's money.
_URGENT_CATEGORIES = {("complaint", "payment"): "urgent", ("consultation", "payment"): "high"}

TIER_QUEUES = {2: "tier2", 3: "tier3"}
KNOWN_QUEUES = frozenset(_QUEUES.values()) | frozenset(TIER_QUEUES.values()) | {"service-recovery"}
# Reviews (核查) of concluded complaints (domain/reviews.py).
KNOWN_QUEUES |= {"complaint-review"}


def route_for(kind: str, category: str) -> Route:
    queue = _QUEUES.get((kind, category)) or _QUEUES[(kind, "*")]
    priority = _URGENT_CATEGORIES.get((kind, category), _DEFAULT_PRIORITY[kind])
    return Route(queue=queue, tier=1, priority=priority)

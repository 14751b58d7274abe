"""Ticket statuses (SPEC section 5): a leaf module, so the routes can name them cheaply."""

OPEN_STATUSES = frozenset({"new", "assigned", "in_progress", "waiting_on_customer"})
FINISHED_STATUSES = frozenset({"closed", "cancelled"})
STATUSES = (*sorted(OPEN_STATUSES), "resolved", *sorted(FINISHED_STATUSES))

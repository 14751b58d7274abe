"""The SLA sweep: find tickets past a deadline, record each breach once, escalate."""

from __future__ import annotations

import msgspec

from chalicelib.domain.errors import ConflictError, ThrottledError
from chalicelib.domain.identity import SYSTEM
from chalicelib.domain.lifecycle import apply_action
from chalicelib.domain.sla import breached_metrics, closes_itself, record_breaches
from chalicelib.domain.statuses import Action
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import VersionConflictError
from chalicelib.service.retries import SWEEP_ATTEMPTS, retrying
from chalicelib.service.tickets import TicketPorts

SWEEP_BATCH = 100


class SweepReport(msgspec.Struct, frozen=True):
    due: int  # tickets the due index returned (what the sweep read)
    breached: int  # tickets this sweep changed: a breach recorded, or a resolved one closed


def sweep(ports: TicketPorts, batch: int = SWEEP_BATCH) -> SweepReport:
    """Record breaches on every ticket due now.

    Reads only the sparse due index (never all open tickets). Each breach is a
    conditional write on the version read, so overlapping sweeps record it once.
    """
    now = ports.clock()
    due = ports.repository.due_tickets(now, batch)
    breached = sum(1 for ticket in due if _breach(ports, ticket))
    return SweepReport(due=len(due), breached=breached)


def _breach(ports: TicketPorts, candidate: Ticket) -> bool:
    """Close or record the breaches of one due ticket; another sweep or an agent writing
    first makes us read it again and decide afresh."""
    reads = iter([candidate])  # the first attempt decides on the index's copy

    def attempt() -> bool:
        ticket = next(reads, None) or ports.repository.get(candidate.id)
        if ticket is None:
            return False
        now = ports.clock()
        if closes_itself(ticket, now):
            changed, events = apply_action(
                ticket, Action.CLOSE, {}, SYSTEM, now=now, new_event_id=ports.ids.event_id
            )
        elif metrics := breached_metrics(ticket, now):
            changed, events = record_breaches(ticket, metrics, now, ports.ids.event_id)
        else:
            return False
        ports.repository.commit(ticket.id, ticket.version, changed, events)
        return True

    try:
        return retrying(attempt, attempts=SWEEP_ATTEMPTS, also=(VersionConflictError,))
    except (ConflictError, ThrottledError):
        return False  # still due: the next sweep (a minute later) tries again

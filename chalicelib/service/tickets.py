"""Ticket use cases: open, read, list, act, comment, timeline, claim."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from msgspec.structs import replace

from chalicelib.domain.complaints import ComplaintCodes
from chalicelib.domain.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
    VersionMismatchError,
)
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import ID_RULE, WORKING_ROLES, Caller, Role, is_id_text
from chalicelib.domain.ids import normalize_reference
from chalicelib.domain.lifecycle import (
    CLAIMABLE_STATUSES,
    add_comment,
    apply_action,
    check_actor,
    known_action,
)
from chalicelib.domain.reviews import RecusalError, check_recusal
from chalicelib.domain.routing import KNOWN_QUEUES
from chalicelib.domain.sla import SlaRules, breached_at_opening, start_clocks, track
from chalicelib.domain.statuses import Action
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket
from chalicelib.domain.timeline import visible_events
from chalicelib.service import idempotency as keys
from chalicelib.service.idempotency import (  # re-exported: the API builds these here
    IdempotencyKey as IdempotencyKey,  # noqa: PLC0414
)
from chalicelib.service.idempotency import (
    StoredResponse as StoredResponse,  # noqa: PLC0414
)
from chalicelib.service.merge import commit_merge, merge_target, target_write
from chalicelib.service.ports import (
    Clock,
    IdempotencyRecord,
    IdSource,
    ListQuery,
    Page,
    ReferenceTakenError,
    StartKey,
    TicketRepository,
    TicketWrite,
    TransactionConflictError,
    VersionConflictError,
)
from chalicelib.service.retries import CLAIM_ROUNDS, REFERENCE_ATTEMPTS, one_of, retry, retrying

_CLAIM_BATCH = 10
_ACTING_ROLES = frozenset({Role.CUSTOMER, Role.AGENT, Role.SUPERVISOR})
_TICKET_ID = re.compile(r"T-[0-9A-Za-z]{1,40}")
PortsT = TypeVar("PortsT")
RequestT = TypeVar("RequestT")
PortsT_contra = TypeVar("PortsT_contra", contravariant=True)
RequestT_contra = TypeVar("RequestT_contra", contravariant=True)
ResultT = TypeVar("ResultT")


class TicketPorts(msgspec.Struct, frozen=True):
    repository: TicketRepository
    ids: IdSource
    clock: Clock
    sla: SlaRules | None = None  # None: no SLA clocks (tests of other behaviour)
    appointment_commit: AppointmentCommit | None = None
    # Writes a document review with its document and checklist (service/applications.py).
    review_commit: TicketCommit | None = None
    complaint_codes: ComplaintCodes | None = None  # None: `classify` accepts no code

    def track(self, before: Ticket, after: Ticket | None, now: datetime) -> Ticket | None:
        if after is None or self.sla is None:
            return after
        return track(before, after, now, self.sla)


class TicketAccess(msgspec.Struct, frozen=True):
    """The ticket repository, fresh ids and the clock: what every bundle of ports whose use
    cases read, open or change tickets holds (its other ports are declared by the bundle)."""

    tickets: TicketRepository
    ids: IdSource
    clock: Clock

    def ticket_ports(self) -> TicketPorts:
        """These three alone: no SLA rules, no commit hooks (what a booking opens with)."""
        return TicketPorts(repository=self.tickets, ids=self.ids, clock=self.clock)


class TicketSource(Protocol):
    def get(self, ticket_id: str) -> Ticket | None: ...


class TicketReads:
    """The tickets read during one stream batch: the export and the report counters take
    their copy from here (one GetItem for all of a ticket's events in the batch), which
    each notification's own read renews.

    What those reactions need is in it: a batch's records are on the stream only once
    their transactions committed, so the first read of a ticket in the batch already
    holds every change of the batch's events (the second of two events changing the
    ticket included). A write committed while the batch runs (seconds) may be missed: its
    own events come in a later batch and are reacted to with it. So:
    - a reaction that writes the ticket (a survey's expiry closes it) reads it itself, at
      the version it writes on, never from here, and then calls `forget`;
    - a notification reads the ticket after taking its claim (`fresh`), never a copy read
      before: an erasure committed before the claim is seen (service/notifications). Its
      read then serves the batch's later reactions."""

    def __init__(self, tickets: TicketSource) -> None:
        self._tickets = tickets
        self._read: dict[str, Ticket | None] = {}

    def get(self, ticket_id: str) -> Ticket | None:
        if ticket_id not in self._read:
            self._read[ticket_id] = self._tickets.get(ticket_id)
        return self._read[ticket_id]

    def fresh(self, ticket_id: str) -> Ticket | None:
        """Read the ticket now, whatever was read before, and keep this copy."""
        self._read[ticket_id] = self._tickets.get(ticket_id)
        return self._read[ticket_id]

    def forget(self, ticket_id: str) -> None:
        self._read.pop(ticket_id, None)


Render = Callable[[Ticket], StoredResponse]


class Answer(msgspec.Struct, Generic[ResultT], frozen=True):
    """How a POST on a ticket answers: `render` makes the response of what it wrote, kept
    under the Idempotency-Key (a retry gets it again); `invalid` is the body's 400, raised
    only once the ticket is found and the caller may act on it (SPEC 3's order)."""

    render: Callable[[ResultT], StoredResponse]
    idempotency: IdempotencyKey | None = None
    invalid: ValidationError | None = None


# Writes an action on an appointment together with its seat moves (service/appointments.py).
# A change written with more than the ticket (a document review: the document too).
TicketCommit = Callable[[Ticket, Ticket, list[Event], datetime], Ticket]


class AppointmentCommit(Protocol):
    """An appointment's change with its seat moves, and the other tickets the same
    transaction checks or changes (`also`: a merge's target)."""

    def __call__(
        self,
        before: Ticket,
        changed: Ticket,
        events: list[Event],
        now: datetime,
        *,
        also: tuple[TicketWrite, ...] = (),
    ) -> Ticket: ...


def open_with_new_ids(
    request: TicketRequest, caller: Caller, ids: IdSource, now: datetime
) -> tuple[Ticket, Event]:
    """A new ticket and its `ticket.created`, with fresh ids and reference."""
    return open_ticket(
        request,
        caller,
        ticket_id=ids.ticket_id(),
        reference=ids.reference(),
        event_id=ids.event_id(),
        now=now,
    )


# A new ticket, and the write that stores it (with the request's idempotency record).
Opening = tuple[Ticket, Callable[[Ticket, IdempotencyRecord | None], None]]


class OpensTicket(Protocol[PortsT_contra, RequestT_contra]):
    """A POST that opens a ticket (create_ticket, appointments.book): the ticket, its
    reference and events in one write, with the response `render` gives kept under the
    Idempotency-Key; a retry with the key gets that response again."""

    def __call__(
        self,
        ports: PortsT_contra,
        caller: Caller,
        request: RequestT_contra,
        render: Render,
        idempotency: IdempotencyKey | None = None,
    ) -> StoredResponse: ...


def opens_ticket(
    opening: Callable[[PortsT, Caller, RequestT, datetime], Opening],
    tickets_of: Callable[[PortsT], TicketPorts],
    *,
    attempts: int = REFERENCE_ATTEMPTS,
    busy: Callable[[], Exception] | None = None,
) -> OpensTicket[PortsT, RequestT]:
    """The use case that replays a known key's response, else writes what `opening` makes
    of the request at the current time. A reference taken meanwhile: a fresh one, and the
    write again; an idempotency race lost: the winner's response."""

    def use_case(
        ports: PortsT,
        caller: Caller,
        request: RequestT,
        render: Render,
        idempotency: IdempotencyKey | None = None,
    ) -> StoredResponse:
        tickets = tickets_of(ports)
        replay = keys.replay(tickets.repository, idempotency, tickets.clock())
        if replay is not None:
            return replay
        now = tickets.clock()
        ticket, create = opening(ports, caller, request, now)

        def write() -> StoredResponse:
            nonlocal ticket
            opened = ticket
            try:
                return keys.kept(
                    tickets.repository,
                    idempotency,
                    render(opened),
                    lambda record: create(opened, record),
                    now=now,
                    clock=tickets.clock,
                )
            except ReferenceTakenError:
                ticket = ticket.with_reference(tickets.ids.reference())
                raise

        return retrying(write, attempts=attempts, also=(ReferenceTakenError,), busy=busy)

    return use_case


def _new_ticket(
    ports: TicketPorts, caller: Caller, request: TicketRequest, now: datetime
) -> Opening:
    """Open a ticket: ticket, reference, `ticket.created` (and the key) in one write."""
    ticket, event = open_with_new_ids(request, caller, ports.ids, now)
    breaches: list[Event] = []
    if ports.sla is not None:
        ticket = replace(ticket, sla=start_clocks(ticket, ports.sla))
        ticket, breaches = breached_at_opening(ticket, now, ports.ids.event_id)

    def create(opened: Ticket, record: IdempotencyRecord | None) -> None:
        ports.repository.create(opened, [event, *breaches], record)

    return ticket, create


create_ticket: OpensTicket[TicketPorts, TicketRequest] = opens_ticket(
    _new_ticket, lambda ports: ports
)


def _well_formed(ticket_id: str) -> None:
    """404 for an id no ticket can have, before it becomes a key: DynamoDB refuses a read
    by a key over its size limit (a ValidationException, not an empty answer)."""
    if not _TICKET_ID.fullmatch(ticket_id):
        raise NotFoundError(f"No ticket {ticket_id[:40]}")


def get_ticket(ports: TicketPorts, caller: Caller, ticket_id: str) -> Ticket:
    """The ticket, if the caller may see it; otherwise NotFoundError (never 403)."""
    _well_formed(ticket_id)
    ticket = ports.repository.get(ticket_id)
    if ticket is None or not ticket.visible_to(caller):
        raise NotFoundError(f"No ticket {ticket_id}")
    return ticket


def act(
    ports: TicketPorts,
    caller: Caller,
    ticket_id: str,
    action: str,
    params: Mapping[str, Any],
    *,
    if_match: int | frozenset[int] | None = None,
    invalid: ValidationError | None = None,
) -> Ticket:
    """Run a lifecycle action; of two racing writers exactly one wins (SPEC 5).

    `if_match`: the version (or any of the versions) the caller read; None runs on the
    current one. The loser of a race gets 412 when it sent If-Match, else 409: it acted on a
    ticket that has changed since, so it must look again. Only a transaction
    conflict or a capacity refusal (nothing was written) is retried; refusals to the
    end are a 429.
    """

    def attempt() -> Ticket:
        ticket = get_ticket(ports, caller, ticket_id)
        _raise_deferred(caller, invalid, ticket, action)
        now = ports.clock()
        changed, events = apply_action(
            ticket,
            action,
            params,
            caller,
            now=now,
            new_event_id=ports.ids.event_id,
            codes=ports.complaint_codes,
        )
        changed = ports.track(ticket, changed, now) or changed
        target = merge_target(ports.repository, ticket, changed)  # its 409 comes before 412
        if if_match is not None and ticket.version not in _versions(if_match):
            raise VersionMismatchError(f"The ticket is at version {ticket.version}")
        try:
            return _commit_action(ports, ticket, changed, events, now, target=target)
        except VersionConflictError:
            if if_match is not None:
                raise VersionMismatchError("The ticket changed while this action ran") from None
            raise ConflictError(
                "The ticket changed while this action ran; read it again and retry"
            ) from None

    return retrying(attempt, busy=_changing_quickly)


def _versions(if_match: int | frozenset[int]) -> frozenset[int]:
    return frozenset({if_match}) if isinstance(if_match, int) else if_match


def _changing_quickly() -> ConflictError:
    return ConflictError("The ticket is changing quickly; retry")


def _commit_action(
    ports: TicketPorts,
    ticket: Ticket,
    changed: Ticket,
    events: list[Event],
    now: datetime,
    *,
    target: Ticket | None = None,
) -> Ticket:
    if events[0].type == EventType.DOCUMENT_REVIEWED and ports.review_commit is not None:
        return ports.review_commit(ticket, changed, events, now)
    appointment = ticket.kind == "appointment" and ports.appointment_commit is not None
    if target is not None and not appointment:
        return commit_merge(ports.repository, ports.ids, ticket, changed, events, target=target)
    if appointment and ports.appointment_commit is not None:
        also = (target_write(ports.ids, ticket, events, target),) if target is not None else ()
        return ports.appointment_commit(ticket, changed, events, now, also=also)
    ports.repository.commit(ticket.id, ticket.version, changed, events)
    return changed


def comment(
    ports: TicketPorts,
    caller: Caller,
    ticket_id: str,
    body: str,
    internal: bool,
    *,
    answer: Answer[Event],
) -> StoredResponse:
    """Add a public comment or an internal note (with any status change it causes)."""

    def attempt() -> StoredResponse:
        ticket = get_ticket(ports, caller, ticket_id)
        _raise_deferred(caller, answer.invalid, ticket, None)
        replay = keys.replay(ports.repository, answer.idempotency, ports.clock())
        if replay is not None:
            return replay
        now = ports.clock()
        changed, events = add_comment(
            ticket, body, internal, caller, now=now, new_event_id=ports.ids.event_id
        )
        changed = ports.track(ticket, changed, now)

        def write(record: IdempotencyRecord | None) -> None:
            ports.repository.commit(ticket.id, ticket.version, changed, events, record)

        response = answer.render(events[0])
        return keys.kept(
            ports.repository, answer.idempotency, response, write, now=now, clock=ports.clock
        )

    return retrying(attempt, also=(VersionConflictError,), busy=_changing_quickly)


def timeline(
    ports: TicketPorts,
    caller: Caller,
    ticket_id: str,
    limit: int,
    start_key: StartKey | None,
    *,
    invalid: ValidationError | None = None,
) -> Page[Event]:
    """The ticket's timeline, oldest first; customers see public entries only."""
    _well_formed(ticket_id)
    if invalid is not None:
        get_ticket(ports, caller, ticket_id)  # 404 comes before the parameters' 400
        raise invalid
    ticket, page = ports.repository.ticket_and_events(ticket_id, limit, start_key)
    if ticket is None or not ticket.visible_to(caller):
        raise NotFoundError(f"No ticket {ticket_id}")
    shown = visible_events(page.items, caller)
    key = page.next_key
    while key is not None and len(shown) < limit:
        page = ports.repository.event_page(ticket_id, limit - len(shown), key)
        shown.extend(visible_events(page.items, caller))
        key = page.next_key
    return Page(shown, key)


class ListFilters(msgspec.Struct, frozen=True):
    customer_id: str | None = None
    queue: str | None = None
    assignee: str | None = None
    reference: str | None = None
    status: str | None = None
    limit: int = 20
    start_key: StartKey | None = None


def list_query(caller: Caller, filters: ListFilters) -> ListQuery | str:
    """The access pattern for a list request: a ListQuery, or a reference to look up."""
    named = {
        name: value
        for name in ("customer_id", "queue", "assignee", "reference")
        if (value := getattr(filters, name)) is not None
    }
    bad = [name for name, value in named.items() if not is_id_text(str(value))]
    if bad:
        raise ValidationError([FieldError(name, ID_RULE) for name in bad])
    if caller.is_customer:
        if named:
            raise ValidationError(
                [FieldError(name, "may only be sent by staff") for name in sorted(named)]
            )
        return ListQuery("customer", caller.id, filters.status, filters.limit, filters.start_key)
    if len(named) != 1:
        raise ValidationError(
            [FieldError("query", "give exactly one of customer_id, queue, assignee, reference")]
        )
    [(name, value)] = named.items()
    if name == "reference":
        return str(value)
    index = {"customer_id": "customer", "queue": "queue", "assignee": "assignee"}[name]
    return ListQuery(index, str(value), filters.status, filters.limit, filters.start_key)


def list_tickets(ports: TicketPorts, caller: Caller, filters: ListFilters) -> Page[Ticket]:
    """Tickets newest first: a customer's own, or staff's by one key (SPEC section 5)."""
    query = list_query(caller, filters)
    if isinstance(query, str):
        ticket = ports.repository.by_reference(normalize_reference(query))
        matches = ticket is not None and filters.status in (None, ticket.status)
        return Page([ticket] if ticket is not None and matches else [], None)
    return ports.repository.query_tickets(query)


def claim(ports: TicketPorts, caller: Caller, queue: str) -> Ticket | None:
    """Assign the queue's most urgent, then oldest, unassigned ticket to the caller.

    Candidates come from an eventually consistent index; the assignment is
    conditional on the version read, so two agents never get the same ticket.
    """
    if queue not in KNOWN_QUEUES:
        raise NotFoundError(f"No queue {queue}")
    if caller.role not in WORKING_ROLES:
        raise ForbiddenError(f"The {caller.role.value} role may not claim tickets")

    def one_round() -> Ticket | None:
        candidates = ports.repository.claimable(queue, _CLAIM_BATCH)
        if not candidates:
            return None
        for candidate in candidates:
            claimed = _try_claim(ports, caller, candidate)
            if claimed is not None:
                return claimed
        raise _AllTaken()  # read the candidates again

    try:
        return retry(one_round, attempts=CLAIM_ROUNDS, when=one_of(_AllTaken))
    except _AllTaken:
        return None  # round after round, every candidate went to someone else


class _AllTaken(Exception):
    """Every candidate of a claim's round was taken, or changed, before this claim."""


def _try_claim(ports: TicketPorts, caller: Caller, candidate: Ticket) -> Ticket | None:
    if candidate.status not in CLAIMABLE_STATUSES or candidate.assignee:
        return None  # a stale index entry; the next candidate may do
    try:
        changed, events = apply_action(
            candidate, Action.ASSIGN, {}, caller, now=ports.clock(), new_event_id=ports.ids.event_id
        )
        ports.repository.commit(candidate.id, candidate.version, changed, events)
    except (IllegalTransitionError, VersionConflictError, TransactionConflictError):
        return None  # another agent's claim or change won this one: the next candidate
    except RecusalError:
        return None  # they handled the complaint it reviews: someone else takes it
    return changed


def _raise_deferred(
    caller: Caller, invalid: ValidationError | None, ticket: Ticket, action: str | None
) -> None:
    """A body error found earlier is reported after 404 and the 403 checks (SPEC 3)."""
    if invalid is None:
        return
    if caller.role not in _ACTING_ROLES:
        raise ForbiddenError(f"The {caller.role.value} role may not change tickets")
    known = known_action(action or "")
    if known is not None:
        check_actor(ticket, known, {}, caller)
    elif ticket.recused:
        check_recusal(ticket, caller)  # a comment's 403 comes before its 400 too
    raise invalid

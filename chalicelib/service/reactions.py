"""Reactions to event items arriving on the table's stream.

Delivery is at-least-once, so every reaction is idempotent by event id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from chalicelib.domain.events import (
    NOTIFICATION_TYPES,
    Event,
    EventType,
    SlaBreached,
    StatusChanged,
    SurveyAnswered,
    TicketCreated,
    TicketEscalated,
)
from chalicelib.domain.identity import Role
from chalicelib.domain.privacy import DEFAULT_RETENTION, retention_expiry
from chalicelib.domain.reports import (
    WorkingMinutes,
    needs_ticket,
    report_counters,
)
from chalicelib.domain.statuses import FINISHED_STATUSES, Action, Status
from chalicelib.domain.surveys import Survey
from chalicelib.service.audit import record_write
from chalicelib.service.complaints import count_complaint
from chalicelib.service.export import export_event
from chalicelib.service.inbox import InboxPorts, make_inbox_documents
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.ports import (
    AuditLog,
    EventBus,
    MetricsSink,
    OpsAlert,
    OpsAlerter,
    PrivacyStore,
    ReactionLedger,
    TicketRepository,
)
from chalicelib.service.surveys import (
    SurveyPorts,
    start_survey,
    survey_answered,
    survey_written,
    withdraw_survey,
)
from chalicelib.service.tickets import TicketReads


def _plain_minutes(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() // 60))


class ReactionPorts(msgspec.Struct, frozen=True):
    ledger: ReactionLedger
    alerts: OpsAlerter | None = None
    notifications: NotificationPorts | None = None
    surveys: SurveyPorts | None = None
    # Reports, audit and retention (SPEC 10); None leaves that reaction out.
    tickets: TicketRepository | None = None
    working_minutes: WorkingMinutes = _plain_minutes
    audit: AuditLog | None = None
    privacy: PrivacyStore | None = None
    metrics: MetricsSink | None = None
    retention: timedelta = DEFAULT_RETENTION
    # Documents (SPEC 11): their items expire with the ticket (ticket id, epoch seconds);
    # an item's expiry (a stream REMOVE) deletes its object (the object key).
    expire_documents: Callable[[str, int], None] | None = None
    delete_document_object: Callable[[str], None] | None = None
    bus: EventBus | None = None  # EventBridge export (SPEC 12); None leaves it out
    # The tickets of one stream batch, read once by the export and the report counters,
    # renewed by each notification's own read (`for_one_batch`); None: read per reaction.
    ticket_reads: TicketReads | None = None
    # An inbox item's email attachments become documents (SPEC 12); None leaves it out.
    inbox: InboxPorts | None = None


Reaction = Callable[[Event, ReactionPorts], None]


def count_event(event: Event, ports: ReactionPorts) -> None:
    """Move the report counters this event affects, once per event (the ticket is read
    only for resolutions and possible first responses, whose SLA facts it holds)."""
    ticket = None
    if needs_ticket(event) and ports.tickets is not None:
        ticket = (ports.ticket_reads or ports.tickets).get(event.ticket_id)
    counters = report_counters(event, ticket, ports.working_minutes)
    if counters and ports.ledger.apply_once(event.id, "count", counters):
        _emit_metrics(event, ports)


def _emit_metrics(event: Event, ports: ReactionPorts) -> None:
    """Ops metrics, emitted once with the counters (a redelivery emits nothing)."""
    if ports.metrics is None:
        return
    match event.payload():
        case TicketCreated(channel=channel):
            ports.metrics.count("TicketsCreated", {"Channel": channel})
            # All channels together: the intake alarm watches one series.
            ports.metrics.count("TicketsCreatedTotal", {})
        case SlaBreached(metric=metric):
            ports.metrics.count("SlaBreaches", {"Metric": metric})
        case SurveyAnswered(score=score):
            ports.metrics.count("CsatScore", {}, float(score))
        case StatusChanged(to_status=Status.RESOLVED):
            ports.metrics.count("TicketsResolved", {})


def record_audit(event: Event, ports: ReactionPorts) -> None:
    """Every staff write into the audit log (keyed by the event id: redelivery-safe)."""
    if ports.audit is not None:
        record_write(event, ports.audit, ports.retention)


def keep_for_retention(event: Event, ports: ReactionPorts) -> None:
    """A closed or cancelled ticket's events and reference expire with the ticket (the
    ticket item gets its TTL in the closing transaction itself). Runs after the
    notification, so the closing message's record is stamped too."""
    moved = event.payload_as(StatusChanged)
    if moved is None or moved.to_status not in FINISHED_STATUSES:
        _keep_late_outcome(event, ports)
        return
    if ports.privacy is not None:
        expiry = retention_expiry(event.at, ports.retention)
        ports.privacy.expire_ticket_records(event.ticket_id, expiry)
    if ports.expire_documents is not None:
        ports.expire_documents(event.ticket_id, retention_expiry(event.at, ports.retention))


def _keep_late_outcome(event: Event, ports: ReactionPorts) -> None:
    """A notice's outcome written after its ticket finished (a message that waited for
    quiet hours) missed the closing's stamp: it expires with the ticket too. The batch's
    copy of the ticket serves (the export read it); a ticket not yet finished is stamped
    later with all its events by its closing."""
    if event.type not in NOTIFICATION_TYPES or ports.privacy is None or ports.tickets is None:
        return
    ticket = (ports.ticket_reads or ports.tickets).get(event.ticket_id)
    if ticket is not None and ticket.status in FINISHED_STATUSES:
        ports.privacy.expire_event(event, retention_expiry(ticket.updated_at, ports.retention))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _ops_alert(event: Event, summary: str, **details: str) -> OpsAlert:
    keys = ("metric", "due", "tier", "queue")
    return OpsAlert(
        kind=event.type,
        ticket_id=event.ticket_id,
        summary=f"{summary} on {event.ticket_id}",
        details={
            **{key: details.get(key, "") for key in keys},
            "at": event.at.isoformat(timespec="seconds"),
        },
    )


def _alert_of(event: Event) -> OpsAlert | None:
    """What ops are told of a breach or an escalation."""
    match event.payload():
        case SlaBreached(metric=metric, due=due, tier=tier):
            return _ops_alert(
                event, f"SLA breached ({metric})", metric=metric, due=due or "", tier=_text(tier)
            )
        case TicketEscalated(tier=tier, queue=queue):
            tier_text = _text(tier)
            return _ops_alert(event, f"escalated to tier {tier_text}", tier=tier_text, queue=queue)
    return None


def alert_ops(event: Event, ports: ReactionPorts) -> None:
    """Tell ops once per event. The claim is taken before SNS is called and given
    back if the call fails, so the stream's retry sends it instead of losing it."""
    if event.type == EventType.ESCALATED and event.actor.role is Role.SYSTEM:
        return  # the SLA sweep's escalation: its sla.breached alert already says so
    alert = _alert_of(event)
    if alert is None or ports.alerts is None or not ports.ledger.claim(event.id, "ops-alert"):
        return
    try:
        ports.alerts.alert(alert)
    except Exception:
        ports.ledger.release(event.id, "ops-alert")
        raise


def attach_inbox_documents(event: Event, ports: ReactionPorts) -> None:
    """A ticket opened from, or a comment linked from, an email in the triage inbox: the
    documents its event names, made from the stored message (idempotent by their ids)."""
    if ports.inbox is not None:
        make_inbox_documents(ports.inbox, event)


def notify_customer(event: Event, ports: ReactionPorts) -> None:
    """One message per notifying event (which ones: the notifications domain decides)."""
    if ports.notifications is not None:
        notify(event, ports.notifications)


def follow_up_survey(event: Event, ports: ReactionPorts) -> None:
    """A resolution starts its survey; reopening the ticket stops it."""
    if ports.surveys is None:
        return

    moved = event.payload_as(StatusChanged)
    if moved is not None and moved.to_status == Status.RESOLVED:
        start_survey(event, ports.surveys)
    elif moved is not None and moved.action == Action.REOPEN:
        withdraw_survey(event, ports.surveys)


def finish_survey(event: Event, ports: ReactionPorts) -> None:
    """An answer releases the workflow and, for a low score, opens a recovery ticket."""
    if ports.surveys is not None:
        survey_answered(event, ports.surveys)


def export_to_bus(event: Event, ports: ReactionPorts) -> None:
    """Every timeline event on the `servicedesk` bus, once per event id (no personal data)."""
    if ports.bus is not None and ports.tickets is not None:
        export_event(event, ports.bus, ports.ledger, ports.ticket_reads or ports.tickets)


REACTIONS: dict[EventType, tuple[Reaction, ...]] = {
    EventType.TICKET_CREATED: (count_event, attach_inbox_documents),
    EventType.STATUS_CHANGED: (follow_up_survey, count_event),
    EventType.SURVEY_ANSWERED: (finish_survey, count_event),
    EventType.SLA_BREACHED: (alert_ops, count_event),
    EventType.ESCALATED: (alert_ops,),
    EventType.COMMENT_ADDED: (count_event, attach_inbox_documents),
}
EVERY_EVENT: tuple[Reaction, ...] = (
    notify_customer,
    record_audit,
    keep_for_retention,
    export_to_bus,
    count_complaint,  # the complaint report (service/complaints.py) reads several types
)


def for_one_batch(ports: ReactionPorts) -> ReactionPorts:
    """The ports for one stream batch: the export and the report counters read each of
    its tickets once, or use a notification's read, which comes after the notice's claim
    (`TicketReads` says why that is safe; the survey reactions, which may write the
    ticket, read it themselves)."""
    if ports.tickets is None:
        return ports
    reads = TicketReads(ports.tickets)
    notifications = ports.notifications
    if notifications is not None and notifications.tickets is ports.tickets:
        notifications = msgspec.structs.replace(notifications, ticket_reads=reads)
    return msgspec.structs.replace(ports, ticket_reads=reads, notifications=notifications)


def react_to_survey(survey: Survey, ports: ReactionPorts) -> None:
    """The survey workflow wrote a survey: its round's event, or its expiry settled (which
    closes the ticket: the batch's reactions read that ticket again)."""
    if ports.surveys is None:
        return
    survey_written(survey, ports.surveys)
    if ports.ticket_reads is not None:
        ports.ticket_reads.forget(survey.ticket_id)


def react(event: Event, ports: ReactionPorts) -> None:
    """Run every reaction registered for the event's type, then those for every event."""
    for reaction in (*REACTIONS.get(event.type, ()), *EVERY_EVENT):
        reaction(event, ports)

"""Reactions to event items arriving on the table's stream.

Delivery is at-least-once, so every reaction is idempotent by event id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.events import TICKET_CREATED, Event
from chalicelib.domain.identity import Role
from chalicelib.domain.lifecycle import COMMENT_ADDED, ESCALATED, STATUS_CHANGED
from chalicelib.domain.privacy import DEFAULT_RETENTION, retention_expiry
from chalicelib.domain.reports import (
    WorkingMinutes,
    needs_ticket,
    report_counters,
)
from chalicelib.domain.sla import SLA_BREACHED
from chalicelib.domain.surveys import SURVEY_ANSWERED
from chalicelib.domain.ticket import FINISHED_STATUSES
from chalicelib.service.audit import record_write
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.ports import (
    AuditLog,
    MetricsSink,
    OpsAlert,
    OpsAlerter,
    PrivacyStore,
    ReactionLedger,
    TicketRepository,
)
from chalicelib.service.surveys import SurveyPorts, start_survey, survey_answered, withdraw_survey


def _plain_minutes(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() // 60))


@dataclass(frozen=True)
class ReactionPorts:
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


Reaction = Callable[[Event, ReactionPorts], None]


def count_event(event: Event, ports: ReactionPorts) -> None:
    """Move the report counters this event affects, once per event (the ticket is read
    only for resolutions and possible first responses, whose SLA facts it holds)."""
    ticket = None
    if needs_ticket(event) and ports.tickets is not None:
        ticket = ports.tickets.get(event.ticket_id)
    counters = report_counters(event, ticket, ports.working_minutes)
    if counters and ports.ledger.apply_once(event.id, "count", counters):
        _emit_metrics(event, ports)


def _emit_metrics(event: Event, ports: ReactionPorts) -> None:
    """Ops metrics, emitted once with the counters (a redelivery emits nothing)."""
    if ports.metrics is None:
        return
    if event.type == TICKET_CREATED:
        ports.metrics.count("TicketsCreated", {"Channel": str(event.data.get("channel", ""))})
        # All channels together: the intake alarm watches one series.
        ports.metrics.count("TicketsCreatedTotal", {})
    elif event.type == SLA_BREACHED:
        ports.metrics.count("SlaBreaches", {"Metric": str(event.data.get("metric", ""))})
    elif event.type == SURVEY_ANSWERED:
        ports.metrics.count("CsatScore", {}, float(event.data.get("score", 0)))
    elif event.type == STATUS_CHANGED and event.data.get("to") == "resolved":
        ports.metrics.count("TicketsResolved", {})


def record_audit(event: Event, ports: ReactionPorts) -> None:
    """Every staff write into the audit log (keyed by the event id: redelivery-safe)."""
    if ports.audit is not None:
        record_write(event, ports.audit, ports.retention)


def keep_for_retention(event: Event, ports: ReactionPorts) -> None:
    """A closed or cancelled ticket's events and reference expire with the ticket (the
    ticket item gets its TTL in the closing transaction itself). Runs after the
    notification, so the closing message's record is stamped too."""
    if event.type != STATUS_CHANGED or event.data.get("to") not in FINISHED_STATUSES:
        return
    if ports.privacy is not None:
        expiry = retention_expiry(event.at, ports.retention)
        ports.privacy.expire_ticket_records(event.ticket_id, expiry)


def _summary(event: Event) -> str:
    if event.type == SLA_BREACHED:
        return f"SLA breached ({event.data.get('metric', '')}) on {event.ticket_id}"
    return f"escalated to tier {event.data.get('tier', '')} on {event.ticket_id}"


def alert_ops(event: Event, ports: ReactionPorts) -> None:
    """Tell ops once per event. The claim is taken before SNS is called and given
    back if the call fails, so the stream's retry sends it instead of losing it."""
    if event.type == ESCALATED and event.actor.role is Role.SYSTEM:
        return  # the SLA sweep's escalation: its sla.breached alert already says so
    if ports.alerts is None or not ports.ledger.claim(event.id, "ops-alert"):
        return
    alert = OpsAlert(
        kind=event.type,
        ticket_id=event.ticket_id,
        summary=_summary(event),
        details={
            "metric": str(event.data.get("metric", "")),
            "due": str(event.data.get("due") or ""),
            "tier": str(event.data.get("tier", "")),
            "queue": str(event.data.get("queue", "")),
            "at": event.at.isoformat(timespec="seconds"),
        },
    )
    try:
        ports.alerts.alert(alert)
    except Exception:
        ports.ledger.release(event.id, "ops-alert")
        raise


def notify_customer(event: Event, ports: ReactionPorts) -> None:
    """One message per notifying event (which ones: the notifications domain decides)."""
    if ports.notifications is not None:
        notify(event, ports.notifications)


def follow_up_survey(event: Event, ports: ReactionPorts) -> None:
    """A resolution starts its survey; reopening the ticket stops it."""
    if ports.surveys is None:
        return

    if event.data.get("to") == "resolved":
        start_survey(event, ports.surveys)
    elif event.data.get("action") == "reopen":
        withdraw_survey(event, ports.surveys)


def finish_survey(event: Event, ports: ReactionPorts) -> None:
    """An answer releases the workflow and, for a low score, opens a recovery ticket."""
    if ports.surveys is not None:
        survey_answered(event, ports.surveys)


REACTIONS: dict[str, tuple[Reaction, ...]] = {
    TICKET_CREATED: (count_event,),
    STATUS_CHANGED: (follow_up_survey, count_event),
    SURVEY_ANSWERED: (finish_survey, count_event),
    SLA_BREACHED: (alert_ops, count_event),
    ESCALATED: (alert_ops,),
    COMMENT_ADDED: (count_event,),
}
EVERY_EVENT: tuple[Reaction, ...] = (notify_customer, record_audit, keep_for_retention)


def react(event: Event, ports: ReactionPorts) -> None:
    """Run every reaction registered for the event's type, then those for every event."""
    for reaction in (*REACTIONS.get(event.type, ()), *EVERY_EVENT):
        reaction(event, ports)

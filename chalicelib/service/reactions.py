"""Reactions to event items arriving on the table's stream.

Delivery is at-least-once, so every reaction is idempotent by event id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.counters import counters_for
from chalicelib.domain.events import TICKET_CREATED, Event
from chalicelib.domain.identity import Role
from chalicelib.domain.lifecycle import ESCALATED, STATUS_CHANGED
from chalicelib.domain.sla import SLA_BREACHED
from chalicelib.domain.surveys import SURVEY_ANSWERED
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.ports import OpsAlert, OpsAlerter, ReactionLedger

if TYPE_CHECKING:
    from chalicelib.service.surveys import SurveyPorts


@dataclass(frozen=True)
class ReactionPorts:
    ledger: ReactionLedger
    alerts: OpsAlerter | None = None
    notifications: NotificationPorts | None = None
    surveys: SurveyPorts | None = None


Reaction = Callable[[Event, ReactionPorts], None]


def count_event(event: Event, ports: ReactionPorts) -> None:
    """Move the report counters this event affects, once per event."""
    counters = counters_for(event)
    if counters:
        ports.ledger.apply_once(event.id, "count", counters)


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
    from chalicelib.service.surveys import start_survey, withdraw_survey

    if event.data.get("to") == "resolved":
        start_survey(event, ports.surveys)
    elif event.data.get("action") == "reopen":
        withdraw_survey(event, ports.surveys)


def finish_survey(event: Event, ports: ReactionPorts) -> None:
    """An answer releases the workflow and, for a low score, opens a recovery ticket."""
    if ports.surveys is not None:
        from chalicelib.service.surveys import survey_answered

        survey_answered(event, ports.surveys)


REACTIONS: dict[str, tuple[Reaction, ...]] = {
    TICKET_CREATED: (count_event,),
    STATUS_CHANGED: (follow_up_survey,),
    SURVEY_ANSWERED: (finish_survey,),
    SLA_BREACHED: (alert_ops,),
    ESCALATED: (alert_ops,),
}
EVERY_EVENT: tuple[Reaction, ...] = (notify_customer,)


def react(event: Event, ports: ReactionPorts) -> None:
    """Run every reaction registered for the event's type, then those for every event."""
    for reaction in (*REACTIONS.get(event.type, ()), *EVERY_EVENT):
        reaction(event, ports)

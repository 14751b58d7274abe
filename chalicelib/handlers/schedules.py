"""Scheduled handlers (EventBridge when deployed; the local runner every few seconds)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.handlers.time_left import seconds_left
from chalicelib.logs import logger
from chalicelib.service.appointments import send_reminders
from chalicelib.service.notifications import send_deferred
from chalicelib.service.sla import sweep

schedules_blueprint = Blueprint(__name__)


def _reported(name: str, counts: dict[str, int]) -> dict[str, int]:
    """A run that did something says so in the log (counts only); the result is returned."""
    if any(counts.values()):
        logger.info(name, extra=counts)
    return counts


@schedules_blueprint.schedule(Rate(1, unit=Rate.MINUTES), name="sla_sweep")
def sla_sweep(event: Any) -> dict[str, int]:
    """Record SLA breaches on every ticket due now (idempotent under overlapping runs)."""
    report = sweep(bootstrap.container().ticket_ports())
    return _reported("sla sweep", {"due": report.due, "breached": report.breached})


@schedules_blueprint.schedule(Rate(1, unit=Rate.MINUTES), name="send_deferred_notifications")
def send_deferred_notifications(event: Any) -> dict[str, int]:
    """Send the messages that waited for a customer's quiet hours to end; a backlog (quiet
    hours end at 08:00 for many) goes over several runs, none killed mid-send."""
    sent = send_deferred(bootstrap.container().notification_ports(), seconds_left(event))
    return _reported("deferred notifications sent", {"sent": sent})


@schedules_blueprint.schedule(Rate(1, unit=Rate.MINUTES), name="send_appointment_reminders")
def send_appointment_reminders(event: Any) -> dict[str, int]:
    """Write `appointment.reminded` once per appointment due; the stream sends the message."""
    reminded = send_reminders(bootstrap.container().appointment_ports())
    return _reported("appointment reminders", {"reminded": reminded})

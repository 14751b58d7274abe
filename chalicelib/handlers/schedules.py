"""Scheduled handlers (EventBridge when deployed; the local runner every few seconds)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.logs import logger

schedules_blueprint = Blueprint(__name__)


@schedules_blueprint.schedule(Rate(1, unit=Rate.MINUTES), name="sla_sweep")
def sla_sweep(event: Any) -> dict[str, int]:
    """Record SLA breaches on every ticket due now (idempotent under overlapping runs)."""
    from chalicelib.service.sla import sweep

    bootstrap.bind_storage()
    report = sweep(bootstrap.ticket_ports())
    if report.due:
        logger.info("sla sweep", extra={"due": report.due, "breached": report.breached})
    return {"due": report.due, "breached": report.breached}

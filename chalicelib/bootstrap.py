"""The one place that reads the environment and builds real clients.

Everything is built lazily on first use and cached for the life of the Lambda
instance, so a cold start pays only for what the invoked handler touches.
Tests replace parts with ``override``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.api.cursors import CursorKeys
    from chalicelib.config import Settings
    from chalicelib.domain.calendar import BusinessCalendar
    from chalicelib.domain.events import Event
    from chalicelib.domain.sla import SlaRules
    from chalicelib.domain.ticket import Ticket
    from chalicelib.service.appointments import AppointmentPorts
    from chalicelib.service.audit import AuditPorts
    from chalicelib.service.notifications import NotificationPorts
    from chalicelib.service.ports import (
        AppointmentStore,
        AuditLog,
        Clock,
        CounterReader,
        IdSource,
        NotificationStore,
        Notifier,
        OpsAlerter,
        PrivacyStore,
        ReactionLedger,
        TicketRepository,
    )
    from chalicelib.service.privacy import PrivacyPorts
    from chalicelib.service.reactions import ReactionPorts
    from chalicelib.service.reports import ReportPorts
    from chalicelib.service.surveys import SurveyPorts
    from chalicelib.service.tickets import TicketPorts

_overrides: dict[str, Any] = {}
POLICIES_FILE = Path(__file__).resolve().parent / "data" / "sla-policies.json"


def override(**parts: Any) -> None:
    """Replace built parts (settings, clock, repository, ledger, ids, verifier)."""
    _overrides.update(parts)


def reset() -> None:
    _overrides.clear()
    for builder in (
        settings,
        _connection,
        _repository,
        _ledger,
        _ids,
        token_verifier,
        _ops_alerter,
        sla_rules,
        notification_store,
        _notifier,
        _survey_store,
        _survey_workflow,
        _audit_log,
        _privacy_store,
        _lazy_calendar,
        _appointment_store,
        cursor_keys,
    ):
        builder.cache_clear()


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock() -> Clock:
    return _overrides.get("clock", utc_now)  # type: ignore[no-any-return]


@cache
def settings() -> Settings:
    if "settings" in _overrides:
        return _overrides["settings"]  # type: ignore[no-any-return]
    from chalicelib.config import Settings

    return Settings.from_env(os.environ)


@cache
def _connection() -> Any:
    from pynamodb.connection import Connection

    from chalicelib.adapters.models import bind_table

    current = settings()
    bind_table(current.table_name, current.region, current.aws_endpoint_url)
    return Connection(region=current.region, host=current.aws_endpoint_url)


@cache
def _repository() -> TicketRepository:
    from chalicelib.adapters.dynamo import DynamoTicketRepository

    return DynamoTicketRepository(_connection(), retention())


@cache
def _ledger() -> ReactionLedger:
    from chalicelib.adapters.dynamo import DynamoReactionLedger

    return DynamoReactionLedger(_connection(), clock())


@cache
def _ids() -> IdSource:
    from chalicelib.adapters.ids import RandomIdSource

    return RandomIdSource()


def ticket_ports() -> TicketPorts:
    from chalicelib.service.tickets import TicketPorts

    return TicketPorts(
        repository=_overrides.get("repository") or _repository(),
        ids=_overrides.get("ids") or _ids(),
        clock=clock(),
        sla=_overrides.get("sla") or sla_rules(),
        appointment_commit=_appointment_commit,
    )


@cache
def _appointment_store() -> AppointmentStore:
    from chalicelib.adapters.appointments import DynamoAppointmentStore

    return DynamoAppointmentStore(_connection())


def appointment_ports() -> AppointmentPorts:
    from chalicelib.service.appointments import AppointmentPorts

    return AppointmentPorts(
        store=_overrides.get("appointment_store") or _appointment_store(),
        tickets=_overrides.get("repository") or _repository(),
        ids=_overrides.get("ids") or _ids(),
        clock=clock(),
        calendar=lambda: _lazy_calendar().calendar,
        reminder_lead=timedelta(seconds=settings().appointment_reminder_lead_seconds),
    )


def _appointment_commit(
    before: Ticket, changed: Ticket, events: list[Event], now: datetime
) -> Ticket:
    from chalicelib.service.appointments import commit_action

    return commit_action(appointment_ports(), before, changed, events, now)


def reaction_ports() -> ReactionPorts:
    from chalicelib.adapters.metrics import EmfMetrics
    from chalicelib.domain.reports import working_minutes_on
    from chalicelib.service.reactions import ReactionPorts

    return ReactionPorts(
        ledger=_overrides.get("ledger") or _ledger(),
        alerts=_overrides.get("alerts") or _ops_alerter(),
        notifications=notification_ports(),
        surveys=survey_ports(),
        tickets=_overrides.get("repository") or _repository(),
        working_minutes=working_minutes_on((_overrides.get("sla") or sla_rules()).calendar),
        audit=_audit_log(),
        privacy=_privacy_store(),
        metrics=_overrides.get("metrics") or EmfMetrics(),
        retention=retention(),
    )


def retention() -> timedelta:
    return timedelta(days=settings().retention_days)


@cache
def _audit_log() -> AuditLog:
    if "audit_log" in _overrides:
        return _overrides["audit_log"]  # type: ignore[no-any-return]
    from chalicelib.adapters.records import DynamoAuditLog

    _connection()
    return DynamoAuditLog()


@cache
def _privacy_store() -> PrivacyStore:
    if "privacy_store" in _overrides:
        return _overrides["privacy_store"]  # type: ignore[no-any-return]
    from chalicelib.adapters.records import DynamoPrivacyStore

    return DynamoPrivacyStore(_connection())


def audit_ports() -> AuditPorts:
    from chalicelib.service.audit import AuditPorts

    return AuditPorts(
        log=_audit_log(), ids=_overrides.get("ids") or _ids(), clock=clock(), retention=retention()
    )


def report_ports() -> ReportPorts:
    from chalicelib.service.reports import ReportPorts

    reader: CounterReader | None = _overrides.get("counters")
    if reader is None:
        from chalicelib.adapters.records import DynamoCounterReader

        _connection()
        reader = DynamoCounterReader()
    return ReportPorts(counters=reader)


def privacy_ports() -> PrivacyPorts:
    from chalicelib.service.privacy import PrivacyPorts

    return PrivacyPorts(
        tickets=_overrides.get("repository") or _repository(),
        store=_privacy_store(),
        notifications=notification_store(),
        audit=audit_ports(),
    )


@cache
def _survey_store() -> Any:
    from chalicelib.adapters.surveys import DynamoSurveyStore

    return DynamoSurveyStore(_connection(), retention())


@cache
def _survey_workflow() -> Any:
    machine = settings().survey_state_machine_arn
    if machine is None:
        return None
    from chalicelib.adapters.surveys import StepFunctionsSurveyWorkflow

    return StepFunctionsSurveyWorkflow(_client("stepfunctions"), machine)


def survey_ports(*, workflow: bool = True) -> SurveyPorts:
    """`workflow=False` for the API: answering needs no Step Functions client."""
    from chalicelib.service.surveys import SurveyPorts

    current = settings()
    return SurveyPorts(
        tickets=_overrides.get("repository") or _repository(),
        surveys=_overrides.get("surveys") or _survey_store(),
        workflow=(_overrides.get("workflow") or _survey_workflow()) if workflow else None,
        notifications=notification_store(),
        ids=_overrides.get("ids") or _ids(),
        clock=clock(),
        delay=timedelta(seconds=current.survey_delay_seconds),
        window=timedelta(seconds=current.survey_window_seconds),
        sla=_overrides.get("sla") or sla_rules(),
        notifier=(_overrides.get("notifier") or _notifier()) if workflow else None,
    )


@cache
def notification_store() -> NotificationStore:
    if "notification_store" in _overrides:
        return _overrides["notification_store"]  # type: ignore[no-any-return]
    from chalicelib.adapters.notifications import DynamoNotificationStore

    _connection()
    return DynamoNotificationStore()


@cache
def _notifier() -> Notifier:
    from chalicelib.adapters.notifications import AwsNotifier

    current = settings()
    return AwsNotifier(_client("sns"), _client("ses", current.ses_region), current.email_sender)


def notification_ports() -> NotificationPorts:
    from chalicelib.service.notifications import NotificationPorts

    return NotificationPorts(
        tickets=_overrides.get("repository") or _repository(),
        store=notification_store(),
        notifier=_overrides.get("notifier") or _notifier(),
        ids=_overrides.get("ids") or _ids(),
        clock=clock(),
        public_base_url=settings().public_base_url,
        alerts=_overrides.get("alerts") or _ops_alerter(),
        survey_codes=_overrides.get("surveys") or _survey_store(),
    )


def _client(service: str, region: str | None = None) -> Any:
    import boto3

    current = settings()
    return boto3.client(
        service, region_name=region or current.region, endpoint_url=current.aws_endpoint_url
    )


@cache
def _ops_alerter() -> OpsAlerter | None:
    topic = settings().ops_alerts_topic_arn
    if topic is None:
        return None
    from chalicelib.adapters.alerts import SnsOpsAlerter

    return SnsOpsAlerter(_client("sns"), topic)


@cache
def sla_rules() -> SlaRules:
    """Policies and the business calendar, loaded once; a bad file fails here, at start."""
    from chalicelib.domain.sla import SlaRules, parse_policies

    policies = parse_policies(POLICIES_FILE.read_text(encoding="utf-8"), str(POLICIES_FILE))
    return SlaRules(policies, _lazy_calendar())


@cache
def _lazy_calendar() -> LazyCalendar:
    return LazyCalendar()


class LazyCalendar:
    """Loads the business calendar (holiday library + the bank's file) on first use,
    so a cold start that only reads tickets never pays for it."""

    @cached_property
    def calendar(self) -> BusinessCalendar:
        from chalicelib.domain.calendar import load_calendar
        from chalicelib.logs import logger

        year = utc_now().year
        return load_calendar(years=range(year - 1, year + 2), log=logger.warning)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        return self.calendar.add_working_time(start, duration)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return self.calendar.working_time_between(start, end)


def bind_storage() -> None:
    """Bind the table models (decoding stream images needs no connection, only this)."""
    _connection()


@cache
def cursor_keys() -> CursorKeys:
    """The keys that sign list cursors: read at run time from Secrets Manager (cached,
    rotation-safe) when a secret is named; local mode's key otherwise."""
    if "cursor_keys" in _overrides:
        return _overrides["cursor_keys"]  # type: ignore[no-any-return]
    current = settings()
    if current.cursor_secret_arn is not None:
        from chalicelib.adapters.secrets import SecretsManagerCursorKeys

        return SecretsManagerCursorKeys(_client("secretsmanager"), current.cursor_secret_arn)
    from chalicelib.api.cursors import FixedCursorKeys

    assert current.cursor_key is not None  # Settings.check: one of the two is there
    return FixedCursorKeys(current.cursor_key)


@cache
def token_verifier() -> Any:
    if "token_verifier" in _overrides:
        return _overrides["token_verifier"]
    from chalicelib.adapters.tokens import build_token_verifier

    return build_token_verifier(settings())

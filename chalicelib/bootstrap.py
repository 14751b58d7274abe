"""The one place that reads the environment and builds real parts.

`bootstrap(settings)` builds a typed :class:`Container` once (cosmicpython's
``bootstrap``): every adapter the handlers use, wired to one DynamoDB table. The
handlers ask :func:`container` for it; it is built on first use and kept for the
life of the Lambda instance. Only the AWS SDK clients (and the holiday calendar and
the application catalogue) stay lazy, so a cold start that only reads a ticket never
builds an SNS, SES or Step Functions client, nor checks the catalogue's schemas.
Tests swap parts with ``msgspec.structs.replace`` and :func:`use`. (A frozen msgspec
Struct, like every other record here: a frozen dataclass of this many fields cost
~2.5 ms of every cold start to create.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import msgspec
from pynamodb.connection import Connection

from chalicelib.adapters.alerts import SnsOpsAlerter
from chalicelib.adapters.appointments import DynamoAppointmentStore
from chalicelib.adapters.documents import DynamoDocumentStore
from chalicelib.adapters.dynamo import DynamoReactionLedger, DynamoTicketRepository
from chalicelib.adapters.event_bus import EventBridgeBus
from chalicelib.adapters.ids import RandomIdSource
from chalicelib.adapters.inbox import (
    DynamoInboxErasure,
    DynamoInboxStore,
    DynamoMailThreads,
    S3RawMailStore,
)
from chalicelib.adapters.mail_store import FixedReplyKeys, S3MailSource, SecretReplyKeys
from chalicelib.adapters.metrics import EmfMetrics
from chalicelib.adapters.models import bind_table
from chalicelib.adapters.notifications import AwsNotifier, DynamoNotificationStore
from chalicelib.adapters.objects import EicarScanner, GuardDutyScanner, S3ObjectStore, s3_client
from chalicelib.adapters.records import DynamoAuditLog, DynamoCounterReader, DynamoPrivacyStore
from chalicelib.adapters.secrets import SecretsManagerCursorKeys
from chalicelib.adapters.sms_index import DynamoSmsIndex
from chalicelib.adapters.sms_quota import DynamoSmsQuota
from chalicelib.adapters.surveys import DynamoSurveyStore, StepFunctionsSurveyWorkflow
from chalicelib.adapters.tokens import TokenVerifier, build_token_verifier
from chalicelib.api.cursors import CursorKeys, FixedCursorKeys
from chalicelib.config import SCANNER_LOCAL, Settings
from chalicelib.domain.applications import Catalogue, parse_catalogue
from chalicelib.domain.calendar import BusinessCalendar, load_calendar
from chalicelib.domain.complaints import ComplaintCodes, parse_codes
from chalicelib.domain.events import Event
from chalicelib.domain.reports import working_minutes_on
from chalicelib.domain.sla import SlaRules, parse_policies
from chalicelib.domain.sms_policy import SmsPolicy
from chalicelib.domain.ticket import Ticket
from chalicelib.logs import logger
from chalicelib.service.applications import commit_review
from chalicelib.service.appointments import AppointmentPorts, commit_action
from chalicelib.service.audit import AuditPorts
from chalicelib.service.complaints import ComplaintReportPorts
from chalicelib.service.documents import (
    DocumentPorts,
    DocumentStore,
    ObjectStore,
    Scanner,
    erase_documents,
)
from chalicelib.service.inbound_mail import InboundPorts, ReplyThreading
from chalicelib.service.inbound_sms import InboundSmsPorts
from chalicelib.service.inbox import InboxPorts, SmsToInbox
from chalicelib.service.notifications import NotificationPorts
from chalicelib.service.ports import (
    AppointmentStore,
    AuditLog,
    Clock,
    CounterReader,
    EventBus,
    IdSource,
    InboxStore,
    MailSource,
    MailThreads,
    MetricsSink,
    NotificationStore,
    Notifier,
    OpsAlerter,
    PrivacyStore,
    ReactionLedger,
    ReplyKeys,
    SmsIndex,
    SmsQuota,
    SurveyStore,
    SurveyWorkflow,
    TicketRepository,
    Triage,
)
from chalicelib.service.privacy import InboxErasure, PrivacyPorts, RawMailStore
from chalicelib.service.reactions import ReactionPorts
from chalicelib.service.reports import ReportPorts
from chalicelib.service.surveys import SurveyPorts
from chalicelib.service.tickets import TicketPorts

POLICIES_FILE = Path(__file__).resolve().parent / "data" / "sla-policies.json"
APPLICATION_TYPES_FILE = POLICIES_FILE.with_name("application-types.json")
APPLICATION_TYPES_SCHEMA = POLICIES_FILE.with_name("application-types.schema.json")
COMPLAINT_CODES_FILE = Path(__file__).resolve().parent / "data" / "complaint-codes.json"


def utc_now() -> datetime:
    return datetime.now(UTC)


class LazyClient:
    """A boto3 client made on first use: the SDK import and the client's own
    set-up (tens of milliseconds) are paid only by the code path that calls AWS."""

    def __init__(self, service: str, region: str, endpoint_url: str | None) -> None:
        self._service = service
        self._region = region
        self._endpoint_url = endpoint_url

    @cached_property
    def client(self) -> Any:
        import boto3  # the SDK is the edge: imported by the first call that needs it

        return boto3.client(
            self._service, region_name=self._region, endpoint_url=self._endpoint_url
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class LazyS3:
    """The S3 client (path-style against a local endpoint), made on first use."""

    def __init__(self, region: str, endpoint_url: str | None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url

    @cached_property
    def client(self) -> Any:
        return s3_client(self._region, self._endpoint_url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class LazyCalendar:
    """The business calendar (holiday library + the bank's file), loaded on first use,
    so a cold start that only reads tickets never pays for it."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    @cached_property
    def calendar(self) -> BusinessCalendar:
        year = self._clock().year
        return load_calendar(years=range(year - 1, year + 2), log=logger.warning)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        return self.calendar.add_working_time(start, duration)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return self.calendar.working_time_between(start, end)


def load_sla_rules(calendar: LazyCalendar) -> SlaRules:
    """Policies and the business calendar; a bad policy file fails here, at start."""
    policies = parse_policies(POLICIES_FILE.read_text(encoding="utf-8"), str(POLICIES_FILE))
    return SlaRules(policies, calendar)


def load_application_catalogue() -> Catalogue:
    """The application types the bank offers (SPEC 11); a bad entry fails here, naming it."""
    schema = json.loads(APPLICATION_TYPES_SCHEMA.read_text(encoding="utf-8"))
    text = APPLICATION_TYPES_FILE.read_text(encoding="utf-8")
    return parse_catalogue(text, schema, APPLICATION_TYPES_FILE.name)


class LazyCatalogue:
    """The application catalogue, loaded on first use and kept by the container (once per
    Lambda instance): checking it against its schema imports jsonschema, which a cold
    start that only reads tickets never pays for. Tests hand it their own `load`."""

    def __init__(self, load: Callable[[], Catalogue] = load_application_catalogue) -> None:
        self._load = load

    @cached_property
    def catalogue(self) -> Catalogue:
        return self._load()


def load_complaint_codes() -> ComplaintCodes:
    """The bank's complaint codes; a bad entry fails here, at start, naming it."""
    text = COMPLAINT_CODES_FILE.read_text(encoding="utf-8")
    return parse_codes(text, str(COMPLAINT_CODES_FILE))


class Container(msgspec.Struct, frozen=True):
    """Every part the handlers use, built once from :class:`Settings`."""

    settings: Settings
    clock: Clock
    ids: IdSource
    calendar: LazyCalendar
    sla: SlaRules
    repository: TicketRepository
    ledger: ReactionLedger
    appointment_store: AppointmentStore
    survey_store: SurveyStore
    notification_store: NotificationStore
    audit_log: AuditLog
    privacy_store: PrivacyStore
    counters: CounterReader
    notifier: Notifier
    alerts: OpsAlerter | None
    workflow: SurveyWorkflow | None
    metrics: MetricsSink
    token_verifier: TokenVerifier
    cursor_keys: CursorKeys
    inbox_store: InboxStore
    mail_threads: MailThreads
    reply_keys: ReplyKeys | None
    mail_source: MailSource
    # Inbound SMS and the EventBridge export (SPEC 12).
    sms_index: SmsIndex
    sms_triage: Triage
    bus: EventBus | None
    complaint_codes: ComplaintCodes
    applications: LazyCatalogue  # the application types (SPEC 11)
    document_store: DocumentStore  # SPEC 11 documents on the table
    objects: ObjectStore  # the document bucket (S3, client made on first use)
    scanner: Scanner = msgspec.field(default_factory=GuardDutyScanner)
    inbox_erasure: InboxErasure | None = None  # erasure of email and SMS in (SPEC 12)
    raw_mail: RawMailStore | None = None  # the inbound bucket's stored messages
    sms_quota: SmsQuota | None = None  # daily SMS counters (security review H2)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.settings.retention_days)

    def _parts_for(self, bundle: type[msgspec.Struct], *left_out: str) -> dict[str, Any]:
        """The container's parts `bundle` has a field of the same name for (ids, clock,
        alerts...), but those `left_out` (the builder passes them itself or leaves their
        default). The builder passes every other field by keyword, where the type checker
        checks it; tests/unit/test_container.py checks these against the bundle's types.
        A part passed twice or missing fails in the bundle's constructor; a name left out
        that the two do not share fails here."""
        shared = [name for name in bundle.__struct_fields__ if name in PART_NAMES]
        unknown = set(left_out) - set(shared)
        if unknown:
            raise ValueError(f"{bundle.__name__} shares no part {sorted(unknown)}")
        return {name: getattr(self, name) for name in shared if name not in left_out}

    def ticket_ports(self) -> TicketPorts:
        return TicketPorts(
            **self._parts_for(TicketPorts),
            appointment_commit=partial(commit_action, self.appointment_ports()),
            review_commit=self._review_commit,
        )

    def _review_commit(
        self, before: Ticket, changed: Ticket, events: list[Event], now: datetime
    ) -> Ticket:
        return commit_review(self.document_store, before, changed, events, now)

    @property
    def documents_bucket(self) -> str:
        return self.settings.documents_bucket or ""

    def document_ports(self, *, alerts: bool = True) -> DocumentPorts:
        """`alerts=False` for the API: only the upload handlers alert ops."""
        return msgspec.structs.replace(
            self._quiet_document_ports(), alerts=self.alerts if alerts else None
        )

    def _quiet_document_ports(self) -> DocumentPorts:
        return DocumentPorts(
            **self._parts_for(DocumentPorts, "alerts"),
            tickets=self.repository,
            documents=self.document_store,
        )

    def appointment_ports(self) -> AppointmentPorts:
        return AppointmentPorts(
            **self._parts_for(AppointmentPorts, "calendar"),
            store=self.appointment_store,
            tickets=self.repository,
            calendar=lambda: self.calendar.calendar,
            reminder_lead=timedelta(seconds=self.settings.appointment_reminder_lead_seconds),
        )

    def notification_ports(self) -> NotificationPorts:
        return NotificationPorts(
            **self._parts_for(NotificationPorts),
            tickets=self.repository,
            store=self.notification_store,
            public_base_url=self.settings.public_base_url,
            survey_codes=self.survey_store,
            mail_threading=self.reply_threading(),
            sms_policy=self.sms_policy,
        )

    @property
    def sms_policy(self) -> SmsPolicy:
        """Where and how often the desk texts (the allow-list is also checked at input)."""
        settings = self.settings
        return SmsPolicy(
            allowed_country_codes=settings.sms_allowed_country_codes,
            per_number=settings.sms_daily_limit_per_number,
            per_customer=settings.sms_daily_limit_per_customer,
        )

    def reply_threading(self) -> ReplyThreading | None:
        """What email out needs to thread (None without a reply-token key)."""
        if self.reply_keys is None:
            return None
        return ReplyThreading(self.mail_threads, self.reply_keys, self.settings.inbound_mail_domain)

    def inbox_ports(self) -> InboxPorts:
        """The triage inbox: `triage()` needs the store only; the routes' actions the rest."""
        documents = self.settings.documents_bucket and self.settings.inbound_mail_bucket
        return InboxPorts(
            store=self.inbox_store,
            tickets=self.ticket_ports(),
            audit=self.audit_ports(),
            documents=self._quiet_document_ports() if documents else None,
            mail=self.mail_source,
            mail_bucket=self.settings.inbound_mail_bucket,
        )

    def inbound_mail_ports(self) -> InboundPorts:
        assert self.reply_keys is not None, "Settings.check requires a reply-token key"
        return InboundPorts(
            tickets=self.ticket_ports(),
            threads=self.mail_threads,
            keys=self.reply_keys,
            mail=self.mail_source,
            inbox=self.inbox_ports(),
            domain=self.settings.inbound_mail_domain,
            documents=self._quiet_document_ports() if self.settings.documents_bucket else None,
        )

    def survey_ports(self, *, workflow: bool = True) -> SurveyPorts:
        """`workflow=False` for the API: answering needs no Step Functions client."""
        return msgspec.structs.replace(
            self._answering_ports(),
            workflow=self.workflow if workflow else None,
            notifier=self.notifier if workflow else None,
        )

    def _answering_ports(self) -> SurveyPorts:
        """What answering a survey needs (the page, a score by SMS): no workflow and no
        notifier, the stream releases the workflow and sends what follows."""
        return SurveyPorts(
            **self._parts_for(SurveyPorts, "workflow", "notifier"),
            tickets=self.repository,
            surveys=self.survey_store,
            workflow=None,
            notifications=self.notification_store,
            delay=timedelta(seconds=self.settings.survey_delay_seconds),
            window=timedelta(seconds=self.settings.survey_window_seconds),
        )

    def reaction_ports(self) -> ReactionPorts:
        return ReactionPorts(
            **self._parts_for(ReactionPorts),
            notifications=self.notification_ports(),
            surveys=self.survey_ports(),
            tickets=self.repository,
            working_minutes=working_minutes_on(self.calendar),
            audit=self.audit_log,
            privacy=self.privacy_store,
            retention=self.retention,
            expire_documents=self._expire_documents,
            delete_document_object=self._delete_document_object,
            inbox=self.inbox_ports(),
        )

    def inbound_sms_ports(self) -> InboundSmsPorts:
        # A score by SMS answers like the survey page.
        return InboundSmsPorts(
            tickets=self.ticket_ports(),
            surveys=self._answering_ports(),
            preferences=self.notification_store,
            index=self.sms_index,
            triage=self.sms_triage,
        )

    def _expire_documents(self, ticket_id: str, expires_at: int) -> None:
        self.document_store.expire(ticket_id, expires_at)

    def _delete_document_object(self, key: str) -> None:
        self.objects.delete(key)

    def audit_ports(self) -> AuditPorts:
        return AuditPorts(
            **self._parts_for(AuditPorts), log=self.audit_log, retention=self.retention
        )

    def report_ports(self) -> ReportPorts:
        return ReportPorts(counters=self.counters)

    def complaint_report_ports(self) -> ComplaintReportPorts:
        return ComplaintReportPorts(counters=self.counters)

    def privacy_ports(self) -> PrivacyPorts:
        return PrivacyPorts(
            **self._parts_for(PrivacyPorts),
            tickets=self.repository,
            store=self.privacy_store,
            notifications=self.notification_store,
            audit=self.audit_ports(),
            forget_documents=self._erase_documents,
            inbox=self.inbox_erasure,
        )

    def _erase_documents(self, ticket: Ticket) -> None:
        erase_documents(self._quiet_document_ports(), ticket)


# The container's parts, by name: what _parts_for() may hand a port bundle.
PART_NAMES = frozenset(Container.__struct_fields__)


def bootstrap(settings: Settings, clock: Clock = utc_now) -> Container:
    """Build every part from settings: bind the table models, then the adapters."""
    bind_table(settings.table_name, settings.region, settings.aws_endpoint_url)
    connection = Connection(region=settings.region, host=settings.aws_endpoint_url)
    retention = timedelta(days=settings.retention_days)
    client = partial(LazyClient, region=settings.region, endpoint_url=settings.aws_endpoint_url)
    sns = client("sns")
    # One S3 client for every bucket: the documents', the received mail's (both buckets
    # are the stack's, in its region).
    s3 = LazyS3(settings.region, settings.aws_endpoint_url)
    calendar = LazyCalendar(clock)
    inbox_store = DynamoInboxStore(connection, retention)
    return Container(
        settings=settings,
        clock=clock,
        ids=RandomIdSource(),
        calendar=calendar,
        sla=load_sla_rules(calendar),
        repository=DynamoTicketRepository(connection, retention),
        ledger=DynamoReactionLedger(connection, clock),
        appointment_store=DynamoAppointmentStore(connection, retention),
        survey_store=DynamoSurveyStore(connection, retention),
        notification_store=DynamoNotificationStore(connection, clock),
        audit_log=DynamoAuditLog(),
        privacy_store=DynamoPrivacyStore(connection, retention),
        counters=DynamoCounterReader(),
        notifier=AwsNotifier(
            sns, client("ses", region=settings.ses_region), settings.email_sender, clock
        ),
        alerts=_ops_alerter(settings, sns),
        workflow=_survey_workflow(settings, client),
        metrics=EmfMetrics(),
        token_verifier=build_token_verifier(settings),
        cursor_keys=_cursor_keys(settings, client),
        document_store=DynamoDocumentStore(connection, retention),
        objects=S3ObjectStore(s3, settings.documents_bucket or "", clock),
        scanner=_document_scanner(settings),
        inbox_store=inbox_store,
        mail_threads=DynamoMailThreads(connection, clock, retention),
        reply_keys=_reply_keys(settings, client),
        mail_source=S3MailSource(s3),
        sms_index=DynamoSmsIndex(),
        sms_triage=SmsToInbox(inbox_store),
        bus=_event_bus(settings, client),
        complaint_codes=load_complaint_codes(),
        applications=LazyCatalogue(),
        inbox_erasure=DynamoInboxErasure(),
        raw_mail=_raw_mail(settings, s3),
        sms_quota=DynamoSmsQuota(connection, clock),
    )


def _raw_mail(settings: Settings, s3: LazyS3) -> RawMailStore | None:
    bucket = settings.inbound_mail_bucket
    return S3RawMailStore(s3, bucket) if bucket else None


def _document_scanner(settings: Settings) -> Scanner:
    local = settings.document_scanner == SCANNER_LOCAL
    return EicarScanner() if local else GuardDutyScanner()


def _ops_alerter(settings: Settings, sns: Any) -> OpsAlerter | None:
    topic = settings.ops_alerts_topic_arn
    return SnsOpsAlerter(sns, topic) if topic else None


def _survey_workflow(settings: Settings, client: Callable[..., Any]) -> SurveyWorkflow | None:
    machine = settings.survey_state_machine_arn
    return StepFunctionsSurveyWorkflow(client("stepfunctions"), machine) if machine else None


def _event_bus(settings: Settings, client: Callable[..., Any]) -> EventBus | None:
    bus = settings.event_bus_name
    return EventBridgeBus(client("events"), bus) if bus else None


def _cursor_keys(settings: Settings, client: Callable[..., Any]) -> CursorKeys:
    """Read at run time from Secrets Manager (cached, rotation-safe) when a secret is
    named; local mode's key otherwise (Settings.check makes sure there is one)."""
    secret = settings.cursor_secret_arn
    if secret:
        return SecretsManagerCursorKeys(client("secretsmanager"), secret)
    assert settings.cursor_key is not None
    return FixedCursorKeys(settings.cursor_key)


def _reply_keys(settings: Settings, client: Callable[..., Any]) -> ReplyKeys | None:
    """The reply-token keys from their own secret (cached, rotation-safe), or local
    mode's derived key; None when neither is configured (no Reply-To token then)."""
    secret = settings.reply_token_secret_arn
    if secret:
        return SecretReplyKeys(SecretsManagerCursorKeys(client("secretsmanager"), secret))
    return FixedReplyKeys(settings.reply_token_key) if settings.reply_token_key else None


_current: Container | None = None


def container() -> Container:
    """The instance's container, built from the environment on first use."""
    global _current  # noqa: PLW0603 - one container per Lambda instance
    if _current is None:
        _current = bootstrap(Settings.from_env(os.environ))
    return _current


def use(replacement: Container | None) -> None:
    """Install a container (tests, local tools); None builds from the environment again."""
    global _current  # noqa: PLW0603 - one container per Lambda instance
    _current = replacement

"""Environment variable names and the one frozen Settings object.

Only ``bootstrap.py`` calls :func:`Settings.from_env`; everything else receives
values as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import msgspec

from chalicelib.domain.sms_policy import (
    DEFAULT_ALLOWED_COUNTRY_CODES,
    DEFAULT_DAILY_PER_CUSTOMER,
    DEFAULT_DAILY_PER_NUMBER,
    parse_country_codes,
)

STAGE = "SERVICEDESK_STAGE"
TABLE_NAME = "TABLE_NAME"
AWS_ENDPOINT_URL = "SERVICEDESK_AWS_ENDPOINT_URL"
AWS_REGION = "AWS_DEFAULT_REGION"
AUTH_MODE = "SERVICEDESK_AUTH_MODE"
DEV_JWT_SECRET = "SERVICEDESK_DEV_JWT_SECRET"
OIDC_JWKS_URL = "OIDC_JWKS_URL"
OIDC_ISSUER = "OIDC_ISSUER"
OIDC_AUDIENCE = "OIDC_AUDIENCE"
OIDC_REQUIRED_SCOPE = "OIDC_REQUIRED_SCOPE"
CORS_ALLOWED_ORIGINS = "CORS_ALLOWED_ORIGINS"
OPS_ALERTS_TOPIC_ARN = "OPS_ALERTS_TOPIC_ARN"
SURVEY_STATE_MACHINE_ARN = "SURVEY_STATE_MACHINE_ARN"
PUBLIC_BASE_URL = "PUBLIC_BASE_URL"
LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
# The cursor-signing key is read at run time from this Secrets Manager secret (cached,
# rotation-safe: see adapters/secrets.py), never from the environment in plain text.
CURSOR_SECRET_ARN = "SERVICEDESK_CURSOR_SECRET_ARN"
# A local/testing override of the key itself; refused inside Lambda.
CURSOR_KEY = "SERVICEDESK_CURSOR_KEY"
EMAIL_SENDER = "SERVICEDESK_EMAIL_SENDER"
# Email in (SPEC 12): replies go to reply+<token>@<this domain>; the token's HMAC key is
# read at run time from its own secret (rotated on its own: a cursor key rotation must not
# orphan replies to mail sent days ago); local mode derives one from the dev secret.
INBOUND_MAIL_DOMAIN = "SERVICEDESK_INBOUND_MAIL_DOMAIN"
REPLY_TOKEN_SECRET_ARN = "SERVICEDESK_REPLY_TOKEN_SECRET_ARN"
DEFAULT_INBOUND_MAIL_DOMAIN = "reply.servicedesk.bank.example"
SES_REGION = "SES_REGION"
SURVEY_DELAY_SECONDS = "SURVEY_DELAY_SECONDS"
SURVEY_WINDOW_SECONDS = "SURVEY_WINDOW_SECONDS"
PRODUCTION_SURVEY_DELAY = 2 * 3600  # 2 h after resolution
PRODUCTION_SURVEY_WINDOW = 72 * 3600  # 72 h per round (invitation, then reminder)
RETENTION_DAYS = "SERVICEDESK_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 1826  # five years: closed tickets, their events, the audit log
REMINDER_LEAD = "APPOINTMENT_REMINDER_LEAD_SECONDS"
USAGE_CLIENTS = "USAGE_CLIENTS"  # client_id=usage key value, comma-separated (usage plans)
USAGE_KEY_MIN_LENGTH = 20  # API Gateway's shortest API key value
DOCUMENTS_BUCKET = "DOCUMENTS_BUCKET"  # the private bucket of customers' documents
# guardduty (deployed: GuardDuty Malware Protection for S3 reports by EventBridge) or
# local-eicar (local mode's stand-in that flags the EICAR test file).
DOCUMENT_SCANNER = "DOCUMENT_SCANNER"
SCANNER_GUARDDUTY = "guardduty"
SCANNER_LOCAL = "local-eicar"
INBOUND_MAIL_BUCKET = "INBOUND_MAIL_BUCKET"  # where SES stores received mail (erasure deletes)
EVENT_BUS_NAME = "SERVICEDESK_EVENT_BUS_NAME"  # the EventBridge export (SPEC 12); unset: off
# Where and how often the desk texts (domain/sms_policy.py): E.164 country calling codes
# (comma-separated, "+" optional) and the daily SMS cap per number and per customer.
SMS_ALLOWED_COUNTRY_CODES = "SERVICEDESK_SMS_ALLOWED_COUNTRY_CODES"
SMS_DAILY_LIMIT_PER_NUMBER = "SERVICEDESK_SMS_DAILY_LIMIT_PER_NUMBER"
SMS_DAILY_LIMIT_PER_CUSTOMER = "SERVICEDESK_SMS_DAILY_LIMIT_PER_CUSTOMER"
SMS_DAILY_LIMIT_MAX = 1000

AUTH_MODE_OIDC = "oidc"
AUTH_MODE_LOCAL = "local-hs256"
DEFAULT_DEV_JWT_SECRET = "servicedesk-local-development-secret"  # noqa: S105 - local mode only, documented
DEFAULT_TABLE_NAME = "servicedesk"


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable stage."""


class Settings(msgspec.Struct, frozen=True):
    stage: str
    table_name: str
    region: str
    aws_endpoint_url: str | None
    auth_mode: str
    dev_jwt_secret: str
    oidc_jwks_url: str | None
    oidc_issuer: str | None
    oidc_audience: str | None
    cors_allowed_origins: tuple[str, ...]
    ops_alerts_topic_arn: str | None
    survey_state_machine_arn: str | None
    public_base_url: str
    cursor_key: bytes | None  # local mode's key, used only when no secret is named
    cursor_secret_arn: str | None = None  # deployed stages: the key is read at run time
    email_sender: str = "servicedesk@bank.example"
    ses_region: str = "ap-southeast-1"
    survey_delay_seconds: int = PRODUCTION_SURVEY_DELAY
    survey_window_seconds: int = PRODUCTION_SURVEY_WINDOW
    retention_days: int = DEFAULT_RETENTION_DAYS
    appointment_reminder_lead_seconds: int = 7200
    # The scope every access token must carry (the template's ApiScope); none in local mode.
    oidc_required_scope: str | None = None
    # OAuth client id -> the API key value of its usage plan (the authorizer's
    # usageIdentifierKey). Required in oidc mode: a token of any other client app is refused.
    usage_keys: Mapping[str, str] = msgspec.field(default_factory=dict)
    documents_bucket: str | None = None
    document_scanner: str = SCANNER_GUARDDUTY
    inbound_mail_domain: str = DEFAULT_INBOUND_MAIL_DOMAIN
    reply_token_secret_arn: str | None = None
    reply_token_key: bytes | None = None  # local mode only (derived from the dev secret)
    event_bus_name: str | None = None
    inbound_mail_bucket: str | None = None
    sms_allowed_country_codes: tuple[str, ...] = DEFAULT_ALLOWED_COUNTRY_CODES
    sms_daily_limit_per_number: int = DEFAULT_DAILY_PER_NUMBER
    sms_daily_limit_per_customer: int = DEFAULT_DAILY_PER_CUSTOMER

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        auth_mode = env.get(AUTH_MODE, AUTH_MODE_OIDC)
        running_in_lambda = bool(env.get(LAMBDA_FUNCTION_NAME))
        settings = cls(
            stage=env.get(STAGE, "local"),
            table_name=env.get(TABLE_NAME, DEFAULT_TABLE_NAME),
            region=env.get(AWS_REGION) or env.get("AWS_REGION") or "ap-east-1",
            aws_endpoint_url=env.get(AWS_ENDPOINT_URL) or None,
            auth_mode=auth_mode,
            dev_jwt_secret=env.get(DEV_JWT_SECRET, DEFAULT_DEV_JWT_SECRET),
            oidc_jwks_url=env.get(OIDC_JWKS_URL) or None,
            oidc_issuer=env.get(OIDC_ISSUER) or None,
            oidc_audience=env.get(OIDC_AUDIENCE) or None,
            cors_allowed_origins=_split_list(env.get(CORS_ALLOWED_ORIGINS, "")),
            ops_alerts_topic_arn=env.get(OPS_ALERTS_TOPIC_ARN) or None,
            survey_state_machine_arn=env.get(SURVEY_STATE_MACHINE_ARN) or None,
            public_base_url=env.get(PUBLIC_BASE_URL, "http://127.0.0.1:8000"),
            cursor_key=_local_cursor_key(env, auth_mode, running_in_lambda),
            cursor_secret_arn=env.get(CURSOR_SECRET_ARN) or None,
            email_sender=env.get(EMAIL_SENDER, "servicedesk@bank.example"),
            ses_region=env.get(SES_REGION, "ap-southeast-1"),
            survey_delay_seconds=_seconds(env, SURVEY_DELAY_SECONDS, PRODUCTION_SURVEY_DELAY),
            survey_window_seconds=_seconds(env, SURVEY_WINDOW_SECONDS, PRODUCTION_SURVEY_WINDOW),
            retention_days=_retention_days(env.get(RETENTION_DAYS)),
            appointment_reminder_lead_seconds=_seconds(env, REMINDER_LEAD, 7200),
            oidc_required_scope=env.get(OIDC_REQUIRED_SCOPE) or None,
            usage_keys=_usage_keys(env.get(USAGE_CLIENTS, "")),
            documents_bucket=env.get(DOCUMENTS_BUCKET) or None,
            document_scanner=env.get(DOCUMENT_SCANNER) or SCANNER_GUARDDUTY,
            inbound_mail_domain=env.get(INBOUND_MAIL_DOMAIN) or DEFAULT_INBOUND_MAIL_DOMAIN,
            reply_token_secret_arn=env.get(REPLY_TOKEN_SECRET_ARN) or None,
            reply_token_key=_local_reply_key(env, auth_mode, running_in_lambda),
            event_bus_name=env.get(EVENT_BUS_NAME) or None,
            inbound_mail_bucket=env.get(INBOUND_MAIL_BUCKET) or None,
            sms_allowed_country_codes=_country_codes(env.get(SMS_ALLOWED_COUNTRY_CODES)),
            sms_daily_limit_per_number=_daily_limit(
                env, SMS_DAILY_LIMIT_PER_NUMBER, DEFAULT_DAILY_PER_NUMBER
            ),
            sms_daily_limit_per_customer=_daily_limit(
                env, SMS_DAILY_LIMIT_PER_CUSTOMER, DEFAULT_DAILY_PER_CUSTOMER
            ),
        )
        settings.check(running_in_lambda=running_in_lambda)
        return settings

    def check(self, *, running_in_lambda: bool) -> None:
        if self.auth_mode not in (AUTH_MODE_OIDC, AUTH_MODE_LOCAL):
            raise ConfigurationError(f"{AUTH_MODE} must be {AUTH_MODE_OIDC} or {AUTH_MODE_LOCAL}")
        if self.auth_mode == AUTH_MODE_LOCAL and running_in_lambda:
            # A deployed stage never accepts HS256 tokens, whatever its configuration says.
            raise ConfigurationError("local HS256 tokens are refused inside AWS Lambda")
        if self.auth_mode == AUTH_MODE_OIDC and not (
            self.oidc_jwks_url and self.oidc_issuer and self.oidc_audience
        ):
            raise ConfigurationError(
                f"{OIDC_JWKS_URL}, {OIDC_ISSUER} and {OIDC_AUDIENCE} are required in oidc mode"
            )
        if self.cursor_key is None and self.cursor_secret_arn is None:
            raise ConfigurationError(f"{CURSOR_SECRET_ARN} is required outside local mode")
        self._check_scope()
        if self.document_scanner not in (SCANNER_GUARDDUTY, SCANNER_LOCAL):
            raise ConfigurationError(
                f"{DOCUMENT_SCANNER} must be {SCANNER_GUARDDUTY} or {SCANNER_LOCAL}"
            )
        if self.document_scanner == SCANNER_LOCAL and running_in_lambda:
            raise ConfigurationError("the local EICAR stand-in is refused inside AWS Lambda")
        if self.auth_mode == AUTH_MODE_OIDC and not self.usage_keys:
            raise ConfigurationError(f"{USAGE_CLIENTS} is required in oidc mode")

    def _check_scope(self) -> None:
        scope = self.oidc_required_scope
        if scope is not None and len(scope.split()) != 1:
            raise ConfigurationError(f"{OIDC_REQUIRED_SCOPE} must name one scope")


def _local_cursor_key(
    env: Mapping[str, str], auth_mode: str, running_in_lambda: bool
) -> bytes | None:
    """The cursor key for when no secret is named: an explicit override (tests; never
    inside Lambda, where anyone who can read the function's configuration could read
    it), or one derived from the dev secret in local mode; else None."""
    configured = env.get(CURSOR_KEY)
    if configured:
        if running_in_lambda:
            raise ConfigurationError(
                f"{CURSOR_KEY} is refused inside Lambda; set {CURSOR_SECRET_ARN}"
            )
        return configured.encode()
    if auth_mode == AUTH_MODE_LOCAL:
        secret = env.get(DEV_JWT_SECRET, DEFAULT_DEV_JWT_SECRET)
        return hashlib.sha256(f"cursor:{secret}".encode()).digest()
    return None


def _local_reply_key(
    env: Mapping[str, str], auth_mode: str, running_in_lambda: bool
) -> bytes | None:
    """Local mode's reply-token key: derived from the dev secret, never inside Lambda."""
    if auth_mode != AUTH_MODE_LOCAL or running_in_lambda:
        return None
    secret = env.get(DEV_JWT_SECRET, DEFAULT_DEV_JWT_SECRET)
    return hashlib.sha256(f"reply-token:{secret}".encode()).digest()


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number of seconds, got {value!r}")
    return int(value)


def _retention_days(value: str | None) -> int:
    env = {RETENTION_DAYS: value} if value else {}
    return _whole_number(env, RETENTION_DAYS, DEFAULT_RETENTION_DAYS, 36500, "days")


def _whole_number(env: Mapping[str, str], name: str, default: int, most: int, unit: str) -> int:
    """A setting from 1 to `most` (`default` when unset or empty)."""
    value = env.get(name)
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise ConfigurationError(f"{name} must be a number of {unit} from 1 to {most}")
    return int(value)


def _country_codes(value: str | None) -> tuple[str, ...]:
    if value is None or not value.strip():
        return DEFAULT_ALLOWED_COUNTRY_CODES
    try:
        return parse_country_codes(value)
    except ValueError as error:
        raise ConfigurationError(f"{SMS_ALLOWED_COUNTRY_CODES}: {error}") from error


def _daily_limit(env: Mapping[str, str], name: str, default: int) -> int:
    return _whole_number(env, name, default, SMS_DAILY_LIMIT_MAX, "SMS")


def _usage_keys(value: str) -> dict[str, str]:
    """Parse ``client-id=usage-key,...``: each client once, each key long enough for API Gateway."""
    keys: dict[str, str] = {}
    for item in _split_list(value):
        client, separator, key = (part.strip() for part in item.partition("="))
        if not (separator and client and key) or "=" in key:
            raise ConfigurationError(f"{USAGE_CLIENTS} must be client_id=usage_key pairs")
        if client in keys:
            raise ConfigurationError(f"{USAGE_CLIENTS} names the client {client!r} twice")
        if len(key) < USAGE_KEY_MIN_LENGTH:
            raise ConfigurationError(
                f"{USAGE_CLIENTS}: the usage key of {client!r} is shorter than "
                f"{USAGE_KEY_MIN_LENGTH} characters (API Gateway's minimum)"
            )
        keys[client] = key
    return keys


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())

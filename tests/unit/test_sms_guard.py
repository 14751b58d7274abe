"""Where and how often the desk texts (security review H2: SMS pumping), on fakes.

The allow-list of destination country codes and the daily caps per number and per
customer, at the moment a notification would be texted; the allow-list at input too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import (
    SMS_ALLOWED_COUNTRY_CODES,
    SMS_DAILY_LIMIT_PER_CUSTOMER,
    SMS_DAILY_LIMIT_PER_NUMBER,
    ConfigurationError,
    Settings,
)
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.sms_policy import (
    SmsPolicy,
    parse_country_codes,
    quota_day,
    quota_expiry,
)
from chalicelib.domain.ticket import Ticket, open_ticket
from chalicelib.service.notifications import NotificationPorts, notify
from tests import fakes
from tests.fakes_sms import InMemorySmsQuota

PHONE = "+8613812348000"
HONG_KONG = "+85291234567"
PREMIUM = "+88234567890123"  # an international premium range (+882): toll fraud
EMAIL = "jane.doe@example.com"
# 10:00 in Shanghai: the bank's day 2026-11-27 began 10 hours ago.
MORNING = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


class Desk:
    """Tickets and their notifications on fakes, with the SMS policy and its counters."""

    def __init__(self, policy: SmsPolicy | None = None, alert_failures: int = 0) -> None:
        self.repository = fakes.InMemoryTicketRepository()
        self.clock = fakes.FixedClock(MORNING)
        self.ids = fakes.SequentialIds()
        self.notifier = fakes.RecordingNotifier()
        self.alerts = fakes.RecordingOpsAlerter(failures=alert_failures)
        self.quota = InMemorySmsQuota()
        self.ports = NotificationPorts(
            tickets=self.repository,
            store=fakes.InMemoryNotificationStore(self.repository),
            notifier=self.notifier,
            ids=self.ids,
            clock=self.clock,
            public_base_url="https://sd.bankxyz.cn",
            alerts=self.alerts,
            sleep=lambda _: None,
            sms_policy=policy or SmsPolicy(),
            sms_quota=self.quota,
        )

    def open(self, customer: str = "c-1", phone: str = PHONE, email: str | None = None) -> Ticket:
        contact = {"phone": phone, "preferred": "sms"} | ({"email": email} if email else {})
        ids = {"ticket_id": self.ids.ticket_id(), "reference": self.ids.reference()}
        caller = Caller(Role.CUSTOMER, customer)
        request = fakes.card_request(contact)
        ticket, created = open_ticket(
            request, caller, **ids, event_id=self.ids.event_id(), now=self.clock()
        )
        self.repository.create(ticket, [created])
        notify(created, self.ports)
        return ticket

    def sms(self) -> list[str]:
        return [m.to for m in self.notifier.sent if m.channel == "sms"]

    def outcome(self, ticket: Ticket) -> Event:
        [outcome] = [e for e in self.repository.events(ticket.id) if e.type.startswith("notif")]
        return outcome


# --- destinations ---------------------------------------------------------------------------


def test_twenty_tickets_to_a_premium_number_send_no_sms() -> None:
    """The reviewer's proof: one customer opening 20 tickets to +8823... got 20 SMS."""
    desk = Desk()
    tickets = [desk.open(phone=PREMIUM) for _ in range(20)]
    assert desk.sms() == []
    for ticket in tickets:
        outcome = desk.outcome(ticket)
        assert outcome.type == "notification.skipped"
        assert outcome.data["reason"] == "sms_destination_not_allowed"
    [alert] = desk.alerts.sent  # one a day for the number, not one per message
    assert alert.kind == "sms.destination_not_allowed"
    assert alert.details["number_prefix"] == "+882"
    assert "4567890123" not in str(alert)  # no personal data


def test_a_number_the_desk_may_not_text_is_told_by_email_when_there_is_one() -> None:
    desk = Desk()
    ticket = desk.open(phone=PREMIUM, email=EMAIL)
    assert [(m.channel, m.to) for m in desk.notifier.sent] == [("email", EMAIL)]
    outcome = desk.outcome(ticket)
    assert (outcome.type, outcome.data["channel"]) == ("notification.sent", "email")
    assert len(desk.alerts.sent) == 1


@pytest.mark.parametrize("phone", [PHONE, HONG_KONG, "+85361234567"])
def test_mainland_hong_kong_and_macao_numbers_are_texted_by_default(phone: str) -> None:
    desk = Desk()
    desk.open(phone=phone)
    assert desk.sms() == [phone]
    assert desk.alerts.sent == []


def test_the_allow_list_is_configurable() -> None:
    desk = Desk(SmsPolicy(allowed_country_codes=("852",)))
    desk.open(phone=PHONE)
    desk.open(phone=HONG_KONG)
    assert desk.sms() == [HONG_KONG]


@pytest.mark.parametrize(
    ("phone", "allowed"),
    [
        (PHONE, True),
        ("+85291234567", True),
        ("+8535551234", True),
        (PREMIUM, False),
        ("+88112345678", False),  # +881: satellite, premium
        ("+14155552671", False),
        ("+886912345678", False),  # +886 is not +86: codes are prefix-free
        ("+8", False),
    ],
)
def test_a_number_is_allowed_by_its_country_code(phone: str, allowed: bool) -> None:
    assert SmsPolicy().allows(phone) is allowed


def test_a_disallowed_contact_phone_is_refused_at_input_naming_the_field() -> None:
    policy = SmsPolicy()
    with pytest.raises(ValidationError) as refused:
        policy.check_contact({"phone": PREMIUM, "email": EMAIL})
    [error] = refused.value.errors
    assert error.path == "contact.phone"
    assert "+86, +852, +853" in error.message and PREMIUM not in error.message
    for contact in (None, {}, {"email": EMAIL}, {"phone": PHONE}, {"phone": HONG_KONG}):
        policy.check_contact(contact)


# --- daily quotas ----------------------------------------------------------------------------


def test_a_number_gets_at_most_its_daily_quota_then_skips_with_one_alert() -> None:
    desk = Desk(SmsPolicy(per_number=3, per_customer=100))
    tickets = [desk.open(customer=f"c-{n}") for n in range(5)]
    assert desk.sms() == [PHONE] * 3
    assert [desk.outcome(t).data.get("reason") for t in tickets[3:]] == [
        "sms_quota_exceeded",
        "sms_quota_exceeded",
    ]
    [alert] = desk.alerts.sent
    assert alert.kind == "sms.quota_exceeded"
    assert (alert.details["counter"], alert.details["limit"]) == ("number", "3")
    assert alert.ticket_id == tickets[3].id


def test_a_customer_gets_at_most_their_daily_quota_across_numbers() -> None:
    desk = Desk(SmsPolicy(per_number=100, per_customer=2))
    phones = [f"+86138123480{n:02d}" for n in range(4)]
    tickets = [desk.open(phone=phone) for phone in phones]
    assert desk.sms() == phones[:2]
    assert desk.outcome(tickets[2]).data["reason"] == "sms_quota_exceeded"
    [alert] = desk.alerts.sent
    assert (alert.details["counter"], alert.details["customer_id"]) == ("customer", "c-1")
    # A refused message counted on neither counter: the third number was never texted.
    assert ("number", phone_key(phones[2]), "2026-11-27") not in desk.quota.sent


def test_over_quota_the_message_goes_by_email_when_the_customer_gave_one() -> None:
    desk = Desk(SmsPolicy(per_number=1))
    desk.open()
    second = desk.open(email=EMAIL)
    assert [m.channel for m in desk.notifier.sent] == ["sms", "email"]
    assert desk.outcome(second).data["channel"] == "email"


def test_the_quota_renews_on_the_banks_next_day() -> None:
    desk = Desk(SmsPolicy(per_number=1))
    desk.open()
    desk.clock.advance(hours=13, minutes=59)  # 23:59 in Shanghai: still the same day
    desk.open()
    desk.clock.advance(minutes=1)  # midnight in Shanghai (16:00 UTC)
    desk.open()
    assert desk.sms() == [PHONE, PHONE]
    assert len(desk.alerts.sent) == 1


def test_an_alert_sns_refuses_is_given_back_and_the_next_refusal_alerts() -> None:
    desk = Desk(SmsPolicy(per_number=1), alert_failures=1)
    desk.open()
    refused = desk.open()  # its alert fails: logged, not raised; the skip is recorded
    assert desk.outcome(refused).data["reason"] == "sms_quota_exceeded"
    assert desk.alerts.sent == []
    desk.open()
    assert len(desk.alerts.sent) == 1


def test_a_message_sent_once_per_event_counts_once() -> None:
    desk = Desk(SmsPolicy(per_number=2))
    ticket = desk.open()
    [created] = desk.repository.events(ticket.id)[:1]
    notify(created, desk.ports)  # the stream redelivers: the claim stops it before counting
    desk.open()
    assert desk.sms() == [PHONE, PHONE]


def test_the_bank_day_and_the_counters_expiry() -> None:
    assert quota_day(datetime(2026, 11, 27, 15, 59, tzinfo=UTC)) == "2026-11-27"
    assert quota_day(datetime(2026, 11, 27, 16, 0, tzinfo=UTC)) == "2026-11-28"
    expiry = quota_expiry("2026-11-27")
    assert expiry == datetime(2026, 11, 26, 16, 0, tzinfo=UTC) + timedelta(days=2)


# --- configuration ---------------------------------------------------------------------------

_LOCAL = {"SERVICEDESK_AUTH_MODE": "local-hs256"}


def test_the_defaults_are_mainland_hong_kong_macao_and_twenty_a_day() -> None:
    settings = Settings.from_env(_LOCAL)
    assert settings.sms_allowed_country_codes == ("86", "852", "853")
    assert (settings.sms_daily_limit_per_number, settings.sms_daily_limit_per_customer) == (20, 20)


def test_the_policy_is_read_from_the_environment() -> None:
    settings = Settings.from_env(
        _LOCAL
        | {
            SMS_ALLOWED_COUNTRY_CODES: "+86, 852",
            SMS_DAILY_LIMIT_PER_NUMBER: "5",
            SMS_DAILY_LIMIT_PER_CUSTOMER: "12",
        }
    )
    assert settings.sms_allowed_country_codes == ("86", "852")
    assert (settings.sms_daily_limit_per_number, settings.sms_daily_limit_per_customer) == (5, 12)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (SMS_ALLOWED_COUNTRY_CODES, "86,CN"),
        (SMS_ALLOWED_COUNTRY_CODES, "+0086"),
        (SMS_ALLOWED_COUNTRY_CODES, ","),
        (SMS_DAILY_LIMIT_PER_NUMBER, "0"),
        (SMS_DAILY_LIMIT_PER_CUSTOMER, "many"),
        (SMS_DAILY_LIMIT_PER_NUMBER, "100000"),
    ],
)
def test_a_bad_policy_fails_at_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(_LOCAL | {name: value})


def test_country_codes_are_read_with_or_without_plus_once_each() -> None:
    assert parse_country_codes("+86,852, +853,86") == ("86", "852", "853")

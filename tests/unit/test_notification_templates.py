"""Notification templates (both locales, both channels), channel choice and quiet hours."""

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from chalicelib.domain.contact import Contact
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.notifications import (
    EMAIL_TEMPLATES,
    LOCALES,
    SMS_TEMPLATES,
    TEMPLATES,
    Choice,
    EmailContent,
    MissingValueError,
    Preferences,
    QuietHours,
    UnknownTemplateError,
    choose_channel,
    local_slot_time,
    message_locale,
    next_send_time,
    parse_quiet_hours,
    render_email,
    render_sms,
    required_values,
    template_for,
)
from chalicelib.domain.sms import GSM_7, UCS_2, encoding, segments

# Worst-case realistic values: the longest production base URL SPEC allows (24
# characters), a survey code of 128 random bits in URL-safe base64 (22 characters),
# the longest seeded branch names, and a long ticket id that must never show.
PUBLIC_BASE_URL = "https://sd.bankxyz.cn.co"
SURVEY_CODE = "q3Z-_9xYt0LmN4pQrS7uVw"
REFERENCE = "SD-7K4Q9M2P"
TICKET_ID = "T-01JH8ZK4Q9M2P7XW3V5N6B1C0D"
BRANCH_NAMES = {"zh-CN": "乌鲁木齐新疆路支行", "en-US": "Urumqi Xinjiang Road Branch"}
SHORT_LINK = f"{PUBLIC_BASE_URL}/s/{SURVEY_CODE}"
PAGE_LINK = f"{PUBLIC_BASE_URL}/v1/surveys/{SURVEY_CODE}"
SURVEYS = ("survey.invited", "survey.reminded")

PHONE = "+8613812348000"
EMAIL = "jane.doe@example.com"


def worst_case_values(locale: str, **overrides: str) -> dict[str, str]:
    values = {
        "reference": REFERENCE,
        "public_base_url": PUBLIC_BASE_URL,
        "code": SURVEY_CODE,
        "branch_name": BRANCH_NAMES[locale],
        "slot_time": "2026-12-31 16:30",
        "due_date": "2027-01-31",  # a complaint's new deadline (Asia/Shanghai date)
        "message": "请上传近三个月的银行流水及身份证正反面照片。" * 5,
        "resolution": "The disputed charge was refunded to your card ending 1234. " * 5,
        # A document type's name: the catalogue allows 8 characters in Chinese, 30 in English.
        "type_name": {"zh-CN": "近六个月收入证明", "en-US": "Proof of income (last 6 mths)"}[
            locale
        ],
        "reason": "The photo of the ID card is blurred; please send a sharper one. " * 5,
        # What the notifier also passes along from the event: never shown in an SMS.
        "ticket_id": TICKET_ID,
        "id": TICKET_ID,
    }
    values.update(overrides)
    return values


def test_the_production_base_url_is_as_long_as_spec_allows():
    assert len(PUBLIC_BASE_URL) == 24
    assert len(SURVEY_CODE) == 22


def test_every_template_exists_in_every_locale_for_both_channels():
    assert set(SMS_TEMPLATES) == set(TEMPLATES) == set(EMAIL_TEMPLATES)
    for template in TEMPLATES:
        assert set(SMS_TEMPLATES[template]) == set(LOCALES)
        assert set(EMAIL_TEMPLATES[template]) == set(LOCALES)


# --- SMS -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_sms_fits_one_segment_with_worst_case_values(template, locale):
    text = render_sms(template, locale, worst_case_values(locale))
    assert segments(text) == 1, f"{len(text)} chars, {encoding(text)}: {text}"
    assert TICKET_ID not in text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_sms_also_fits_when_the_base_url_ends_in_a_slash(template, locale):
    values = worst_case_values(locale, public_base_url=PUBLIC_BASE_URL + "/")
    assert segments(render_sms(template, locale, values)) == 1


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", [t for t in TEMPLATES if t not in SURVEYS])
def test_ticket_sms_carry_the_reference(template, locale):
    assert REFERENCE in render_sms(template, locale, worst_case_values(locale))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", SURVEYS)
def test_survey_sms_carry_the_short_link_not_the_long_one(template, locale):
    text = render_sms(template, locale, worst_case_values(locale))
    assert text.endswith(" " + SHORT_LINK)  # last, after a space: phones make it a link
    assert "/v1/surveys/" not in text


@pytest.mark.parametrize("template", TEMPLATES)
def test_english_sms_stay_gsm_7_and_chinese_sms_are_ucs_2(template):
    assert encoding(render_sms(template, "en-US", worst_case_values("en-US"))) == GSM_7
    assert encoding(render_sms(template, "zh-CN", worst_case_values("zh-CN"))) == UCS_2


@pytest.mark.parametrize("locale", LOCALES)
def test_sms_never_carry_staff_free_text(locale):
    values = worst_case_values(
        locale, message="SECRET-REQUEST", resolution="SECRET-OUTCOME", reason="SECRET-REASON"
    )
    for template in TEMPLATES:
        text = render_sms(template, locale, values)
        assert "SECRET" not in text


def test_sms_start_with_the_sender_tag_unless_the_gateway_adds_it():
    values = worst_case_values("zh-CN")
    assert render_sms("ticket.created", "zh-CN", values).startswith("【XX银行】")
    assert render_sms("ticket.created", "en-US", values).startswith("[XX Bank] ")
    assert not render_sms("ticket.created", "zh-CN", values, signed=False).startswith("【")


def test_the_request_info_sms_only_says_information_is_needed():
    text = render_sms("ticket.waiting_on_customer", "en-US", worst_case_values("en-US"))
    assert text == (
        "[XX Bank] We need more information for your request SD-7K4Q9M2P. "
        "Please check the mobile banking app."
    )


def test_the_appointment_reminder_names_branch_and_local_time():
    text = render_sms("appointment.reminder", "zh-CN", worst_case_values("zh-CN"))
    assert "乌鲁木齐新疆路支行" in text
    assert "2026-12-31 16:30" in text


@pytest.mark.parametrize("locale", ["fr-FR", "", "zh", "EN-us"])
def test_unknown_locale_falls_back_to_chinese(locale):
    values = worst_case_values("zh-CN")
    assert render_sms("ticket.created", locale, values) == render_sms(
        "ticket.created", "zh-CN", values
    )
    assert render_email("ticket.created", locale, values) == render_email(
        "ticket.created", "zh-CN", values
    )


def test_unknown_template_is_a_key_error_naming_it():
    with pytest.raises(UnknownTemplateError, match="ticket.exploded"):
        render_sms("ticket.exploded", "zh-CN", worst_case_values("zh-CN"))
    with pytest.raises(KeyError):
        render_email("ticket.exploded", "zh-CN", worst_case_values("zh-CN"))
    with pytest.raises(UnknownTemplateError):
        required_values("ticket.exploded")


def test_a_missing_value_names_the_template_and_the_value():
    with pytest.raises(MissingValueError, match=r"appointment\.booked.*branch_name"):
        render_sms("appointment.booked", "en-US", {"reference": REFERENCE, "slot_time": "x"})


@pytest.mark.parametrize(
    ("template", "needs"),
    [
        ("ticket.created", {"reference"}),
        ("ticket.waiting_on_customer", {"reference", "message"}),
        ("ticket.resolved", {"reference", "resolution"}),
        ("ticket.cancelled", {"reference"}),
        ("comment.public", {"reference"}),
        ("appointment.booked", {"reference", "branch_name", "slot_time"}),
        ("appointment.rescheduled", {"reference", "branch_name", "slot_time"}),
        ("appointment.reminder", {"reference", "branch_name", "slot_time"}),
        ("survey.invited", {"public_base_url", "code"}),
        ("survey.reminded", {"public_base_url", "code"}),
    ],
)
def test_required_values_per_template(template, needs):
    assert required_values(template) == needs
    for locale in LOCALES:
        values = dict.fromkeys(needs, "x")
        render_sms(template, locale, values)
        render_email(template, locale, values)


def test_local_slot_time_is_the_branch_wall_clock():
    slot = datetime(2026, 12, 31, 8, 30, tzinfo=UTC)
    assert local_slot_time(slot) == "2026-12-31 16:30"
    assert local_slot_time(slot, "Asia/Urumqi") == "2026-12-31 14:30"


# --- email -----------------------------------------------------------------------------

HOSTILE = "<script>alert(\"x\")</script> & 'quoted'"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_email_renders_subject_text_and_html(template, locale):
    email = render_email(template, locale, worst_case_values(locale))
    assert isinstance(email, EmailContent)
    assert email.subject
    assert "\n" not in email.subject
    assert email.html.startswith("<!DOCTYPE html>")
    assert f'lang="{locale}"' in email.html
    assert TICKET_ID not in email.text + email.html + email.subject
    if template not in SURVEYS:
        assert REFERENCE in email.text
        assert REFERENCE in email.html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_hostile_values_are_escaped_in_html_and_kept_plain_in_text(template, locale):
    hostile = dict.fromkeys(required_values(template) - {"public_base_url"}, HOSTILE)
    values = worst_case_values(locale, **hostile)
    email = render_email(template, locale, values)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in (
        email.html
    )
    assert HOSTILE in email.text


def test_the_request_info_email_carries_the_staff_message():
    values = worst_case_values("en-US", message="Please send a copy of your ID card.")
    email = render_email("ticket.waiting_on_customer", "en-US", values)
    assert "Please send a copy of your ID card." in email.text
    assert "<p>Please send a copy of your ID card.</p>" in email.html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", SURVEYS)
def test_survey_emails_link_to_the_survey_page(template, locale):
    email = render_email(template, locale, worst_case_values(locale))
    assert PAGE_LINK in email.text
    assert f'<a href="{PAGE_LINK}">{PAGE_LINK}</a>' in email.html


def test_a_base_url_that_is_not_a_web_address_is_never_made_a_link():
    values = worst_case_values("en-US", public_base_url='javascript:alert("x")//')
    email = render_email("survey.invited", "en-US", values)
    assert "<a " not in email.html
    assert "javascript:alert(&quot;x&quot;)" in email.html


def test_line_breaks_in_values_never_reach_the_subject():
    values = worst_case_values("en-US", branch_name="Main\r\nBcc: everyone@example.com")
    email = render_email("appointment.booked", "en-US", values)
    assert "\r" not in email.subject
    assert "\n" not in email.subject


# --- channel choice --------------------------------------------------------------------

ON, OFF = True, False
BOTH, PHONE_ONLY, EMAIL_ONLY, NEITHER = (PHONE, EMAIL), (PHONE, None), (None, EMAIL), (None, None)

# preferred, sms allowed, email allowed, contact data, outcome (channel or skip reason)
CHOICE_TABLE = [
    ("sms", ON, ON, BOTH, "sms"),
    ("sms", ON, OFF, BOTH, "sms"),
    ("sms", OFF, ON, BOTH, "email"),
    ("sms", OFF, OFF, BOTH, "opted_out"),
    ("sms", ON, ON, PHONE_ONLY, "sms"),
    ("sms", ON, OFF, PHONE_ONLY, "sms"),
    ("sms", OFF, ON, PHONE_ONLY, "opted_out"),
    ("sms", OFF, OFF, PHONE_ONLY, "opted_out"),
    ("sms", ON, ON, EMAIL_ONLY, "email"),
    ("sms", ON, OFF, EMAIL_ONLY, "opted_out"),
    ("sms", OFF, ON, EMAIL_ONLY, "email"),
    ("sms", OFF, OFF, EMAIL_ONLY, "opted_out"),
    ("sms", ON, ON, NEITHER, "no_contact"),
    ("sms", ON, OFF, NEITHER, "no_contact"),
    ("sms", OFF, ON, NEITHER, "no_contact"),
    ("sms", OFF, OFF, NEITHER, "no_contact"),
    ("email", ON, ON, BOTH, "email"),
    ("email", ON, OFF, BOTH, "sms"),
    ("email", OFF, ON, BOTH, "email"),
    ("email", OFF, OFF, BOTH, "opted_out"),
    ("email", ON, ON, PHONE_ONLY, "sms"),
    ("email", ON, OFF, PHONE_ONLY, "sms"),
    ("email", OFF, ON, PHONE_ONLY, "opted_out"),
    ("email", OFF, OFF, PHONE_ONLY, "opted_out"),
    ("email", ON, ON, EMAIL_ONLY, "email"),
    ("email", ON, OFF, EMAIL_ONLY, "opted_out"),
    ("email", OFF, ON, EMAIL_ONLY, "email"),
    ("email", OFF, OFF, EMAIL_ONLY, "opted_out"),
    ("email", ON, ON, NEITHER, "no_contact"),
    ("email", ON, OFF, NEITHER, "no_contact"),
    ("email", OFF, ON, NEITHER, "no_contact"),
    ("email", OFF, OFF, NEITHER, "no_contact"),
    # No contact data at all is no_contact, whatever `preferred` says.
    *[
        ("none", sms, email, data, "no_contact" if data == NEITHER else "not_requested")
        for sms in (ON, OFF)
        for email in (ON, OFF)
        for data in (BOTH, PHONE_ONLY, EMAIL_ONLY, NEITHER)
    ],
]


def contact(data: tuple[str | None, str | None], preferred: str, locale: str = "zh-CN"):
    phone, email = data
    return Contact(phone=phone, email=email, preferred=preferred, locale=locale)


def test_the_choice_table_covers_every_combination():
    combinations = {row[:4] for row in CHOICE_TABLE}
    assert len(combinations) == len(CHOICE_TABLE) == 3 * 2 * 2 * 4


@pytest.mark.parametrize(("preferred", "sms", "email", "data", "outcome"), CHOICE_TABLE)
def test_the_channel_follows_preference_consent_and_contact_data_or_says_why_none(
    preferred, sms, email, data, outcome
):
    choice = choose_channel(contact(data, preferred), Preferences(sms=sms, email=email))
    if outcome in ("sms", "email"):
        assert choice.channel == outcome
        assert choice.skip_reason is None
        assert not choice.is_skip
    else:
        assert choice == Choice(skip_reason=outcome)
        assert choice.is_skip


@pytest.mark.parametrize(
    ("preferred", "data", "outcome"),
    [
        ("sms", BOTH, "sms"),
        ("sms", EMAIL_ONLY, "email"),
        ("email", BOTH, "email"),
        ("email", PHONE_ONLY, "sms"),
        ("sms", NEITHER, "no_contact"),
        ("none", BOTH, "not_requested"),
    ],
)
def test_preferences_never_set_allow_both_channels(preferred, data, outcome):
    choice = choose_channel(contact(data, preferred), None)
    assert (choice.channel or choice.skip_reason) == outcome


def test_a_choice_carries_the_full_destination_and_its_mask():
    assert choose_channel(contact(BOTH, "sms"), None) == Choice(
        channel="sms", destination=PHONE, masked="+86 138****8000"
    )
    assert choose_channel(contact(BOTH, "email"), None) == Choice(
        channel="email", destination=EMAIL, masked="j***@example.com"
    )


@pytest.mark.parametrize(
    ("contact_locale", "preferences", "locale"),
    [
        ("en-US", None, "en-US"),
        ("zh-CN", None, "zh-CN"),
        ("en-US", Preferences(), "en-US"),
        ("en-US", Preferences(locale="zh-CN"), "zh-CN"),
        ("zh-CN", Preferences(locale="en-US"), "en-US"),
        ("fr-FR", None, "zh-CN"),
        ("en-US", Preferences(locale="fr-FR"), "zh-CN"),
    ],
)
def test_message_locale_is_the_preferences_once_set(contact_locale, preferences, locale):
    assert message_locale(contact(BOTH, "sms", contact_locale), preferences) == locale


# --- quiet hours -----------------------------------------------------------------------

NIGHT = QuietHours(start=time(21, 0), end=time(8, 0))
LUNCH = QuietHours(start=time(12, 0), end=time(14, 0))


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_no_quiet_hours_sends_now():
    now = utc(2026, 3, 2, 15, 0)
    assert next_send_time(now, None) is now


def test_a_window_with_start_equal_to_end_is_no_window():
    now = utc(2026, 3, 2, 13, 0)
    assert next_send_time(now, QuietHours(time(21, 0), time(21, 0))) is now


@pytest.mark.parametrize(
    ("now", "send_at"),
    [
        # Shanghai is UTC+8 all year: 21:00 local is 13:00Z, 08:00 local is 00:00Z.
        (utc(2026, 3, 2, 12, 59), utc(2026, 3, 2, 12, 59)),  # 20:59 local: outside
        (utc(2026, 3, 2, 13, 0), utc(2026, 3, 3, 0, 0)),  # 21:00 local: window opens
        (utc(2026, 3, 2, 15, 30), utc(2026, 3, 3, 0, 0)),  # 23:30 local
        (utc(2026, 3, 2, 16, 0), utc(2026, 3, 3, 0, 0)),  # 00:00 local, past midnight
        (utc(2026, 3, 2, 23, 59), utc(2026, 3, 3, 0, 0)),  # 07:59 local
        (utc(2026, 3, 3, 0, 0), utc(2026, 3, 3, 0, 0)),  # 08:00 local: window ended
        (utc(2026, 3, 3, 4, 0), utc(2026, 3, 3, 4, 0)),  # noon local
    ],
)
def test_a_night_window_wrapping_midnight_in_shanghai(now, send_at):
    assert next_send_time(now, NIGHT) == send_at


@pytest.mark.parametrize(
    ("now", "send_at"),
    [
        (utc(2026, 3, 2, 3, 59), utc(2026, 3, 2, 3, 59)),  # 11:59 local
        (utc(2026, 3, 2, 4, 0), utc(2026, 3, 2, 6, 0)),  # 12:00 local
        (utc(2026, 3, 2, 5, 59), utc(2026, 3, 2, 6, 0)),  # 13:59 local
        (utc(2026, 3, 2, 6, 0), utc(2026, 3, 2, 6, 0)),  # 14:00 local
    ],
)
def test_a_window_inside_one_day(now, send_at):
    assert next_send_time(now, LUNCH) == send_at


def test_the_customers_zone_decides_not_the_servers():
    now = utc(2026, 3, 2, 14, 0)  # 22:00 in Shanghai, 14:00 in UTC
    assert next_send_time(now, NIGHT) == utc(2026, 3, 3, 0, 0)
    assert next_send_time(now, NIGHT, "Asia/Shanghai") == utc(2026, 3, 3, 0, 0)
    assert next_send_time(now, NIGHT, "UTC") is now


def test_now_in_any_offset_gives_the_same_answer_in_utc():
    beijing = timezone(timedelta(hours=8))
    send_at = next_send_time(datetime(2026, 3, 2, 22, 0, tzinfo=beijing), NIGHT)
    assert send_at == utc(2026, 3, 3, 0, 0)
    assert send_at.utcoffset() == timedelta(0)


def test_the_window_end_is_wall_clock_time_across_a_dst_change():
    # New York springs forward on 2026-03-08: 22:00 EST on the 7th is 03:00Z,
    # 08:00 EDT on the 8th is 12:00Z (eleven hours later in UTC, not ten).
    assert next_send_time(utc(2026, 3, 8, 3, 0), NIGHT, "America/New_York") == utc(
        2026, 3, 8, 12, 0
    )


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_send_time(datetime(2026, 3, 2, 22, 0), NIGHT)


def test_parse_quiet_hours():
    assert parse_quiet_hours(None) is None
    assert parse_quiet_hours({"start": "21:00", "end": "08:00"}) == NIGHT
    assert parse_quiet_hours({"start": "00:00", "end": "23:59"}) == QuietHours(
        time(0, 0), time(23, 59)
    )
    assert NIGHT.as_dict() == {"start": "21:00", "end": "08:00"}
    assert parse_quiet_hours(NIGHT.as_dict()) == NIGHT


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"start": "9:00", "end": "08:00"}, "quiet_hours.start"),
        ({"start": "24:00", "end": "08:00"}, "quiet_hours.start"),
        ({"start": "21:60", "end": "08:00"}, "quiet_hours.start"),
        ({"start": "2100", "end": "08:00"}, "quiet_hours.start"),
        ({"start": "21:00:00", "end": "08:00"}, "quiet_hours.start"),
        ({"start": "21:00\n", "end": "08:00"}, "quiet_hours.start"),
        ({"start": 2100, "end": "08:00"}, "quiet_hours.start"),
        ({"start": "21:00", "end": None}, "quiet_hours.end"),
        ({"start": "21:00"}, "quiet_hours.end"),
        ({"start": "21:00", "end": "08:00", "zone": "UTC"}, "unknown fields: zone"),
        ("21:00-08:00", "must be an object"),
    ],
)
def test_parse_quiet_hours_refuses_what_is_not_hh_mm(data, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_quiet_hours(data)


# --- which events notify ---------------------------------------------------------------

AGENT = Caller(role=Role.AGENT, id="agent-1")
SUPERVISOR = Caller(role=Role.SUPERVISOR, id="sup-1")
CUSTOMER = Caller(role=Role.CUSTOMER, id="cust-1")


def event(event_type: str, actor: Caller = AGENT, **data: object) -> Event:
    at = utc(2026, 3, 2, 8, 0)
    return Event("E-1", TICKET_ID, EventType(event_type), at, actor, dict(data))


@pytest.mark.parametrize(
    ("event_", "template"),
    [
        (event("ticket.created", CUSTOMER, kind="complaint"), "ticket.created"),
        (event("ticket.created", AGENT, kind="consultation"), "ticket.created"),
        (event("ticket.created", AGENT, kind="appointment"), None),
        (event("ticket.status_changed", to="waiting_on_customer"), "ticket.waiting_on_customer"),
        (event("ticket.status_changed", to="resolved"), "ticket.resolved"),
        (event("ticket.status_changed", CUSTOMER, to="cancelled"), "ticket.cancelled"),
        (event("ticket.status_changed", SYSTEM, to="closed"), None),
        (event("ticket.status_changed", to="closed"), None),
        (event("ticket.status_changed", to="in_progress"), None),
        (event("ticket.status_changed", to="assigned"), None),
        (event("ticket.status_changed"), None),
        (event("comment.added", AGENT, body="hi", internal=False), "comment.public"),
        (event("comment.added", SUPERVISOR, body="hi", internal=False), "comment.public"),
        (event("comment.added", AGENT, body="note", internal=True), None),
        (event("comment.added", AGENT, body="unstated"), None),
        (event("comment.added", CUSTOMER, body="hi", internal=False), None),
        (event("appointment.booked", CUSTOMER), "appointment.booked"),
        (event("appointment.rescheduled", CUSTOMER), "appointment.rescheduled"),
        (event("appointment.reminded", SYSTEM), "appointment.reminder"),
        (event("survey.invited", SYSTEM), "survey.invited"),
        (event("survey.reminded", SYSTEM), "survey.reminded"),
        (event("survey.answered", CUSTOMER, score=5), None),
        (event("survey.expired", SYSTEM), None),
        (event("ticket.assigned"), None),
        (event("ticket.escalated"), None),
        (event("sla.breached", SYSTEM, metric="first_response"), None),
        (event("notification.sent", SYSTEM), None),
        (event("notification.skipped", SYSTEM), None),
        # Complaints (SPEC 13): the decision tells of the review; each applied step of
        # the ladder and the stopped and restarted clock are told; classifying and the
        # first supervisor's request for a second extension are not.
        (
            event("ticket.status_changed", to="resolved", review_within_days=30),
            "complaint.resolved",
        ),
        (
            event("sla.extended", SUPERVISOR, extensions=1, due_date="2026-12-27"),
            "complaint.extended",
        ),
        (event("sla.extended", SUPERVISOR, reason="old single extension"), None),
        (event("complaint.extension_requested", SUPERVISOR, reason="x"), None),
        (event("complaint.classified", AGENT, business="card", cause="fees"), None),
        (
            event("complaint.clock_suspended", SUPERVISOR, reason="testing"),
            "complaint.clock_suspended",
        ),
        (
            event("complaint.clock_resumed", SUPERVISOR, due_date="2027-01-01"),
            "complaint.clock_resumed",
        ),
        # A merge tells the customer once, on the target; the source's closing is silent.
        (event("ticket.merged", AGENT, **{"from": "T-1"}), "ticket.merged"),
        (event("ticket.status_changed", action="merge", to="closed", into="T-2"), None),
        (event("complaint.review_requested", CUSTOMER, review_id="T-2"), None),
    ],
    ids=lambda value: value.type if isinstance(value, Event) else str(value),
)
def test_each_event_maps_to_its_template_or_to_none(event_, template):
    assert template_for(event_) == template


def test_every_template_is_reachable_from_some_event():
    reachable = {
        template_for(event("ticket.created", kind="complaint")),
        *(
            template_for(event("ticket.status_changed", to=s))
            for s in ("waiting_on_customer", "resolved", "cancelled")
        ),
        template_for(event("comment.added", internal=False)),
        *(
            template_for(event(t, SYSTEM))
            for t in ("appointment.booked", "appointment.rescheduled", "appointment.reminded")
        ),
        *(template_for(event(t, SYSTEM)) for t in SURVEYS),
        template_for(event("document.reviewed", verdict="rejected")),
        template_for(event("ticket.status_changed", action="approve", to="resolved")),
        template_for(event("ticket.status_changed", action="reject", to="resolved")),
        template_for(event("ticket.status_changed", to="resolved", review_within_days=30)),
        template_for(event("sla.extended", SUPERVISOR, extensions=2, due_date="2027-01-26")),
        template_for(event("complaint.clock_suspended", SUPERVISOR, reason="testing")),
        template_for(event("complaint.clock_resumed", SUPERVISOR, due_date="2027-01-01")),
        template_for(event("ticket.merged")),
    }
    assert reachable == set(TEMPLATES)


def test_a_complaint_decision_tells_of_the_review_within_30_days_in_both_locales():
    zh = render_sms("complaint.resolved", "zh-CN", worst_case_values("zh-CN"))
    en = render_sms("complaint.resolved", "en-US", worst_case_values("en-US"))
    assert "30日内申请核查" in zh
    assert "review within 30 days" in en
    for locale in LOCALES:
        email = render_email("complaint.resolved", locale, worst_case_values(locale))
        assert "30" in email.text
        assert "The disputed charge" in email.text or locale == "zh-CN"


@pytest.mark.parametrize("template", ["complaint.extended", "complaint.clock_resumed"])
@pytest.mark.parametrize("locale", LOCALES)
def test_a_complaint_deadline_message_names_the_new_date(template, locale):
    text = render_sms(template, locale, worst_case_values(locale, due_date="2027-01-26"))
    assert "2027-01-26" in text

"""What the customer is told, on which channel, in which language, and when.

Templates are per event and locale. Every SMS fits ONE segment when rendered
with realistic worst-case values (the short reference, never the long ticket
id; a 24-character PUBLIC_BASE_URL; the longest branch name): Chinese SMS are
UCS-2, so they have 70 code units, sender tag included. SMS never carry staff
free text: it may be long, would push the message past one segment, and a
text message is the least private channel.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from string import Formatter
from typing import Any

import msgspec

from chalicelib.domain.calendar import zone_named
from chalicelib.domain.contact import Contact, mask_email, mask_phone
from chalicelib.domain.events import (
    CommentAdded,
    DocumentReviewed,
    Event,
    EventType,
    Payload,
    SlaExtended,
    StatusChanged,
    TicketCreated,
)
from chalicelib.domain.statuses import Action, Status

ZH_CN = "zh-CN"
EN_US = "en-US"
LOCALES = (ZH_CN, EN_US)
DEFAULT_LOCALE = ZH_CN
DEFAULT_TIMEZONE = "Asia/Shanghai"

SMS = "sms"
EMAIL = "email"
CHANNELS = (SMS, EMAIL)

# notification.skipped reasons (SPEC section 7)
NOT_REQUESTED = "not_requested"
OPTED_OUT = "opted_out"
NO_CONTACT = "no_contact"
ERASED_CUSTOMER = "erased"  # the ticket was anonymized (SPEC 10): nothing is sent

# Template ids
CREATED = "ticket.created"
WAITING_ON_CUSTOMER = "ticket.waiting_on_customer"
RESOLVED = "ticket.resolved"
CANCELLED = "ticket.cancelled"
STAFF_REPLY = "comment.public"
APPOINTMENT_BOOKED = "appointment.booked"
APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
APPOINTMENT_REMINDER = "appointment.reminder"
SURVEY_INVITED = "survey.invited"
SURVEY_REMINDED = "survey.reminded"
DOCUMENT_REJECTED = "document.rejected"
APPLICATION_APPROVED = "application.approved"
APPLICATION_REJECTED = "application.rejected"
COMPLAINT_RESOLVED = "complaint.resolved"  # the decision: tells of the 30-day review
COMPLAINT_EXTENDED = "complaint.extended"
COMPLAINT_SUSPENDED = "complaint.clock_suspended"
COMPLAINT_RESUMED = "complaint.clock_resumed"
MERGED = "ticket.merged"
TEMPLATES = (
    CREATED,
    WAITING_ON_CUSTOMER,
    RESOLVED,
    CANCELLED,
    STAFF_REPLY,
    APPOINTMENT_BOOKED,
    APPOINTMENT_RESCHEDULED,
    APPOINTMENT_REMINDER,
    SURVEY_INVITED,
    SURVEY_REMINDED,
    DOCUMENT_REJECTED,
    APPLICATION_APPROVED,
    APPLICATION_REJECTED,
    COMPLAINT_RESOLVED,
    COMPLAINT_EXTENDED,
    COMPLAINT_SUSPENDED,
    COMPLAINT_RESUMED,
    MERGED,
)


class UnknownTemplateError(KeyError):
    """No template with this id."""


class MissingValueError(KeyError):
    """A template names a value the caller did not supply."""


# --- templates -------------------------------------------------------------------------

# Carriers in mainland China expect a signature; some gateways add it themselves,
# so render_sms(signed=False) leaves it off. Every SMS budget below includes it.
SENDER_TAGS = {ZH_CN: "【XX银行】", EN_US: "[XX Bank] "}

_SURVEY_SHORT_LINK = "{public_base_url}/s/{code}"
_SURVEY_PAGE_LINK = "{public_base_url}/v1/surveys/{code}"

SMS_TEMPLATES: dict[str, dict[str, str]] = {
    CREATED: {
        ZH_CN: "您的服务单{reference}已受理，进度请在手机银行查看。",
        EN_US: "We have received your request {reference}. "
        "Follow its progress in the mobile banking app.",
    },
    WAITING_ON_CUSTOMER: {
        ZH_CN: "服务单{reference}需要您补充信息，详情请在手机银行查看。",
        EN_US: "We need more information for your request {reference}. "
        "Please check the mobile banking app.",
    },
    RESOLVED: {
        ZH_CN: "服务单{reference}已处理完毕，结果请在手机银行查看。",
        EN_US: "Your request {reference} has been resolved. "
        "See the outcome in the mobile banking app.",
    },
    CANCELLED: {
        ZH_CN: "服务单{reference}已取消，详情请在手机银行查看。",
        EN_US: "Your request {reference} has been cancelled. "
        "Details are in the mobile banking app.",
    },
    STAFF_REPLY: {
        ZH_CN: "服务单{reference}有新回复，请在手机银行查看。",
        EN_US: "There is a new reply on your request {reference}. "
        "Please check the mobile banking app.",
    },
    APPOINTMENT_BOOKED: {
        ZH_CN: "预约成功：{slot_time} {branch_name}，预约号{reference}。",
        EN_US: "Appointment booked: {branch_name}, {slot_time} local time. Ref {reference}.",
    },
    APPOINTMENT_RESCHEDULED: {
        ZH_CN: "预约已改至{slot_time} {branch_name}，预约号{reference}。",
        EN_US: "Appointment moved to {slot_time} local time at {branch_name}. Ref {reference}.",
    },
    APPOINTMENT_REMINDER: {
        ZH_CN: "温馨提示：您预约了{slot_time} {branch_name}，预约号{reference}。",
        EN_US: "Reminder: your appointment at {branch_name} is at {slot_time} local time. "
        "Ref {reference}.",
    },
    SURVEY_INVITED: {
        ZH_CN: "请评价本次服务 " + _SURVEY_SHORT_LINK,
        EN_US: "How did we do? Please rate our service: " + _SURVEY_SHORT_LINK,
    },
    SURVEY_REMINDED: {
        ZH_CN: "提醒：请评价本次服务 " + _SURVEY_SHORT_LINK,
        EN_US: "Reminder: please rate our service, it takes a minute: " + _SURVEY_SHORT_LINK,
    },
    DOCUMENT_REJECTED: {
        ZH_CN: "服务单{reference}的{type_name}未通过审核，请在手机银行重新上传。",
        EN_US: "Your {type_name} for request {reference} was not accepted. "
        "Please upload it again in the mobile banking app.",
    },
    APPLICATION_APPROVED: {
        ZH_CN: "您的申请{reference}已审批通过，详情请在手机银行查看。",
        EN_US: "Your application {reference} has been approved. "
        "See the details in the mobile banking app.",
    },
    APPLICATION_REJECTED: {
        ZH_CN: "您的申请{reference}未获批准，原因请在手机银行查看。",
        EN_US: "Your application {reference} was not approved. "
        "See the reason in the mobile banking app.",
    },
    COMPLAINT_RESOLVED: {
        ZH_CN: "投诉{reference}已处理完毕，如有异议可在30日内申请核查，详情见手机银行。",
        EN_US: "Your complaint {reference} has been decided; see the mobile banking app. "
        "You may ask for a review within 30 days.",
    },
    COMPLAINT_EXTENDED: {
        ZH_CN: "投诉{reference}情况复杂，处理期限延长至{due_date}，请谅解。",
        EN_US: "Your complaint {reference} needs more time: we will give our decision "
        "by {due_date}.",
    },
    COMPLAINT_SUSPENDED: {
        ZH_CN: "投诉{reference}需外部鉴定、检测或评估，所需时间不计入处理期限。",
        EN_US: "Your complaint {reference} awaits an outside appraisal, test or assessment; "
        "that time does not count toward our deadline.",
    },
    COMPLAINT_RESUMED: {
        ZH_CN: "投诉{reference}已恢复处理，处理期限为{due_date}。",
        EN_US: "We have resumed your complaint {reference}: we will give our decision "
        "by {due_date}.",
    },
    MERGED: {
        ZH_CN: "您反映的同一事项已合并至服务单{reference}处理，进度请在手机银行查看。",
        EN_US: "Your requests about the same matter are now handled together as {reference}. "
        "Follow it in the mobile banking app.",
    },
}


class EmailTemplate(msgspec.Struct, frozen=True):
    subject: str
    paragraphs: tuple[str, ...]
    link: str | None = None


class EmailContent(msgspec.Struct, frozen=True):
    subject: str
    text: str
    html: str


_GREETING = {ZH_CN: "尊敬的客户：", EN_US: "Dear customer,"}
_SIGN_OFF = {ZH_CN: "XX银行客户服务中心", EN_US: "XX Bank Customer Service"}

EMAIL_TEMPLATES: dict[str, dict[str, EmailTemplate]] = {
    CREATED: {
        ZH_CN: EmailTemplate(
            "服务单{reference}已受理",
            ("我们已收到您的服务申请，服务单号{reference}。", "您可在手机银行随时查看处理进度。"),
        ),
        EN_US: EmailTemplate(
            "We have received your request {reference}",
            (
                "We have received your request. Its reference is {reference}.",
                "You can follow its progress in the mobile banking app at any time.",
            ),
        ),
    },
    WAITING_ON_CUSTOMER: {
        ZH_CN: EmailTemplate(
            "服务单{reference}需要您补充信息",
            (
                "为继续处理服务单{reference}，我们需要您补充以下信息：",
                "{message}",
                "请在手机银行中回复该服务单。",
            ),
        ),
        EN_US: EmailTemplate(
            "We need more information for your request {reference}",
            (
                "To continue with your request {reference}, we need the following from you:",
                "{message}",
                "Please reply to the request in the mobile banking app.",
            ),
        ),
    },
    RESOLVED: {
        ZH_CN: EmailTemplate(
            "服务单{reference}已处理完毕",
            (
                "您的服务单{reference}已处理完毕。处理结果：",
                "{resolution}",
                "详情请在手机银行查看。",
            ),
        ),
        EN_US: EmailTemplate(
            "Your request {reference} has been resolved",
            (
                "Your request {reference} has been resolved. The outcome:",
                "{resolution}",
                "Details are in the mobile banking app.",
            ),
        ),
    },
    CANCELLED: {
        ZH_CN: EmailTemplate(
            "服务单{reference}已取消",
            ("您的服务单{reference}已取消。", "如有疑问，请在手机银行查看详情或联系我们。"),
        ),
        EN_US: EmailTemplate(
            "Your request {reference} has been cancelled",
            (
                "Your request {reference} has been cancelled.",
                "If you have questions, see the details in the mobile banking app or contact us.",
            ),
        ),
    },
    STAFF_REPLY: {
        ZH_CN: EmailTemplate(
            "服务单{reference}有新回复",
            ("我们回复了您的服务单{reference}。", "请在手机银行查看回复内容。"),
        ),
        EN_US: EmailTemplate(
            "New reply on your request {reference}",
            (
                "We have replied to your request {reference}.",
                "Please read the reply in the mobile banking app.",
            ),
        ),
    },
    APPOINTMENT_BOOKED: {
        ZH_CN: EmailTemplate(
            "预约成功：{slot_time} {branch_name}",
            (
                "您已成功预约{branch_name}，时间{slot_time}（网点当地时间）。",
                "预约号{reference}，请准时到达网点。如需改期或取消，请在手机银行操作。",
            ),
        ),
        EN_US: EmailTemplate(
            "Appointment booked: {branch_name}, {slot_time}",
            (
                "Your appointment at {branch_name} is booked for {slot_time} (branch local time).",
                "Your reference is {reference}. "
                "To reschedule or cancel, use the mobile banking app.",
            ),
        ),
    },
    APPOINTMENT_RESCHEDULED: {
        ZH_CN: EmailTemplate(
            "预约已改期：{slot_time} {branch_name}",
            (
                "您在{branch_name}的预约已改至{slot_time}（网点当地时间）。",
                "预约号{reference}。如需再次调整，请在手机银行操作。",
            ),
        ),
        EN_US: EmailTemplate(
            "Appointment moved: {branch_name}, {slot_time}",
            (
                "Your appointment at {branch_name} has moved to {slot_time} (branch local time).",
                "Your reference is {reference}. To change it again, use the mobile banking app.",
            ),
        ),
    },
    APPOINTMENT_REMINDER: {
        ZH_CN: EmailTemplate(
            "预约提醒：{slot_time} {branch_name}",
            (
                "温馨提示：您预约了{branch_name}，时间{slot_time}（网点当地时间）。",
                "预约号{reference}，请携带有效身份证件准时到达。",
            ),
        ),
        EN_US: EmailTemplate(
            "Reminder: your appointment at {branch_name}, {slot_time}",
            (
                "A reminder: your appointment at {branch_name} is at {slot_time} "
                "(branch local time).",
                "Your reference is {reference}. Please bring a valid ID.",
            ),
        ),
    },
    SURVEY_INVITED: {
        ZH_CN: EmailTemplate(
            "请评价我们的服务",
            ("感谢您选择我们。请花一分钟评价本次服务：",),
            _SURVEY_PAGE_LINK,
        ),
        EN_US: EmailTemplate(
            "How did we do?",
            ("Thank you for banking with us. Please take a minute to rate our service:",),
            _SURVEY_PAGE_LINK,
        ),
    },
    SURVEY_REMINDED: {
        ZH_CN: EmailTemplate(
            "提醒：请评价我们的服务",
            ("您的意见对我们很重要。如尚未评价，请花一分钟评价本次服务：",),
            _SURVEY_PAGE_LINK,
        ),
        EN_US: EmailTemplate(
            "Reminder: how did we do?",
            ("Your view matters to us. If you have not yet, please take a minute to rate us:",),
            _SURVEY_PAGE_LINK,
        ),
    },
    DOCUMENT_REJECTED: {
        ZH_CN: EmailTemplate(
            "服务单{reference}的{type_name}需要重新上传",
            (
                "您为服务单{reference}提交的{type_name}未通过审核，原因：",
                "{reason}",
                "请在手机银行重新上传。",
            ),
        ),
        EN_US: EmailTemplate(
            "Please upload your {type_name} again for request {reference}",
            (
                "The {type_name} you sent for request {reference} was not accepted. The reason:",
                "{reason}",
                "Please upload it again in the mobile banking app.",
            ),
        ),
    },
    APPLICATION_APPROVED: {
        ZH_CN: EmailTemplate(
            "您的申请{reference}已审批通过",
            ("您的申请{reference}已审批通过。", "详情请在手机银行查看。"),
        ),
        EN_US: EmailTemplate(
            "Your application {reference} has been approved",
            (
                "Your application {reference} has been approved.",
                "Details are in the mobile banking app.",
            ),
        ),
    },
    APPLICATION_REJECTED: {
        ZH_CN: EmailTemplate(
            "您的申请{reference}未获批准",
            ("很遗憾，您的申请{reference}未获批准。原因：", "{reason}", "如有疑问，请联系我们。"),
        ),
        EN_US: EmailTemplate(
            "Your application {reference} was not approved",
            (
                "We are sorry: your application {reference} was not approved. The reason:",
                "{reason}",
                "If you have questions, please contact us.",
            ),
        ),
    },
    COMPLAINT_RESOLVED: {
        ZH_CN: EmailTemplate(
            "投诉{reference}处理结果",
            (
                "您的投诉{reference}已处理完毕。处理结果：",
                "{resolution}",
                "如对处理结果有异议，您可在30日内通过手机银行申请核查。",
            ),
        ),
        EN_US: EmailTemplate(
            "The decision on your complaint {reference}",
            (
                "We have decided on your complaint {reference}. The outcome:",
                "{resolution}",
                "If you disagree, you may ask for a review within 30 days "
                "in the mobile banking app.",
            ),
        ),
    },
    COMPLAINT_EXTENDED: {
        ZH_CN: EmailTemplate(
            "投诉{reference}处理期限延长",
            (
                "您的投诉{reference}情况较为复杂，处理期限延长至{due_date}。",
                "我们会在此之前告知您处理结果，感谢您的谅解。",
            ),
        ),
        EN_US: EmailTemplate(
            "Your complaint {reference} needs more time",
            (
                "Your complaint {reference} needs more work than usual.",
                "We will give you our decision by {due_date}. Thank you for your patience.",
            ),
        ),
    },
    COMPLAINT_SUSPENDED: {
        ZH_CN: EmailTemplate(
            "投诉{reference}正在进行外部鉴定、检测或评估",
            (
                "您的投诉{reference}需要进行外部鉴定、检测或评估。",
                "按照监管规定，所需时间不计入投诉处理期限；完成后我们将告知新的处理期限。",
            ),
        ),
        EN_US: EmailTemplate(
            "Your complaint {reference} awaits an outside appraisal",
            (
                "Your complaint {reference} needs an outside appraisal, test or assessment.",
                "Under the regulator's rules that time does not count toward our deadline; "
                "we will tell you the new date once it is done.",
            ),
        ),
    },
    COMPLAINT_RESUMED: {
        ZH_CN: EmailTemplate(
            "投诉{reference}已恢复处理",
            ("您的投诉{reference}已恢复处理。", "处理期限为{due_date}。"),
        ),
        EN_US: EmailTemplate(
            "We have resumed your complaint {reference}",
            (
                "We have resumed work on your complaint {reference}.",
                "We will give you our decision by {due_date}.",
            ),
        ),
    },
    MERGED: {
        ZH_CN: EmailTemplate(
            "您的服务单已合并至{reference}",
            (
                "您就同一事项提交的服务单已合并至服务单{reference}，由我们一并处理。",
                "此后的进度与结果请在手机银行查看服务单{reference}。",
            ),
        ),
        EN_US: EmailTemplate(
            "Your requests are now handled together as {reference}",
            (
                "You raised the same matter more than once, so we now handle it together "
                "as request {reference}.",
                "Follow its progress and outcome in the mobile banking app.",
            ),
        ),
    },
}


# --- rendering -------------------------------------------------------------------------


def supported_locale(locale: str | None) -> str:
    """The locale itself when we have templates for it, else zh-CN."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


def render_sms(
    template: str, locale: str, values: Mapping[str, str], *, signed: bool = True
) -> str:
    """The SMS body for one event, in the locale (zh-CN when unknown), sender tag first."""
    locale = supported_locale(locale)
    body = _fill(template, _sms_template(template)[locale], values)
    return SENDER_TAGS[locale] + body if signed else body


def render_email(template: str, locale: str, values: Mapping[str, str]) -> EmailContent:
    """Subject, plain text and HTML; values are escaped in the HTML, never trusted."""
    locale = supported_locale(locale)
    email = _email_template(template)[locale]
    plain = _normalised(values)
    escaped = {name: html.escape(value) for name, value in plain.items()}
    # Collapsing whitespace keeps a line break in a value out of the mail headers.
    subject = " ".join(_fill(template, email.subject, plain).split())
    link = _fill(template, email.link, plain) if email.link else None
    return EmailContent(
        subject=subject,
        text=_email_text(locale, [_fill(template, p, plain) for p in email.paragraphs], link),
        html=_email_html(
            locale, subject, [_fill(template, p, escaped) for p in email.paragraphs], link
        ),
    )


def required_values(template: str) -> frozenset[str]:
    """Every value any locale or channel of this template names."""
    texts = [*_sms_template(template).values()]
    for email in _email_template(template).values():
        texts.extend([email.subject, *email.paragraphs, email.link or ""])
    return frozenset(name for text in texts for _, name, _, _ in Formatter().parse(text) if name)


def local_slot_time(moment: datetime, timezone: str = DEFAULT_TIMEZONE) -> str:
    """`2026-12-31 16:30`: a slot as the branch's wall clock shows it."""
    return moment.astimezone(zone_named(timezone)).strftime("%Y-%m-%d %H:%M")


def _sms_template(template: str) -> dict[str, str]:
    if template not in SMS_TEMPLATES:
        raise UnknownTemplateError(template)
    return SMS_TEMPLATES[template]


def _email_template(template: str) -> dict[str, EmailTemplate]:
    if template not in EMAIL_TEMPLATES:
        raise UnknownTemplateError(template)
    return EMAIL_TEMPLATES[template]


def _normalised(values: Mapping[str, str]) -> dict[str, str]:
    normalised = dict(values)
    if "public_base_url" in normalised:
        normalised["public_base_url"] = normalised["public_base_url"].rstrip("/")
    return normalised


def _fill(template: str, text: str, values: Mapping[str, str]) -> str:
    try:
        return text.format_map(_normalised(values))
    except KeyError as missing:
        raise MissingValueError(f"template {template} needs the value {missing}") from None


def _email_text(locale: str, paragraphs: list[str], link: str | None) -> str:
    lines = [_GREETING[locale], *paragraphs, *([link] if link else []), _SIGN_OFF[locale]]
    return "\n\n".join(lines) + "\n"


def _email_html(locale: str, subject: str, paragraphs: list[str], link: str | None) -> str:
    """`paragraphs` are already filled with escaped values."""
    lines = [_GREETING[locale], *paragraphs, *([_html_link(link)] if link else [])]
    body = "".join(f"<p>{line}</p>" for line in [*lines, _SIGN_OFF[locale]])
    return (
        f'<!DOCTYPE html><html lang="{locale}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body>{body}</body></html>"
    )


def _html_link(url: str) -> str:
    shown = html.escape(url)
    # Only a web address becomes a link: a configured value is still never trusted.
    if url.startswith(("https://", "http://")):
        return f'<a href="{shown}">{shown}</a>'
    return shown


# --- which channel ---------------------------------------------------------------------


class QuietHours(msgspec.Struct, frozen=True):
    """A daily window, in the customer's time zone, when nothing is sent.

    It may wrap midnight (21:00-08:00); start == end is no window at all.
    """

    start: time
    end: time

    def covers(self, clock: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


class Preferences(msgspec.Struct, frozen=True):
    """A customer's consent per channel. No Preferences at all means never set."""

    sms: bool = True
    email: bool = True
    locale: str | None = None
    quiet_hours: QuietHours | None = None

    def allows(self, channel: str) -> bool:
        return self.sms if channel == SMS else self.email


class Choice(msgspec.Struct, frozen=True):
    """Where one message goes, or why none is sent (then only skip_reason is set).

    `destination` is the full phone or email: only the notifier uses it; logs and
    timelines get `masked`.
    """

    channel: str | None = None
    destination: str | None = None
    masked: str | None = None
    skip_reason: str | None = None

    @property
    def is_skip(self) -> bool:
        return self.skip_reason is not None


def choose_channel(contact: Contact, preferences: Preferences | None) -> Choice:
    """The preferred channel if allowed and reachable, else the other one, else a skip.

    No phone and no email is `no_contact` whatever `preferred` says (it defaults to
    `none` exactly then); `not_requested` is a customer who gave contact details
    but asked for no messages.
    """
    if not (contact.phone or contact.email):
        return Choice(skip_reason=NO_CONTACT)
    if contact.preferred not in CHANNELS:
        return Choice(skip_reason=NOT_REQUESTED)
    for channel in _preference_order(contact.preferred):
        address = _address(contact, channel)
        if address and (preferences is None or preferences.allows(channel)):
            return _send_to(channel, address)
    return Choice(skip_reason=OPTED_OUT)


def message_locale(contact: Contact, preferences: Preferences | None) -> str:
    """The preferences' locale once set, else the ticket contact's; zh-CN when unknown."""
    chosen = preferences.locale if preferences and preferences.locale else contact.locale
    return supported_locale(chosen)


def _preference_order(preferred: str) -> tuple[str, str]:
    return (SMS, EMAIL) if preferred == SMS else (EMAIL, SMS)


def _address(contact: Contact, channel: str) -> str | None:
    return contact.phone if channel == SMS else contact.email


def _send_to(channel: str, address: str) -> Choice:
    masked = mask_phone(address) if channel == SMS else mask_email(address)
    return Choice(channel=channel, destination=address, masked=masked)


# --- when ------------------------------------------------------------------------------

_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_quiet_hours(data: Mapping[str, Any] | None) -> QuietHours | None:
    """`{"start": "21:00", "end": "08:00"}` -> QuietHours; None stays None (no quiet hours)."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ValueError('quiet_hours must be an object like {"start": "21:00", "end": "08:00"}')
    unknown = sorted(set(data) - {"start", "end"})
    if unknown:
        raise ValueError(f"quiet_hours has unknown fields: {', '.join(map(str, unknown))}")
    return QuietHours(start=_clock_time(data, "start"), end=_clock_time(data, "end"))


def _clock_time(data: Mapping[str, Any], name: str) -> time:
    value = data.get(name)
    match = _CLOCK_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'quiet_hours.{name} must be a 24-hour "HH:MM" time, got {value!r}')
    return time(int(match[1]), int(match[2]))


def next_send_time(
    now: datetime, quiet: QuietHours | None, timezone: str = DEFAULT_TIMEZONE
) -> datetime:
    """`now` outside quiet hours; inside them, the moment the window ends (in UTC)."""
    if quiet is None:
        return now
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone_named(timezone))
    if not quiet.covers(local.time()):
        return now
    # Past the end on the clock means we are in the evening part of a window
    # that wraps midnight: it ends tomorrow.
    day = local.date() + timedelta(days=1 if local.time() >= quiet.end else 0)
    return datetime.combine(day, quiet.end, tzinfo=local.tzinfo).astimezone(UTC)


# --- which events ----------------------------------------------------------------------

_STATUS_TEMPLATES: dict[Status | None, str] = {
    Status.WAITING_ON_CUSTOMER: WAITING_ON_CUSTOMER,
    Status.RESOLVED: RESOLVED,
    Status.CANCELLED: CANCELLED,
}
_EVENT_TEMPLATES = {
    EventType.APPOINTMENT_BOOKED: APPOINTMENT_BOOKED,
    EventType.APPOINTMENT_RESCHEDULED: APPOINTMENT_RESCHEDULED,
    EventType.APPOINTMENT_REMINDED: APPOINTMENT_REMINDER,
    EventType.SURVEY_INVITED: SURVEY_INVITED,
    EventType.SURVEY_REMINDED: SURVEY_REMINDED,
    EventType.CLOCK_SUSPENDED: COMPLAINT_SUSPENDED,
    EventType.CLOCK_RESUMED: COMPLAINT_RESUMED,
    EventType.MERGED: MERGED,
}


_DECISIONS = frozenset({Action.REVIEW_DOCUMENT, Action.APPROVE, Action.REJECT})


def _application_template(payload: DocumentReviewed | StatusChanged) -> str | None:
    """SPEC 11: a rejected document, and the decision instead of the plain resolved message."""
    if isinstance(payload, DocumentReviewed):
        return DOCUMENT_REJECTED if payload.verdict == "rejected" else None
    if payload.to_status != Status.RESOLVED:
        return None
    return APPLICATION_APPROVED if payload.action == Action.APPROVE else APPLICATION_REJECTED


def template_for(event: Event) -> str | None:
    """The template an event is told to the customer with, or None when it is not told."""
    payload = event.payload()
    if isinstance(payload, DocumentReviewed | StatusChanged) and payload.action in _DECISIONS:
        return _application_template(payload)
    return _ticket_template(event, payload)


def _ticket_template(event: Event, payload: Payload) -> str | None:
    match payload:
        case TicketCreated(kind=kind):
            # Booking is told once, by appointment.booked.
            return None if kind == "appointment" else CREATED
        case StatusChanged(to_status=Status.RESOLVED, review_within_days=days) if days:
            return COMPLAINT_RESOLVED
        case SlaExtended(due_date=due_date) if due_date:
            return COMPLAINT_EXTENDED  # an applied step of the complaint ladder
        case StatusChanged(to_status=status):
            # Closed is not told: the customer just answered the survey or let it lapse.
            return _STATUS_TEMPLATES.get(status)
        case CommentAdded(internal=internal):
            # A comment whose visibility is not stated is treated as internal: never
            # leak a note.
            return STAFF_REPLY if event.actor.is_staff and internal is False else None
    return _EVENT_TEMPLATES.get(event.type)

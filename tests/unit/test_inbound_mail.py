"""Email in and the triage inbox, with the in-memory fakes (SPEC 12)."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.audit import entry_view
from chalicelib.domain.errors import ConflictError, ForbiddenError, NotFoundError
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import InboundSms
from chalicelib.domain.inbox import InboxStatus, Outcome, TriageReason, item_summary
from chalicelib.domain.mail import reply_address
from chalicelib.domain.statuses import Status
from chalicelib.handlers.inbound_mail import handle_stored_mail
from chalicelib.service import inbox
from chalicelib.service.inbound_mail import (
    ReplyThreading,
    outgoing_thread,
    receive_stored,
)
from tests import mail_desk
from tests.fakes import RecordingMetrics
from tests.mail_desk import AGENT, BUCKET, DOMAIN, KEY, Keys

AUDITOR = Caller(Role.AUDITOR, "aud-1")
CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
PASS = (
    "X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
    "Authentication-Results: amazonses.com; spf=pass; dkim=pass; dmarc=pass"
    " header.from={domain}\r\n"
)


class Desk(mail_desk.Desk):
    """The mail desk without document ports: attachments stay metadata."""

    def __init__(self) -> None:
        super().__init__(documents=False)

    def ticket(self, status: Status = Status.WAITING_ON_CUSTOMER, email: str = "Ann@Example.com"):
        return super().ticket(status, email)


def mail(
    to: str, body: str, sender: str = "ann@example.com", headers: str = "", verdicts: str = PASS
) -> bytes:
    verdicts = verdicts.format(domain=sender.rpartition("@")[2])  # DMARC passed for From's
    return (
        f"{verdicts}From: {sender}\r\nTo: {to}\r\nSubject: Re: card\r\n"
        f"Message-ID: <c1@example.com>\r\n{headers}\r\n{body}"
    ).encode()


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_verified_reply_is_the_customers_comment_and_resumes_the_ticket(desk: Desk):
    ticket = desk.ticket()
    raw = mail(
        reply_address(KEY, ticket.id, DOMAIN), "It works now\r\nOn Mon, X wrote:\r\n> old\r\n"
    )
    outcome, _ = desk.deliver(raw)
    assert outcome is Outcome.COMMENTED
    after = desk.repository.get(ticket.id)
    assert after is not None and after.status is Status.IN_PROGRESS
    comment = [e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED][
        -1
    ]
    assert comment.data["body"] == "It works now"
    assert comment.data["channel"] == "email"
    assert comment.actor == Caller(Role.CUSTOMER, "cust-1")
    # The desk's next email answers it in thread.
    thread = outgoing_thread(ReplyThreading(desk.threads, Keys(), DOMAIN), ticket.id)
    assert thread.in_reply_to == "<c1@example.com>"
    assert thread.reply_to == reply_address(KEY, ticket.id, DOMAIN)


def test_a_redelivered_message_is_commented_once(desk: Desk):
    ticket = desk.ticket()
    outcome, key = desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN), "Once"))
    assert outcome is Outcome.COMMENTED
    assert receive_stored(desk.ports, BUCKET, key) is Outcome.DUPLICATE
    comments = [e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED]
    assert len(comments) == 1


def test_in_reply_to_a_desk_email_threads_back(desk: Desk):
    ticket = desk.ticket()
    desk.threads.remember_sent("0100abc", ticket.id, desk.clock())
    headers = "In-Reply-To: <0100abc@email.amazonses.com>\r\n"
    outcome, _ = desk.deliver(mail("desk@bank.example", "By thread", headers=headers))
    assert outcome is Outcome.COMMENTED


def test_a_strangers_mail_goes_to_triage(desk: Desk):
    desk.ticket()
    outcome, key = desk.deliver(mail("desk@bank.example", "Hello", sender="eve@evil.example"))
    assert outcome is Outcome.TRIAGED
    [item] = desk.store.items.values()
    assert item.reason is TriageReason.UNKNOWN_SENDER
    assert item_summary(item)["from"] == "e***@evil.example"
    # The same stored message again makes no second item.
    assert receive_stored(desk.ports, BUCKET, key) is Outcome.DUPLICATE


def test_a_customer_without_reference_is_no_reference(desk: Desk):
    desk.ticket()
    desk.deliver(mail("desk@bank.example", "New question"))
    [item] = desk.store.items.values()
    assert item.reason is TriageReason.NO_REFERENCE


def test_wrong_sender_with_a_valid_token_is_a_mismatch_and_nothing_reaches_the_ticket(desk: Desk):
    ticket = desk.ticket()
    before = len(desk.repository.events(ticket.id))
    desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN), "hi", sender="eve@evil.example"))
    [item] = desk.store.items.values()
    assert item.reason is TriageReason.SENDER_MISMATCH
    assert len(desk.repository.events(ticket.id)) == before


def test_forged_token_is_no_reference(desk: Desk):
    ticket = desk.ticket()
    forged = reply_address(b"z" * 32, ticket.id, DOMAIN)
    desk.deliver(mail(forged, "hi"))
    [item] = desk.store.items.values()
    assert item.reason is TriageReason.NO_REFERENCE
    assert desk.repository.get(ticket.id).status is Status.WAITING_ON_CUSTOMER  # type: ignore[union-attr]


def test_failed_verdicts_come_first(desk: Desk):
    ticket = desk.ticket()
    failing = PASS.replace("Virus-Verdict: PASS", "Virus-Verdict: FAIL")
    desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN), "hi", verdicts=failing))
    [item] = desk.store.items.values()
    assert item.reason is TriageReason.FAILED_VERDICT


def test_a_reply_token_with_a_forged_from_is_no_comment(desk: Desk):
    # Review M1: the token is in every desk email (forwarded, quoted...); whoever holds it
    # must still be the contact, authenticated for the contact's domain. An envelope
    # sender of `dmarc=pass@...` does not make SES's dmarc=fail a pass.
    ticket = desk.ticket()
    before = len(desk.repository.events(ticket.id))
    forged = PASS.split("Authentication-Results", maxsplit=1)[0] + (
        "Authentication-Results: amazonses.com; spf=pass (spfCheck: domain of"
        " attacker.example designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1;"
        " envelope-from=dmarc=pass@attacker.example; helo=mx.attacker.example; dkim=none;"
        " dmarc=fail header.from=example.com;\r\n"
    )
    outcome, _ = desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN), "hi", verdicts=forged))
    assert outcome is Outcome.TRIAGED
    [item] = desk.store.items.values()
    assert item.reason is TriageReason.FAILED_VERDICT
    assert len(desk.repository.events(ticket.id)) == before


def test_reply_about_a_closed_ticket_opens_a_new_one(desk: Desk):
    closed = desk.ticket(Status.CLOSED)
    outcome, _ = desk.deliver(mail(reply_address(KEY, closed.id, DOMAIN), "Again broken"))
    assert outcome is Outcome.NEW_TICKET
    [new] = [t for t in desk.repository.tickets.values() if t.parent_id == closed.id]
    assert new.description == "Again broken" and new.customer_id == "cust-1"
    assert new.contact.email == "ann@example.com" and new.channel == "email"
    assert desk.repository.get(closed.id).status is Status.CLOSED  # type: ignore[union-attr]


def test_malformed_html_only_and_unknown_charset_mail_are_handled(desk: Desk):
    ticket = desk.ticket()
    to = reply_address(KEY, ticket.id, DOMAIN)
    html = "MIME-Version: 1.0\r\nContent-Type: text/html; charset=x-unknown\r\n"
    outcome, _ = desk.deliver(mail(to, "<p>caf\u00e9 <i>ok</i></p>", headers=html))
    assert outcome is Outcome.COMMENTED
    assert desk.repository.events(ticket.id)[-2].data["body"] == "café ok"
    broken = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="q"\r\n'
    outcome, _ = desk.deliver(mail("x@y.z", "--q\r\nno end", sender="eve@e.x", headers=broken))
    assert outcome is Outcome.TRIAGED
    assert receive_stored(desk.ports, BUCKET, "inbound/missing") is Outcome.GONE


def _triaged(desk: Desk) -> str:
    desk.deliver(mail("desk@bank.example", "Please help", sender="eve@evil.example"))
    return next(iter(desk.store.items))


def test_agent_opens_a_ticket_from_an_item_once(desk: Desk):
    item_id = _triaged(desk)
    body = {"customer_id": "cust-9", "kind": "consultation", "category": "card"}
    ticket = inbox.open_ticket_from(desk.inbox, AGENT, item_id, body)
    assert ticket.customer_id == "cust-9" and ticket.description == "Please help"
    assert ticket.contact.email == "eve@evil.example" and ticket.contact.preferred == "email"
    assert desk.store.items[item_id].status is InboxStatus.TICKETED
    assert [e.action for e, _ in desk.audit.entries.values()] == ["inbox_ticket"]
    with pytest.raises(ConflictError):
        inbox.open_ticket_from(desk.inbox, AGENT, item_id, body)


def test_link_adds_the_customers_comment_audited_with_the_staff_actor(desk: Desk):
    ticket = desk.ticket()
    item_id = _triaged(desk)
    handled = inbox.link(desk.inbox, AGENT, item_id, ticket.id)
    assert handled.status is InboxStatus.LINKED and handled.ticket_id == ticket.id
    assert desk.repository.get(ticket.id).status is Status.IN_PROGRESS  # type: ignore[union-attr]
    [(entry, _)] = desk.audit.entries.values()
    assert (entry.actor, entry.action, entry.ticket_id) == (AGENT, "inbox_link", ticket.id)
    with pytest.raises(ConflictError):
        inbox.discard(desk.inbox, AGENT, item_id, "late")


def test_a_discard_is_audited_naming_the_message(desk: Desk):
    # The entry had no ticket and nothing else: an auditor saw that agent-1 discarded
    # something, never which message.
    item_id = _triaged(desk)
    inbox.discard(desk.inbox, AGENT, item_id, "spam")
    [(entry, _)] = desk.audit.entries.values()
    assert (entry.action, entry.ticket_id, entry.inbox_id) == ("inbox_discard", None, item_id)
    assert entry_view(entry)["inbox_id"] == item_id


def test_a_staff_list_of_the_inbox_is_a_read_of_every_message_it_shows(desk: Desk):
    # The list shows each message's sender (masked) and subject, and left no audit entry.
    item_id = _triaged(desk)
    page = inbox.list_items(desk.inbox, AGENT, "open", 10, None)
    assert [item.id for item in page.items] == [item_id]
    [(entry, _)] = desk.audit.entries.values()
    assert (entry.actor, entry.action, entry.inbox_id) == (AGENT, "list_inbox", item_id)
    assert entry.query == {"status": "open"}
    inbox.list_items(desk.inbox, AGENT, "discarded", 10, None)  # nothing shown, nothing read
    assert len(desk.audit.entries) == 1


def test_roles_and_unknown_items(desk: Desk):
    item_id = _triaged(desk)
    with pytest.raises(ForbiddenError):
        inbox.get_item(desk.inbox, CUSTOMER, item_id)
    assert inbox.get_item(desk.inbox, AUDITOR, item_id).id == item_id
    with pytest.raises(ForbiddenError):
        inbox.discard(desk.inbox, AUDITOR, item_id, "no")
    with pytest.raises(NotFoundError):
        inbox.discard(desk.inbox, AGENT, "M-NOPE", "x")
    with pytest.raises(NotFoundError):
        inbox.get_item(desk.inbox, AGENT, "../etc")
    page = inbox.list_items(desk.inbox, AGENT, "open", 10, None)
    assert [i.id for i in page.items] == [item_id]
    assert inbox.discard(desk.inbox, AGENT, item_id, "spam").status is InboxStatus.DISCARDED
    assert inbox.list_items(desk.inbox, AGENT, "open", 10, None).items == []


def test_a_huge_reply_from_the_customer_is_triaged_without_attachments(desk: Desk):
    ticket = desk.ticket()
    headers = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nSee the scan\r\n--b\r\n"
        "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=s.pdf\r\n\r\n"
        + "x" * (10 * 1024 * 1024)
        + "\r\n--b--\r\n"
    )
    outcome, _ = desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN), body, headers=headers))
    assert outcome is Outcome.TRIAGED
    [item] = desk.store.items.values()
    assert item.attachments == () and "oversize_attachments_dropped" in item.notes
    assert item.text == "See the scan"
    assert desk.repository.get(ticket.id).status is Status.WAITING_ON_CUSTOMER  # type: ignore[union-attr]


def test_other_channels_triage_through_the_same_function(desk: Desk):
    from chalicelib.domain.inbox import Channel, InboxItem

    item = InboxItem(
        id="M-SMS1",
        channel=Channel.SMS,
        sender="+8613812348000",
        subject=None,
        text="where is my card",
        received_at=desk.clock(),
        status=InboxStatus.OPEN,
        reason=TriageReason.UNMATCHED_SMS,
    )
    assert inbox.triage(desk.inbox, item) is True
    assert inbox.triage(desk.inbox, item) is False  # the same message again
    assert item_summary(item)["from"] == "+86 138****8000" and "subject" not in item_summary(item)
    body = {"customer_id": "cust-5", "kind": "consultation", "category": "card"}
    ticket = inbox.open_ticket_from(desk.inbox, AGENT, "M-SMS1", body)
    assert ticket.channel == "sms" and ticket.subject == "where is my card"
    assert ticket.contact.phone == "+8613812348000" and ticket.contact.preferred == "sms"


def test_the_sms_intakes_unmatched_texts_land_in_the_inbox_once(desk: Desk):
    triage_sms = inbox.SmsToInbox(desk.store)
    sms = InboundSms("sms-1", "+8613812348000", "+8610690000", "hello?", desk.clock())
    triage_sms.triage_sms(sms, TriageReason.UNMATCHED_SMS)
    triage_sms.triage_sms(sms, TriageReason.UNMATCHED_SMS)  # redelivered
    [item] = inbox.list_items(desk.inbox, AGENT, "open", 10, None).items
    assert (item.channel.value, item.reason, item.text) == (
        "sms",
        TriageReason.UNMATCHED_SMS,
        "hello?",
    )


def _s3_event(bucket: str, key: str) -> str:
    return json.dumps({"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


def test_an_event_naming_another_bucket_is_dropped_and_counted(desk: Desk):
    # Review L5: only the configured inbound bucket is read.
    ticket = desk.ticket()
    raw = mail(reply_address(KEY, ticket.id, DOMAIN), "From elsewhere")
    desk.mails.objects[("lookalike-inboundmailbucket-1", "inbound/x")] = raw
    desk.mails.objects[(BUCKET, "inbound/y")] = raw
    metrics = RecordingMetrics()
    records = [
        {"messageId": "m-1", "body": _s3_event("lookalike-inboundmailbucket-1", "inbound/x")},
        {"messageId": "m-2", "body": _s3_event(BUCKET, "inbound/y")},
    ]
    assert handle_stored_mail(records, desk.ports, BUCKET, metrics) == {"batchItemFailures": []}
    assert metrics.points == [("InboundMailForeignBucket", {}, 1.0)]
    comments = [e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED]
    assert [(c.data["body"], c.data["mail_source"]) for c in comments] == [
        ("From elsewhere", "inbound/y")
    ]

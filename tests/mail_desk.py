"""The inbound-mail desk on in-memory fakes (tickets, inbox, documents) and a mail to feed it."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from msgspec.structs import replace

from chalicelib.adapters.objects import EicarScanner
from chalicelib.domain.contact import Contact
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbox import Outcome
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import TicketRequest
from chalicelib.service.audit import AuditPorts
from chalicelib.service.documents import DocumentPorts
from chalicelib.service.inbound_mail import InboundPorts, receive_stored
from chalicelib.service.inbox import InboxPorts, make_inbox_documents
from chalicelib.service.tickets import TicketPorts, open_with_new_ids
from tests.document_fakes import InMemoryDocumentStore, InMemoryObjectStore
from tests.fakes import (
    FixedClock,
    InMemoryAuditLog,
    InMemoryInboxStore,
    InMemoryMailThreads,
    InMemoryTicketRepository,
    SequentialIds,
    StoredMails,
)

KEY = b"k" * 32
DOMAIN = "reply.example"
BUCKET = "inbound"
AGENT = Caller(Role.AGENT, "agent-1")
PDF = b"%PDF-1.4 a statement\n%%EOF\n"


class Keys:
    """The reply-address signing keys: only KEY."""

    def signing_keys(self) -> tuple[bytes, ...]:
        return (KEY,)


class Desk:
    """Inbound mail and the inbox wired to in-memory fakes sharing one repository; with
    `documents`, attachments become documents (checked and scanned) as deployed."""

    def __init__(self, documents: bool = True) -> None:
        self.repository = InMemoryTicketRepository()
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.tickets = TicketPorts(self.repository, self.ids, self.clock)
        self.threads = InMemoryMailThreads(self.repository)
        self.store = InMemoryInboxStore(self.repository)
        self.audit = InMemoryAuditLog()
        self.mails = StoredMails()
        self.documents = InMemoryDocumentStore(self.repository)
        self.bucket = InMemoryObjectStore()
        self.document_ports = DocumentPorts(
            tickets=self.repository,
            ids=self.ids,
            clock=self.clock,
            documents=self.documents,
            objects=self.bucket,
            scanner=EicarScanner(),
        )
        held = self.document_ports if documents else None
        inbox = InboxPorts(
            self.store,
            self.tickets,
            AuditPorts(self.audit, self.ids, self.clock),
            documents=held,
            mail=self.mails if documents else None,
            mail_bucket=BUCKET if documents else None,
        )
        self.inbox = inbox
        self.ports = InboundPorts(
            self.tickets, self.threads, Keys(), self.mails, inbox, DOMAIN, held
        )
        self._keys = 0

    def ticket(self, status: Status = Status.WAITING_ON_CUSTOMER, email: str = "ann@example.com"):
        request = TicketRequest("email", "consultation", "card", "Card", "", None, "cust-1")
        ticket, event = open_with_new_ids(request, AGENT, self.ids, self.clock())
        contact = Contact(None, email, "email", "en-US")
        ticket = replace(ticket, status=status, contact=contact)
        self.repository.create(ticket, [event])
        return ticket

    def stream(self) -> int:
        """The table's stream after the writes: every event reacted to (again: a reaction
        is idempotent), the inbox's attachments made documents. Returns how many."""
        return sum(
            make_inbox_documents(self.inbox, event)
            for ticket_id in list(self.repository.tickets)
            for event in self.repository.events(ticket_id)
        )

    def deliver(self, raw: bytes) -> tuple[Outcome, str]:
        self._keys += 1
        key = f"inbound/{self._keys}"
        self.mails.objects[(BUCKET, key)] = raw
        return receive_stored(self.ports, BUCKET, key), key


def mail(to: str, *attachments: tuple[str, str, bytes], sender: str = "ann@example.com") -> bytes:
    """A mail from `sender` that passed SES's checks, with `(filename, type, data)` attachments."""
    message = EmailMessage(policy=SMTP)
    message["X-SES-Spam-Verdict"] = "PASS"
    message["X-SES-Virus-Verdict"] = "PASS"
    domain = sender.rpartition("@")[2]  # DMARC passed for the From domain
    message["Authentication-Results"] = (
        f"amazonses.com; spf=pass; dkim=pass; dmarc=pass header.from={domain}"
    )
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Re: card"
    message["Message-ID"] = "<c1@example.com>"
    message.set_content("Here are the papers")
    for filename, kind, data in attachments:
        main, _, sub = kind.partition("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return message.as_bytes()

"""A desk of documents on in-memory fakes (World) and GuardDuty's scan result events for it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from chalicelib import bootstrap
from chalicelib.adapters.objects import EicarScanner
from chalicelib.domain.applications import resolve_request
from chalicelib.domain.documents import document_view
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.handlers.uploads import handle_scan_results, handle_uploads
from chalicelib.service import documents as service
from chalicelib.service.applications import commit_review
from chalicelib.service.documents import DocumentPorts, DocumentRequest, UploadForm
from chalicelib.service.idempotency import StoredResponse
from chalicelib.service.tickets import TicketPorts, act, create_ticket, get_ticket
from tests.document_fakes import InMemoryDocumentStore, InMemoryObjectStore
from tests.fakes import FixedClock, InMemoryTicketRepository, RecordingOpsAlerter, SequentialIds

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 20 + b"%%EOF\n"
BUCKET = "docs"
CATALOGUE = bootstrap.load_application_catalogue()  # the shipped one


class World:
    """Tickets and documents on in-memory fakes: a customer opens, hands in, uploads; S3 lands."""

    def __init__(self, *, scanner: Any = None) -> None:
        self.repository = InMemoryTicketRepository()
        self.store = InMemoryDocumentStore(self.repository)
        self.bucket = InMemoryObjectStore()
        self.alerts = RecordingOpsAlerter()
        self.clock = FixedClock()
        ids = SequentialIds()
        self.ticket_ports = TicketPorts(
            self.repository,
            ids,
            self.clock,
            review_commit=lambda before, changed, events, now: commit_review(
                self.store, before, changed, events, now
            ),
        )
        self.ports = DocumentPorts(
            tickets=self.repository,
            documents=self.store,
            objects=self.bucket,
            scanner=scanner or EicarScanner(),
            ids=ids,
            clock=self.clock,
            alerts=self.alerts,
        )

    def open(
        self, type_id: str | None = "card-limit-increase", form: dict[str, Any] | None = None
    ) -> Ticket:
        forms = {
            "card-limit-increase": {"card_last4": "1234", "requested_limit": 50000},
            "account-closure": {"account_last4": "9876"},
        }
        application = None if type_id is None else {"type": type_id, "form": form or forms[type_id]}
        kind = "application" if type_id else "consultation"
        app_type, checked, category = resolve_request(
            CATALOGUE, kind, None if type_id else "card", application
        )
        request = TicketRequest(
            channel="mobile",
            kind=kind,
            category=category,
            subject="Limit",
            description="",
            contact={"phone": "+8613812348000"},
            application_type=app_type,
            form=checked,
        )

        def render(ticket: Ticket) -> StoredResponse:
            return StoredResponse(201, json.dumps({"id": ticket.id}))

        created = create_ticket(self.ticket_ports, CUSTOMER, request, render)
        return self.ticket(json.loads(created.body)["id"])

    def ticket(self, ticket_id: str) -> Ticket:
        ticket = self.repository.get(ticket_id)
        assert ticket is not None
        return ticket

    def work(self, ticket: Ticket, agent: Caller = AGENT) -> Ticket:
        act(self.ticket_ports, SUPERVISOR, ticket.id, "assign", {"assignee": agent.id})
        return act(self.ticket_ports, agent, ticket.id, "start", {})

    def add(
        self, ticket: Ticket, data: bytes = PDF, caller: Caller = CUSTOMER, **declared: Any
    ) -> dict[str, Any]:
        request = DocumentRequest(
            type=declared.get("type", "id-card"),
            filename=declared.get("filename", "id.pdf"),
            content_type=declared.get("content_type", "application/pdf"),
            size=declared.get("size", len(data)),
            sha256=declared.get("sha256", hashlib.sha256(data).hexdigest()),
        )

        def render(document: Any, form: UploadForm) -> StoredResponse:
            return StoredResponse(
                201, json.dumps({**document_view(document), "key": form.fields["key"]})
            )

        response = service.add_document(
            self.ports,
            caller,
            ticket.id,
            request,
            render=render,
            get_ticket=lambda wanted: get_ticket(self.ticket_ports, caller, wanted),
        )
        return json.loads(response.body)

    def upload(self, ticket: Ticket, data: bytes = PDF, **declared: Any) -> dict[str, Any]:
        """Hand in, upload the bytes, and let the S3 event arrive."""
        added = self.add(ticket, declared.pop("declared_data", data), **declared)
        self.bucket.put(added["key"], data)
        self.land(added["key"])
        found = self.store.get(ticket.id, added["id"])
        assert found is not None
        return {**added, "status": found.status.value, "problem": found.problem}

    def land(self, key: str) -> dict[str, Any]:
        body = json.dumps(
            {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Post",
                        "s3": {
                            "bucket": {"name": BUCKET},
                            "object": {"key": key.replace("-", "%2D")},
                        },
                    }
                ]
            }
        )
        return handle_uploads([{"messageId": "m-1", "body": body}], self.ports, BUCKET)

    def events(self, ticket: Ticket) -> list[str]:
        return [event.type for event in self.repository.events(ticket.id)]


def guardduty_event(key: str, status: str, bucket: str = BUCKET) -> dict[str, Any]:
    """A "GuardDuty Malware Protection Object Scan Result" event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "2d2a7d8d-0a57-4d32-9a0e-6f0c4b7b2f11",
        "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "source": "aws.guardduty",
        "account": "111122223333",
        "time": "2026-12-06T04:00:00Z",
        "region": "ap-east-1",
        "resources": ["arn:aws:guardduty:ap-east-1:111122223333:malware-protection-plan/x"],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": "COMPLETED",
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": key,
                "eTag": "0123456789abcdef",
                "versionId": None,
                "s3Throttled": False,
            },
            "scanResultDetails": {
                "scanResultStatus": status,
                "threats": [{"name": "EICAR-Test-File (not a virus)"}]
                if status == "THREATS_FOUND"
                else None,
            },
        },
    }


def scanned(world: World, key: str, status: str) -> None:
    """GuardDuty's result `status` for the object `key` reaches the world's scan handler."""
    body = json.dumps(guardduty_event(key, status))
    assert handle_scan_results([{"messageId": "g", "body": body}], world.ports, BUCKET) == {
        "batchItemFailures": []
    }

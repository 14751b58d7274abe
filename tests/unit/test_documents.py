"""Documents (SPEC 11): handing one in, the checks and the scan when it lands, review,
download; with in-memory fakes of the table, the bucket and the scanner."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.objects import GuardDutyScanner, guardduty_verdict
from chalicelib.domain.applications import ApprovalPendingError
from chalicelib.domain.documents import (
    EICAR,
    MAX_DOCUMENTS,
    DocumentErasedError,
    DocumentStatus,
    DocumentUnavailableError,
    TooManyDocumentsError,
    document_view,
)
from chalicelib.domain.errors import (
    ForbiddenError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
)
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.notifications import template_for
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket
from chalicelib.handlers.uploads import handle_uploads, landed_keys
from chalicelib.service import documents as service
from chalicelib.service.documents import DocumentRequest
from chalicelib.service.idempotency import StoredResponse
from chalicelib.service.tickets import act, get_ticket
from tests.documents_world import (
    AGENT,
    BUCKET,
    CUSTOMER,
    PDF,
    SUPERVISOR,
    World,
    guardduty_event,
    scanned,
)
from tests.fakes import SequentialIds

STRANGER = Caller(Role.CUSTOMER, "cust-2")
SUPERVISOR_2 = Caller(Role.SUPERVISOR, "sup-2")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# ---------------------------------------------------------------- handing one in


def test_a_customer_hands_in_a_document_and_gets_an_upload_form_bound_to_it():
    world = World()
    ticket = world.open()
    added = world.add(ticket)
    assert added["status"] == "pending_upload"
    assert added["id"].startswith("D-")
    key, content_type, size = world.bucket.forms[-1]
    assert key == added["key"] and key.startswith(f"documents/{ticket.id}/")
    assert len(key.rsplit("/", 1)[1]) >= 40  # nobody can guess it
    assert (content_type, size) == ("application/pdf", len(PDF))
    assert world.events(ticket)[-1] == "document.added"
    assert world.ticket(ticket.id).version == ticket.version  # the ticket itself did not change


def test_a_document_type_off_the_checklist_is_refused_and_other_is_always_welcome():
    world = World()
    ticket = world.open()
    with pytest.raises(ValidationError) as raised:
        world.add(ticket, type="passport")
    assert [error.path for error in raised.value.errors] == ["type"]
    assert world.add(ticket, type="other")["type"] == "other"
    consultation = world.open(None)
    with pytest.raises(ValidationError):
        world.add(consultation, type="id-card")
    assert world.add(consultation, type="other")["status"] == "pending_upload"


def test_staff_may_add_documents_but_auditors_may_not_and_strangers_do_not_see_the_ticket():
    world = World()
    ticket = world.open()
    assert world.add(ticket, caller=AGENT)["status"] == "pending_upload"
    with pytest.raises(ForbiddenError):
        world.add(ticket, caller=AUDITOR)
    with pytest.raises(NotFoundError):
        world.add(ticket, caller=STRANGER)


def test_a_finished_ticket_takes_no_document():
    world = World()
    ticket = world.open()
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    with pytest.raises(IllegalTransitionError):
        world.add(ticket)


def test_a_ticket_holds_at_most_20_documents_and_a_refusal_writes_nothing():
    world = World()
    ticket = world.open()
    for _ in range(MAX_DOCUMENTS):
        world.add(ticket, type="other")
    before = (len(world.store.documents), len(world.repository.events(ticket.id)))
    with pytest.raises(TooManyDocumentsError):
        world.add(ticket, type="other")
    assert (len(world.store.documents), len(world.repository.events(ticket.id))) == before


# ---------------------------------------------------------------- landing


def test_a_clean_file_of_the_declared_kind_becomes_available_and_ticks_the_checklist():
    world = World()
    ticket = world.open()
    landed = world.upload(ticket)
    assert landed["status"] == "available"
    after = world.ticket(ticket.id)
    assert after.application is not None
    assert after.application.checklist[0].status == "uploaded"
    assert after.application.checklist[0].document_id == landed["id"]
    assert after.version == ticket.version + 1
    received = [e for e in world.repository.events(ticket.id) if e.type == "document.received"]
    assert [e.data for e in received] == [
        {"document_id": landed["id"], "type": "id-card", "status": "available"}
    ]


@pytest.mark.parametrize(
    ("data", "declared", "problem"),
    [
        (PDF + b"x", {"declared_data": PDF}, "size"),  # longer than declared
        (PDF[:-1] + b"?", {"declared_data": PDF}, "checksum"),  # same size, other bytes
        (PNG, {"content_type": "application/pdf"}, "type"),  # a PNG declared as a PDF
        (PDF, {"content_type": "image/jpeg"}, "type"),
    ],
    ids=["size", "checksum", "type-png-as-pdf", "type-pdf-as-jpeg"],
)
def test_a_file_that_is_not_what_was_declared_is_rejected_with_the_problem(data, declared, problem):
    world = World()
    ticket = world.open()
    landed = world.upload(ticket, data, **declared)
    assert (landed["status"], landed["problem"]) == ("rejected_file", problem)
    after = world.ticket(ticket.id)
    assert after.application is not None and after.application.checklist[0].status == "missing"
    with pytest.raises(DocumentUnavailableError):
        service.download_url(world.ports, after, landed["id"])


def test_an_infected_file_wins_over_any_other_problem_is_never_served_and_ops_are_alerted():
    world = World()
    ticket = world.open()
    infected = b"%PDF-1.4\n" + EICAR
    landed = world.upload(ticket, infected, declared_data=PDF)  # wrong size AND checksum too
    assert (landed["status"], landed["problem"]) == ("infected", None)
    with pytest.raises(DocumentUnavailableError):
        service.download_url(world.ports, world.ticket(ticket.id), landed["id"])
    assert [(a.kind, a.ticket_id) for a in world.alerts.sent] == [("document.infected", ticket.id)]
    assert "EICAR" not in json.dumps([a.details for a in world.alerts.sent])
    assert world.events(ticket)[-2:] == ["document.received", "document.infected"]


def test_a_redelivered_s3_event_changes_nothing():
    world = World()
    ticket = world.open()
    landed = world.upload(ticket)
    events = world.events(ticket)
    version = world.ticket(ticket.id).version
    world.land(f"documents/{ticket.id}/" + world.bucket.forms[-1][0].rsplit("/", 1)[1])
    assert world.events(ticket) == events
    assert world.ticket(ticket.id).version == version
    assert landed["status"] == "available"


def test_the_s3_test_event_is_ignored():
    assert list(landed_keys(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))) == []


def test_a_message_that_fails_is_reported_for_a_retry_alone():
    world = World()
    answer = handle_uploads(
        [{"messageId": "bad", "body": "not json"}, {"messageId": "ok", "body": "{}"}],
        world.ports,
        BUCKET,
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_only_available_accepted_or_rejected_documents_are_served():
    world = World()
    ticket = world.open()
    pending = world.add(ticket)
    with pytest.raises(DocumentUnavailableError):
        service.download_url(world.ports, ticket, pending["id"])
    landed = world.upload(ticket)
    url = service.download_url(world.ports, world.ticket(ticket.id), landed["id"])
    assert url.endswith("expires=300")
    with pytest.raises(NotFoundError):
        service.download_url(world.ports, ticket, "D-NOSUCH")


# ---------------------------------------------------------------- GuardDuty (deployed)


@pytest.mark.parametrize(
    ("status", "outcome"), [("NO_THREATS_FOUND", "available"), ("THREATS_FOUND", "infected")]
)
def test_deployed_the_document_leaves_scanning_only_with_guardduty_s_verdict(status, outcome):
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    landed = world.upload(ticket)
    assert landed["status"] == "scanning"
    key = world.bucket.forms[-1][0]
    scanned(world, key, status)
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status == outcome


def test_a_verdict_before_the_s3_event_is_kept_until_the_checks_are_done():
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    added = world.add(ticket)
    scanned(world, added["key"], "NO_THREATS_FOUND")
    document = world.store.get(ticket.id, added["id"])
    assert document is not None and document.status == "pending_upload"
    world.bucket.put(added["key"], PDF)
    world.land(added["key"])
    document = world.store.get(ticket.id, added["id"])
    assert document is not None and document.status == "available"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("NO_THREATS_FOUND", False), ("THREATS_FOUND", True), ("UNSUPPORTED", None), ("FAILED", None)],
)
def test_the_guardduty_result_maps_to_a_verdict(status, expected):
    verdict = guardduty_verdict(guardduty_event("documents/T-1/abc", status))
    assert (verdict[2] if verdict else None) == expected


# ---------------------------------------------------------------- review and decision


def _reviewed(
    world: World, ticket: Ticket, document_id: str, verdict: str, caller: Caller = AGENT
) -> Ticket:
    return act(
        world.ticket_ports,
        caller,
        ticket.id,
        "review_document",
        {"document_id": document_id, "verdict": verdict, "reason": "Checked against the form"},
    )


def test_review_moves_the_document_and_the_checklist_in_one_write_and_a_rejection_is_told():
    world = World()
    ticket = world.work(world.open())
    landed = world.upload(ticket)
    before = world.ticket(ticket.id)
    after = _reviewed(world, before, landed["id"], "rejected")
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status == "rejected"
    assert document.review_reason == "Checked against the form"
    assert after.application is not None and after.application.checklist[0].status == "rejected"
    assert world.ticket(ticket.id).version == before.version + 1
    [reviewed] = [e for e in world.repository.events(ticket.id) if e.type == "document.reviewed"]
    assert reviewed.data["type_name"] == {"zh-CN": "身份证", "en-US": "ID card"}
    assert template_for(reviewed) == "document.rejected"


def test_review_of_a_document_not_yet_clean_or_unknown_is_refused_and_changes_nothing():
    world = World()
    ticket = world.work(world.open())
    pending = world.add(ticket)
    version = world.ticket(ticket.id).version
    with pytest.raises(DocumentUnavailableError):
        _reviewed(world, ticket, pending["id"], "accepted")
    with pytest.raises(ValidationError) as raised:
        _reviewed(world, ticket, "D-404", "accepted")
    assert [e.path for e in raised.value.errors] == ["document_id"]
    assert world.ticket(ticket.id).version == version


def test_card_limit_increase_two_files_reviewed_then_approved():
    world = World()
    ticket = world.work(world.open())
    id_card = world.upload(ticket)
    income = world.upload(
        ticket, PNG, type="income-proof", filename="pay.png", content_type="image/png"
    )
    _reviewed(world, ticket, id_card["id"], "accepted")
    with pytest.raises(Exception, match="income-proof"):
        act(world.ticket_ports, AGENT, ticket.id, "approve", {})
    _reviewed(world, ticket, income["id"], "accepted")
    decided = act(world.ticket_ports, AGENT, ticket.id, "approve", {})
    assert decided.status == Status.RESOLVED
    assert decided.application is not None and decided.application.decision is not None
    [moved] = [e for e in world.repository.events(ticket.id) if e.data.get("action") == "approve"]
    assert template_for(moved) == "application.approved"


def test_account_closure_needs_a_second_supervisor_and_freezes_documents_while_pending():
    world = World()
    ticket = world.work(world.open("account-closure"), SUPERVISOR)
    landed = world.upload(ticket)
    _reviewed(world, ticket, landed["id"], "accepted", SUPERVISOR)
    pending = act(world.ticket_ports, SUPERVISOR, ticket.id, "approve", {})
    assert pending.status == Status.IN_PROGRESS
    with pytest.raises(ApprovalPendingError):
        world.add(pending)
    with pytest.raises(ApprovalPendingError):
        _reviewed(world, pending, landed["id"], "rejected", SUPERVISOR_2)
    decided = act(world.ticket_ports, SUPERVISOR_2, ticket.id, "approve", {})
    assert decided.status == Status.RESOLVED
    assert decided.application is not None and decided.application.decision is not None
    assert (decided.application.decision.maker, decided.application.decision.checker) == (
        SUPERVISOR.id,
        SUPERVISOR_2.id,
    )


def test_a_review_on_another_kind_of_ticket_is_an_illegal_transition_and_moves_nothing():
    # SPEC 5 and 11: review_document is an application action, 409 on any other kind.
    world = World()
    ticket = world.work(world.open(None))
    landed = world.upload(ticket, type="other")
    before = world.store.get(ticket.id, landed["id"])
    assert before is not None and before.status == "available"
    with pytest.raises(IllegalTransitionError):
        _reviewed(world, ticket, landed["id"], "rejected")
    assert world.store.get(ticket.id, landed["id"]) == before


def test_an_application_action_on_another_kind_is_an_illegal_transition():
    world = World()
    ticket = world.work(world.open(None))
    with pytest.raises(IllegalTransitionError):
        act(world.ticket_ports, AGENT, ticket.id, "approve", {})


# ---------------------------------------------------------------- erasure


def test_erasure_deletes_the_document_objects_and_file_names_and_the_form():
    world = World()
    ticket = world.open("card-limit-increase", {"card_last4": "6222", "requested_limit": 77777})
    landed = world.upload(ticket, filename="Jane Doe payslip.pdf")
    key = world.bucket.forms[-1][0]
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    _erased(world)
    assert key not in world.bucket.objects and key in world.bucket.deleted
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.filename == ""
    stored = repr(world.repository.tickets[ticket.id]) + repr(world.repository.events(ticket.id))
    for personal in ("Jane", "6222", "77777"):
        assert personal not in stored


def _erased(world: World, *, documents: bool = True) -> None:
    """The customer's erasure; `documents=False` leaves out its document step (file names,
    objects), as if only the ticket's anonymization told of it."""
    from chalicelib.service.audit import AuditPorts
    from chalicelib.service.privacy import PrivacyPorts, erase_customer
    from tests.fakes import InMemoryAuditLog, InMemoryNotificationStore, InMemoryPrivacyStore

    notifications = InMemoryNotificationStore()
    privacy = PrivacyPorts(
        world.repository,
        InMemoryPrivacyStore(world.repository, notifications),
        notifications,
        AuditPorts(InMemoryAuditLog(), SequentialIds(), world.clock),
        forget_documents=(lambda erased: service.erase_documents(world.ports, erased))
        if documents
        else None,
    )
    erase_customer(privacy, AUDITOR, CUSTOMER.id)


def _stored(world: World, ticket: Ticket) -> str:
    return repr(world.store.for_ticket(ticket.id)) + repr(world.repository.events(ticket.id))


@pytest.mark.parametrize("documents", [True, False], ids=["names-blanked", "ticket-anonymized"])
def test_an_upload_landing_after_the_erasure_is_deleted_and_writes_nothing(documents):
    # The upload form stays valid 15 minutes: the customer may post the file after the
    # ticket was cancelled and they were erased. Erasure deleted the objects it found; this
    # one stayed in the bucket until retention expired.
    world = World()
    ticket = world.open()
    added = world.add(ticket, filename="Jane Doe payslip.pdf")
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    _erased(world, documents=documents)
    before = _stored(world, ticket)

    world.bucket.put(added["key"], PDF)
    assert world.land(added["key"]) == {"batchItemFailures": []}
    assert added["key"] not in world.bucket.objects
    assert _stored(world, ticket) == before  # no scan, no document.received


def test_a_served_files_form_posted_again_after_the_erasure_is_deleted_too():
    world = World()
    ticket = world.open()
    landed = world.upload(ticket)
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    _erased(world)
    before = _stored(world, ticket)
    world.bucket.put(landed["key"], PDF)  # the same form, still within its 15 minutes
    world.land(landed["key"])
    assert landed["key"] not in world.bucket.objects
    assert _stored(world, ticket) == before


@pytest.mark.parametrize("documents", [True, False], ids=["names-blanked", "ticket-anonymized"])
def test_an_erased_document_is_410_before_any_link_to_its_deleted_object(documents):
    # Before, the API presigned a GET for the object the erasure had deleted, and the
    # client followed the 302 to S3's 403 (the API may not list the bucket).
    world = World()
    ticket = world.open()
    landed = world.upload(ticket)
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    _erased(world, documents=documents)
    with pytest.raises(DocumentErasedError):  # no link handed out
        service.download_url(world.ports, world.ticket(ticket.id), landed["id"])


def test_an_upload_to_a_cancelled_ticket_not_erased_is_still_checked():
    world = World()
    ticket = world.open()
    added = world.add(ticket)
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    world.bucket.put(added["key"], PDF)
    world.land(added["key"])
    assert added["key"] in world.bucket.objects
    document = world.store.get(ticket.id, added["id"])
    assert document is not None and document.status is DocumentStatus.AVAILABLE


# ---------------------------------------------------------------- retention


def test_a_closed_tickets_documents_expire_with_it_and_an_expired_item_deletes_its_object():
    from chalicelib.handlers.stream import _expired
    from chalicelib.service.reactions import ReactionPorts, keep_for_retention
    from tests.fakes import InMemoryReactionLedger

    world = World()
    ticket = world.open()
    world.upload(ticket)
    key = world.bucket.forms[-1][0]
    act(world.ticket_ports, CUSTOMER, ticket.id, "cancel", {})
    cancelled = [e for e in world.repository.events(ticket.id) if e.data.get("to") == "cancelled"]
    reactions = ReactionPorts(
        InMemoryReactionLedger(),
        expire_documents=world.store.expire,
        delete_document_object=world.bucket.delete,
    )
    keep_for_retention(cancelled[0], reactions)
    assert world.store.expiries[ticket.id] > cancelled[0].at.timestamp() + 365 * 86400

    removed = {
        "eventName": "REMOVE",
        "dynamodb": {
            "OldImage": {"item_type": {"S": "document"}, "object_key": {"S": key}},
            "SequenceNumber": "1",
        },
    }
    _expired("MODIFY", removed["dynamodb"]["OldImage"], reactions)  # type: ignore[index]
    assert key in world.bucket.objects  # only an item's removal deletes the bytes
    _expired("REMOVE", removed["dynamodb"]["OldImage"], reactions)  # type: ignore[index]
    assert key not in world.bucket.objects


# ---------------------------------------------------------------- idempotency


def test_an_idempotency_key_hands_in_a_document_once():
    from chalicelib.domain.errors import IdempotencyKeyReusedError
    from chalicelib.service.idempotency import IdempotencyKey

    world = World()
    ticket = world.open()
    key = IdempotencyKey(f"customer:{CUSTOMER.id}:POST /documents", "retry-1", "fingerprint-a")
    request = DocumentRequest("id-card", "id.pdf", "application/pdf", len(PDF), "0" * 64)

    def hand_in(idempotency: IdempotencyKey) -> StoredResponse:
        return service.add_document(
            world.ports,
            CUSTOMER,
            ticket.id,
            request,
            render=lambda document, form: StoredResponse(201, json.dumps(document_view(document))),
            idempotency=idempotency,
            get_ticket=lambda wanted: get_ticket(world.ticket_ports, CUSTOMER, wanted),
        )

    first, again = hand_in(key), hand_in(key)
    assert again == first
    assert len(world.store.documents) == 1
    with pytest.raises(IdempotencyKeyReusedError):
        hand_in(IdempotencyKey(key.scope, key.key, "fingerprint-b"))
    assert len(world.store.documents) == 1


# ---------------------------------------------------------------- bytes the desk holds


def test_bytes_the_desk_already_holds_become_a_document_checked_like_an_upload():
    from chalicelib.domain.identity import SYSTEM

    world = World()
    ticket = world.open()
    document = service.add_document_from_bytes(
        world.ports,
        SYSTEM,
        ticket,
        doc_type="id-card",
        filename="scan.pdf",
        content_type="application/pdf",
        data=PDF,
    )
    assert world.bucket.objects[document.object_key] == PDF
    world.land(document.object_key)
    landed = world.store.get(ticket.id, document.id)
    assert landed is not None and landed.status == "available"
    with pytest.raises(ValidationError) as raised:
        service.add_document_from_bytes(
            world.ports,
            SYSTEM,
            ticket,
            doc_type="other",
            filename="notes.docx",
            content_type="application/msword",
            data=b"x",
        )
    assert [error.path for error in raised.value.errors] == ["content_type"]

"""Email attachments become documents through the local stack (SPEC 12): `python -m
local.mail --attach FILE` drops a reply, the runner pumps the inbound queue, the PDF goes
to the document bucket whose event runs the upload's checks."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.api.mail_support import call, reply_to_when_asked, send_mail, waiting_ticket
from tests.api.support import wait_for

PDF = b"%PDF-1.4 a bank statement\n%%EOF\n"


def test_a_replys_pdf_is_a_document_of_the_ticket_and_other_files_are_not(stack, auth, tmp_path):
    run = uuid.uuid4().hex[:8]
    customer, address = f"cust-attach-{run}", f"attach.{run}@example.cn"
    ticket_id = waiting_ticket(stack, auth, customer, address)
    reply_to = wait_for(lambda: reply_to_when_asked(stack, address), timeout=30)
    pdf, notes = Path(tmp_path, "statement.pdf"), Path(tmp_path, "notes.txt")
    pdf.write_bytes(PDF)
    notes.write_text("plain notes")
    send_mail(
        stack,
        "--from",
        address,
        "--to",
        reply_to,
        "--subject",
        "Re: ticket",
        "--attach",
        str(pdf),
        "--attach",
        str(notes),
        "Here is my statement",
    )
    owner = ("customers", customer)
    path = f"/v1/tickets/{ticket_id}/documents"

    def available() -> Any:
        items = call(stack, auth, owner, "GET", path).json()["items"]
        return items if items and items[0]["status"] == "available" else None

    [document] = wait_for(available, timeout=60)
    assert (document["filename"], document["type"], document["size"]) == (
        "statement.pdf",
        "other",
        len(PDF),
    )
    content = call(
        stack, auth, owner, "GET", f"{path}/{document['id']}/content", allow_redirects=False
    )
    assert content.status_code == 302
    timeline = call(stack, auth, owner, "GET", f"/v1/tickets/{ticket_id}/timeline").json()
    [comment] = [e for e in timeline["items"] if e["type"] == "comment.added"]
    kept = {a["filename"]: a.get("kept_as_metadata") for a in comment["data"]["attachments"]}
    assert kept == {"statement.pdf": None, "notes.txt": "type"}
    assert "mail_source" not in comment["data"]  # an internal reference: staff only

"""Mail for the API tests on the local stack: sending it, a ticket waiting on mail, its Reply-To."""

from __future__ import annotations

import os
import subprocess
import sys
from email import message_from_string
from email.policy import default
from typing import Any

import requests

from local.stack import PROJECT_DIR
from tests.api.support import wait_for


def _desk_mails_to(stack: Any, address: str) -> list[dict[str, Any]]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    raw = data.get("ses", {}).get("RawMessage", [])
    return [m for m in raw if address in " ".join(m.get("destinations", []))]


def send_mail(stack: Any, *arguments: str) -> None:
    environment = {**os.environ, "AWS_PORT": stack.aws.rsplit(":", 1)[1]}
    subprocess.run(
        [sys.executable, "-m", "local.mail", *arguments],
        cwd=PROJECT_DIR,
        env=environment,
        check=True,
        capture_output=True,
        timeout=60,
    )


def call(stack: Any, auth: Any, role: tuple[str, str], method: str, path: str, **kw: Any):
    return requests.request(method, stack.api + path, headers=auth(*role), timeout=30, **kw)


def waiting_ticket(stack: Any, auth: Any, customer: str, address: str) -> str:
    created = call(
        stack,
        auth,
        ("customers", customer),
        "POST",
        "/v1/tickets",
        json={
            "channel": "web",
            "kind": "consultation",
            "category": "card",
            "subject": "Card blocked abroad",
            "contact": {"email": address, "preferred": "email", "locale": "en-US"},
        },
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    agent = ("agents", "agent-mail")
    for body in (
        {"action": "assign"},
        {"action": "start"},
        {"action": "request_info", "message": "Your ID?"},
    ):
        answer = call(stack, auth, agent, "POST", f"/v1/tickets/{ticket_id}/actions", json=body)
        assert answer.status_code == 200, answer.text
    return ticket_id


def _reply_to(stack: Any, address: str) -> str:
    mails = wait_for(lambda: _desk_mails_to(stack, address), timeout=30)
    message = message_from_string(mails[-1]["raw_data"], policy=default)
    reply_to = str(message["Reply-To"])
    assert reply_to.startswith("reply+"), reply_to
    return reply_to


def reply_to_when_asked(stack: Any, address: str) -> str | None:
    """The Reply-To of the desk's emails about the ticket (every one carries the token)."""
    return _reply_to(stack, address) if _desk_mails_to(stack, address) else None

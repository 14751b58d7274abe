"""The scheduled handlers as Lambda invokes them (moto): what a run does near its timeout."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import bootstrap
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import TicketRequest
from chalicelib.handlers.schedules import send_deferred_notifications
from chalicelib.service.ports import DeferredNotification
from chalicelib.service.tickets import StoredResponse, create_ticket
from local.pump import LocalLambdaContext

SCHEDULED = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "account": "123456789012",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "time": "2026-12-06T00:05:00Z",
    "region": "ap-east-1",
    "resources": [],
    "detail": {},
}


class EndingContext(LocalLambdaContext):
    """A Lambda context with `seconds` left before the timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__("send_deferred_notifications")
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def test_a_deferred_run_near_its_timeout_leaves_the_notice_to_the_next_run(aws):
    ports = bootstrap.container().notification_ports()
    request = TicketRequest("web", "consultation", "card", "Card", "", {"phone": "+8613812348000"})
    ticket_id = create_ticket(
        bootstrap.container().ticket_ports(),
        Caller(Role.CUSTOMER, "cust-q"),
        request,
        lambda ticket: StoredResponse(201, ticket.id),
    ).body
    [created] = ports.tickets.events(ticket_id)
    # Held back by quiet hours and due now.
    now = ports.clock()
    assert ports.store.claim_delivery(created.id, now) is not None
    ports.store.settle_delivery(created.id, "deferred", now)
    ports.store.defer(DeferredNotification(created.id, ticket_id, now - timedelta(minutes=1)))

    answer = send_deferred_notifications(SCHEDULED, EndingContext(seconds=3))
    assert answer == {"sent": 0}
    claim = ports.store.delivery(created.id)
    assert claim is not None and claim.state == "deferred"  # not taken: its fate is known

    assert send_deferred_notifications(SCHEDULED, EndingContext(seconds=14)) == {"sent": 1}
    claim = ports.store.delivery(created.id)
    assert claim is not None and claim.state == "sent"

"""SPEC section 9 over HTTP against the local stack: slots, seats under contention, reminders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from chalicelib.domain.calendar import load_calendar
from tests.api.support import fresh_phone, wait_for

URUMQI = "BR-UR-XJR"  # 2 counters, 10:00-18:00 Asia/Urumqi (+06:00)
BEIJING = "BR-BJ-GMW"  # 3 counters, 09:00-17:00 Asia/Shanghai


class Client:
    def __init__(self, stack: Any, group: str, subject: str, token: Callable[..., str]) -> None:
        self.base = stack.api
        self.id = subject
        self.headers = {"Authorization": f"Bearer {token(group, subject)}"}

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.base + path, params=params, headers=self.headers, timeout=60)

    def post(self, path: str, body: Any, **headers: str) -> requests.Response:
        return requests.post(
            self.base + path, json=body, headers={**self.headers, **headers}, timeout=60
        )

    def book(self, branch: str, slot_start: str, **extra: Any) -> requests.Response:
        body = {
            "branch_id": branch,
            "slot_start": slot_start,
            "category": "account",
            "subject": "Open a deposit account",
            **extra,
        }
        return self.post("/v1/appointments", body)

    def act(self, ticket_id: str, action: str, **params: Any) -> requests.Response:
        return self.post(f"/v1/tickets/{ticket_id}/actions", {"action": action, **params})


@pytest.fixture
def who(stack, token) -> Callable[..., Client]:
    def make(group: str = "customers", subject: str | None = None) -> Client:
        return Client(stack, group, subject or f"{group}-{uuid.uuid4().hex[:8]}", token)

    return make


def _today(branch_zone: str) -> date:
    return datetime.now(ZoneInfo(branch_zone)).date()


def _slots(client: Client, branch: str, day: date) -> list[dict[str, Any]]:
    response = client.get(f"/v1/branches/{branch}/slots", date=day.isoformat())
    assert response.status_code == 200, response.text
    return list(response.json())


def _free_slots(client: Client, branch: str, zone: str, count: int) -> list[str]:
    """`count` slot starts nobody has booked yet, on one working day a few days ahead."""
    day = _today(zone) + timedelta(days=2)
    for _ in range(25):
        free = [s["start"] for s in _slots(client, branch, day) if s["available"] == s["capacity"]]
        if len(free) >= count:
            return free[:count]
        day += timedelta(days=1)
    raise AssertionError("no working day with free slots")


def _available(client: Client, branch: str, zone: str, start: str) -> int:
    day = datetime.fromisoformat(start).astimezone(ZoneInfo(zone)).date()
    [slot] = [s for s in _slots(client, branch, day) if s["start"] == start]
    return int(slot["available"])


def _problem(response: requests.Response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = dict(response.json())
    if slug is not None:
        assert body["type"] == slug, body
    return body


def test_branches_and_their_slots(who):
    customer = who()
    branches = customer.get("/v1/branches").json()
    assert {b["id"] for b in branches} >= {URUMQI, BEIJING, "BR-SH-LJZ"}
    assert all(set(b) == {"id", "name", "timezone", "address"} for b in branches)

    day = _today("Asia/Urumqi") + timedelta(days=2)
    while not _slots(customer, URUMQI, day):
        day += timedelta(days=1)
    slots = _slots(customer, URUMQI, day)
    assert len(slots) == 16  # 10:00-18:00 in 30-minute slots
    first = datetime.fromisoformat(slots[0]["start"]).astimezone(ZoneInfo("Asia/Urumqi"))
    assert (first.hour, first.minute) == (10, 0)
    assert all(s["capacity"] == 2 for s in slots)

    sunday = _today("Asia/Urumqi") + timedelta(days=7 + 6 - _today("Asia/Urumqi").weekday())
    assert sunday.weekday() == 6
    worked_in_lieu = load_calendar(years=[sunday.year]).is_working_day(sunday)
    assert bool(_slots(customer, URUMQI, sunday)) == worked_in_lieu
    past = _slots(customer, URUMQI, _today("Asia/Urumqi") - timedelta(days=3))
    assert past == []

    _problem(customer.get(f"/v1/branches/{URUMQI}/slots", date="2026-13-01"), 400)
    assert _problem(customer.get(f"/v1/branches/{URUMQI}/slots"), 400)["errors"][0]["path"] == (
        "date"
    )
    _problem(customer.get("/v1/branches/BR-NOWHERE/slots", date=day.isoformat()), 404)
    _problem(customer.get("/v1/branches/BR-NOWHERE/slots", date="junk"), 404)


def test_a_rush_of_capacity_plus_six_books_exactly_capacity(who):
    [start] = _free_slots(who(), URUMQI, "Asia/Urumqi", 1)
    customers = [who() for _ in range(2 + 6)]
    with ThreadPoolExecutor(max_workers=len(customers)) as pool:
        responses = list(pool.map(lambda c: c.book(URUMQI, start), customers))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 2 + [409] * 6, [r.text for r in responses]
    assert all(r.json()["type"] == "slot-full" for r in responses if r.status_code == 409)
    assert _available(customers[0], URUMQI, "Asia/Urumqi", start) == 0
    booked = [r.json() for r in responses if r.status_code == 201]
    assert all(t["kind"] == "appointment" and t["status"] == "new" for t in booked)
    assert all(t["appointment"]["slot_start"] == start for t in booked)


def _race(
    rival: Client, mover: Client, ticket_id: str, target: str, other: str
) -> list[requests.Response]:
    """At once: a rival books `target`; the mover asks to move to `target` and to `other`."""

    def step(number: int) -> requests.Response:
        if number == 0:
            return rival.book(URUMQI, target)
        slot = target if number == 1 else other
        return mover.act(ticket_id, "reschedule", slot_start=slot)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(step, range(3)))


def test_reschedule_under_contention_never_holds_two_seats_or_none(who):
    zone = "Asia/Urumqi"
    for _ in range(2):
        origin, target, other = _free_slots(who(), URUMQI, zone, 3)
        holder, rival, mover = who(), who(), who()
        assert holder.book(URUMQI, target).status_code == 201  # one seat of two left
        ticket = mover.book(URUMQI, origin).json()

        results = _race(rival, mover, ticket["id"], target, other)
        assert all(r.status_code in (200, 201, 409) for r in results), [r.text for r in results]
        final = mover.get(f"/v1/tickets/{ticket['id']}").json()["appointment"]["slot_start"]
        taken = {s: 2 - _available(mover, URUMQI, zone, s) for s in (origin, target, other)}
        rival_booked = results[0].status_code == 201
        assert taken[origin] == (final == origin)
        assert taken[other] == (final == other)
        assert taken[target] == 1 + (final == target) + rival_booked <= 2


def test_cancel_frees_the_seat(who):
    [start] = _free_slots(who(), URUMQI, "Asia/Urumqi", 1)
    first, second, third = who(), who(), who()
    ticket = first.book(URUMQI, start).json()
    assert second.book(URUMQI, start).status_code == 201
    _problem(third.book(URUMQI, start), 409, "slot-full")
    cancelled = first.act(ticket["id"], "cancel", reason="Cannot come")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert _available(first, URUMQI, "Asia/Urumqi", start) == 1
    assert third.book(URUMQI, start).status_code == 201
    _problem(first.act(ticket["id"], "reschedule", slot_start=start), 409, "illegal-transition")


def _texts_to(stack, number: str) -> list[str]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    messages = data.get("sns", {}).get("SMS", [])
    return [m.get("message") or m.get("Message") or str(m) for m in messages if number in str(m)]


def test_booking_texts_once_then_the_reminder_arrives(stack, who):
    phone = fresh_phone()
    customer = who()
    [start] = _free_slots(customer, BEIJING, "Asia/Shanghai", 1)
    response = customer.book(BEIJING, start, contact={"phone": phone, "locale": "en-US"})
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert response.headers["Location"] == f"/v1/tickets/{ticket['id']}"

    def both() -> list[str] | None:
        texts = _texts_to(stack, phone)
        return texts if any("Reminder" in t for t in texts) else None

    texts = wait_for(both, timeout=30)
    local = datetime.fromisoformat(start).astimezone(ZoneInfo("Asia/Shanghai"))
    booked = [t for t in texts if "Appointment booked" in t]
    assert len(booked) == 1, texts
    assert "Beijing Guomao Branch" in booked[0] and local.strftime("%Y-%m-%d %H:%M") in booked[0]
    assert all(ticket["reference"] in t for t in texts)
    assert len(texts) == 2, texts  # booked and reminded; no "created" message
    timeline = customer.get(f"/v1/tickets/{ticket['id']}/timeline").json()["items"]
    types = [e["type"] for e in timeline]
    assert types.count("appointment.booked") == 1
    assert types.count("appointment.reminded") == 1


def test_rescheduling_texts_the_new_time(stack, who):
    phone = fresh_phone("+86138")
    customer = who()
    first, second = _free_slots(customer, BEIJING, "Asia/Shanghai", 2)
    ticket = customer.book(BEIJING, first, contact={"phone": phone}).json()
    moved = customer.act(ticket["id"], "reschedule", slot_start=second)
    assert moved.status_code == 200, moved.text
    assert moved.json()["appointment"]["slot_start"] == second
    assert moved.json()["version"] == ticket["version"] + 1
    local = datetime.fromisoformat(second).astimezone(ZoneInfo("Asia/Shanghai"))
    wait_for(lambda: any("改至" in t for t in _texts_to(stack, phone)), timeout=30)
    [text] = [t for t in _texts_to(stack, phone) if "改至" in t]
    assert local.strftime("%Y-%m-%d %H:%M") in text and "北京国贸支行" in text
    assert _available(customer, BEIJING, "Asia/Shanghai", first) == 3
    assert _available(customer, BEIJING, "Asia/Shanghai", second) == 2


def test_slot_rules_and_bad_input(who):
    zone = ZoneInfo("Asia/Urumqi")
    customer = who()
    start, later = _free_slots(customer, URUMQI, "Asia/Urumqi", 2)
    moment = datetime.fromisoformat(start)

    other_offset = moment.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()
    ticket = customer.book(URUMQI, other_offset).json()
    assert ticket["appointment"]["slot_start"] == start

    off_boundary = (moment + timedelta(minutes=10)).isoformat()
    assert (
        "boundary"
        in _problem(customer.book(URUMQI, off_boundary), 422, "slot-not-offered")["detail"]
    )
    past = datetime.now(zone).replace(hour=11, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )
    _problem(customer.book(URUMQI, past.isoformat()), 422, "slot-not-offered")
    too_far = moment + timedelta(days=35)
    _problem(customer.book(URUMQI, too_far.isoformat()), 422, "slot-not-offered")
    night = moment.astimezone(zone).replace(hour=20, minute=0)
    _problem(customer.book(URUMQI, night.isoformat()), 422, "slot-not-offered")

    bad = _problem(customer.book(URUMQI, "tomorrow at ten"), 400, "validation-failed")
    assert bad["errors"][0]["path"] == "slot_start"
    _problem(customer.book("BR-NOWHERE", start), 404)
    unknown = _problem(customer.book(URUMQI, later, colour="red"), 400)
    assert unknown["errors"][0]["path"] == "colour"
    staff_only = _problem(customer.book(URUMQI, later, customer_id="someone"), 400)
    assert staff_only["errors"][0]["path"] == "customer_id"
    _problem(who("auditors").book(URUMQI, later), 403)
    _problem(who("agents").book(URUMQI, later), 400)

    ticket_kind = customer.post(
        "/v1/tickets",
        {"channel": "mobile", "kind": "appointment", "category": "account", "subject": "Hi"},
    )
    assert _problem(ticket_kind, 400)["errors"][0]["path"] == "kind"

    stranger = who()
    _problem(stranger.act(ticket["id"], "reschedule", slot_start=later), 404)
    _problem(customer.act(ticket["id"], "reschedule", slot_start=start), 422, "slot-not-offered")
    _problem(customer.act(ticket["id"], "reschedule", slot_start=off_boundary), 422)
    assert customer.get(f"/v1/tickets/{ticket['id']}").json()["version"] == ticket["version"]


def test_at_most_three_open_appointments_and_staff_book_for_customers(who):
    customer = who()
    slots = _free_slots(customer, BEIJING, "Asia/Shanghai", 5)
    for start in slots[:3]:
        assert customer.book(BEIJING, start).status_code == 201
    _problem(customer.book(BEIJING, slots[3]), 409, "too-many-appointments")
    assert _available(customer, BEIJING, "Asia/Shanghai", slots[3]) == 3

    agent = who("agents")
    _problem(agent.book(BEIJING, slots[3], customer_id=customer.id), 409, "too-many-appointments")
    mine = customer.get("/v1/tickets", status="new").json()["items"]
    assert customer.act(mine[0]["id"], "cancel").status_code == 200
    on_behalf = agent.book(BEIJING, slots[4], customer_id=customer.id, channel="branch")
    assert on_behalf.status_code == 201, on_behalf.text
    assert on_behalf.json()["customer_id"] == customer.id
    assert on_behalf.json()["channel"] == "branch"


def test_idempotent_booking_takes_one_seat(who):
    customer = who()
    [start] = _free_slots(customer, BEIJING, "Asia/Shanghai", 1)
    body = {"branch_id": BEIJING, "slot_start": start, "category": "loan", "subject": "Mortgage"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = customer.post("/v1/appointments", body, **key)
    again = customer.post("/v1/appointments", body, **key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert _available(customer, BEIJING, "Asia/Shanghai", start) == 2
    _problem(customer.post("/v1/appointments", {**body, "subject": "Other"}, **key), 422)

"""The container hands each port bundle the parts it names alike, typed as the bundle asks."""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from typing import Any, Union, get_args, get_origin, get_type_hints

import msgspec
import pytest
from chalice.test import Client

import app as application
from chalicelib import bootstrap
from chalicelib.adapters.alerts import SnsOpsAlerter
from chalicelib.config import Settings
from chalicelib.domain.applications import ApplicationType, Catalogue
from chalicelib.service.appointments import AppointmentPorts
from chalicelib.service.documents import DocumentPorts, ObjectStore
from local.token import mint
from tests.document_fakes import InMemoryObjectStore

LOCAL = Settings.from_env({"SERVICEDESK_AUTH_MODE": "local-hs256"})
PARTS = get_type_hints(bootstrap.Container)
CARD = ApplicationType(
    id="test-only-type",
    name={"en-US": "Test", "zh-CN": "测试"},
    category="card",
    risk="low",
    approval="single",
    documents=(),
    form={"type": "object"},
)


def _members(annotation: Any) -> set[Any]:
    union = get_origin(annotation) in (Union, types.UnionType)
    return set(get_args(annotation)) if union else {annotation}


def _fits(given: Any, declared: Any) -> bool:
    """Every type `given` may hold is one `declared` accepts (itself or a subclass)."""
    accepted = _members(declared)
    return all(
        member in accepted
        or any(
            isinstance(member, type) and isinstance(other, type) and issubclass(member, other)
            for other in accepted
        )
        for member in _members(given)
    )


def _handed_over() -> list[tuple[type[msgspec.Struct], str]]:
    """(bundle, part) for every part _parts_for() hands a bundle, building every bundle."""
    handed: list[tuple[type[msgspec.Struct], str]] = []

    class Recording(bootstrap.Container, frozen=True):
        def _parts_for(self, bundle: type[msgspec.Struct], *left_out: str) -> dict[str, Any]:
            parts = super()._parts_for(bundle, *left_out)
            handed.extend((bundle, name) for name in parts)
            return parts

    built = bootstrap.bootstrap(LOCAL)
    recording = Recording(**{part: getattr(built, part) for part in bootstrap.PART_NAMES})
    builders = [name for name in dir(bootstrap.Container) if name.endswith("_ports")]
    for name in builders:
        assert isinstance(getattr(recording, name)(), msgspec.Struct)
    return handed


def test_every_part_handed_over_by_name_has_a_type_its_bundle_accepts():
    handed = _handed_over()
    bundles = {bundle for bundle, _ in handed}
    assert len(bundles) >= 8  # tickets, documents, appointments, notifications, surveys...
    for bundle, name in handed:
        declared = get_type_hints(bundle)[name]
        assert _fits(PARTS[name], declared), f"{bundle.__name__}.{name}: {PARTS[name]}"


def test_a_part_named_alike_but_typed_otherwise_is_caught():
    # Why appointment_ports() leaves `calendar` out; an optional part for a required port.
    assert not _fits(PARTS["calendar"], get_type_hints(AppointmentPorts)["calendar"])
    assert not _fits(ObjectStore | None, get_type_hints(DocumentPorts)["objects"])
    assert _fits(PARTS["alerts"], get_type_hints(DocumentPorts)["alerts"])
    # bootstrap() gives every container its document store and bucket: no None to rule out.
    assert _fits(PARTS["objects"], get_type_hints(DocumentPorts)["objects"])


def test_a_part_left_out_that_the_bundle_does_not_share_fails():
    container = bootstrap.bootstrap(LOCAL)
    with pytest.raises(ValueError, match=r"AppointmentPorts shares no part \['calender'\]"):
        container._parts_for(AppointmentPorts, "calender")


def test_a_part_replaced_in_the_container_reaches_every_bundle_that_names_it():
    alerts = SnsOpsAlerter(object(), "arn:aws:sns:eu-west-1:000000000000:ops")
    container = msgspec.structs.replace(bootstrap.bootstrap(LOCAL), alerts=alerts)
    assert container.reaction_ports().alerts is alerts
    assert container.notification_ports().alerts is alerts
    assert container.document_ports().alerts is alerts
    assert container.document_ports(alerts=False).alerts is None


def test_the_document_bucket_replaced_in_the_container_reaches_the_document_ports():
    objects = InMemoryObjectStore()
    container = msgspec.structs.replace(bootstrap.bootstrap(LOCAL), objects=objects)
    assert container.document_ports().objects is objects
    assert container.inbox_ports().documents is None  # no buckets configured locally


def test_the_catalogue_is_loaded_on_first_use_then_kept():
    loads: list[Catalogue] = []

    def load() -> Catalogue:
        loads.append(Catalogue([CARD]))
        return loads[-1]

    lazy = bootstrap.LazyCatalogue(load)
    assert loads == []  # building the container parses nothing (no jsonschema at start)
    assert lazy.catalogue is lazy.catalogue is loads[0]
    assert len(loads) == 1


def test_bootstrap_leaves_the_catalogue_unparsed_until_asked():
    container = bootstrap.bootstrap(LOCAL)
    assert "catalogue" not in vars(container.applications)
    assert container.applications.catalogue.get("card-limit-increase") is not None


@pytest.fixture
def installed() -> Iterator[Callable[[bootstrap.Container], None]]:
    yield bootstrap.use
    bootstrap.use(None)


def test_the_catalogue_replaced_in_the_container_is_the_one_the_api_serves(installed):
    catalogue = Catalogue([CARD])
    replaced = bootstrap.LazyCatalogue(lambda: catalogue)
    installed(msgspec.structs.replace(bootstrap.bootstrap(LOCAL), applications=replaced))
    with Client(application.app) as client:
        listed = client.http.get("/v1/application-types", headers=_as("customers", "cust-1"))
        created = client.http.post(
            "/v1/tickets",
            headers={**_as("customers", "cust-1"), "Content-Type": "application/json"},
            body=json.dumps(
                {
                    "channel": "mobile",
                    "kind": "application",
                    "subject": "Limit",
                    "application": {"type": "account-closure", "form": {}},
                }
            ).encode(),
        )
    assert listed.status_code == 200, listed.body
    assert [item["id"] for item in json.loads(listed.body)["items"]] == ["test-only-type"]
    # The shipped catalogue's types are unknown to the replaced one: refused before any write.
    assert created.status_code == 400, created.body
    [error] = json.loads(created.body)["errors"]
    assert error == {"path": "application.type", "message": "is not a known application type"}


def _as(group: str, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(group, subject)}"}

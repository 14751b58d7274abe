"""Service applications (SPEC section 11): the catalogue of types, the application a ticket
carries (form, checklist, approval, decision), and how a type sorts the work.

Pure: the catalogue's text and its JSON Schema are handed in; jsonschema is imported by
the first validation, never at import (a cold start that only reads pays nothing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from chalicelib.domain.complaints import (  # one four-eyes problem (403) for both
    FourEyesError as FourEyesError,  # noqa: PLC0414
)
from chalicelib.domain.documents import OTHER, Document, DocumentStatus, newest_first
from chalicelib.domain.errors import ConflictError, FieldError, ValidationError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

RISKS = ("low", "medium", "high")
SINGLE = "single"
DUAL = "dual"
PRIORITIES = ("low", "normal", "high", "urgent")  # ascending
PRIVATE_SEGMENT = "private"
HIGH_RISK_TIER = 2


class CatalogueError(RuntimeError):
    """The application-types file is not a usable catalogue (names the entry)."""


class ChecklistIncompleteError(ConflictError):
    """`approve` while a required document is not accepted (409 checklist-incomplete)."""


class ApprovalPendingError(ConflictError):
    """A change the pending approval freezes (409 approval-pending)."""


class DocumentRequirement(msgspec.Struct, frozen=True):
    type: str
    required: bool
    name: dict[str, str]


class ApplicationType(msgspec.Struct, frozen=True):
    id: str
    name: dict[str, str]
    category: str
    risk: str
    approval: str
    documents: tuple[DocumentRequirement, ...]
    form: dict[str, Any]

    def document_types(self) -> tuple[str, ...]:
        return tuple(requirement.type for requirement in self.documents)

    def view(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class Catalogue:
    """The application types, in the file's order; form validators built on first use."""

    def __init__(self, types: Iterable[ApplicationType]) -> None:
        self._types = {app_type.id: app_type for app_type in types}
        self._validators: dict[str, Validator] = {}

    def __iter__(self) -> Any:
        return iter(self._types.values())

    def get(self, type_id: str) -> ApplicationType | None:
        return self._types.get(type_id)

    def document_name(self, document_type: str) -> dict[str, str] | None:
        for app_type in self._types.values():
            for requirement in app_type.documents:
                if requirement.type == document_type:
                    return requirement.name
        return None

    def form_errors(self, app_type: ApplicationType, form: Any) -> list[FieldError]:
        """Every field of the form off the type's schema, as `application.form.<name>`."""
        validator = self._validators.get(app_type.id)
        if validator is None:
            validator = self._validators[app_type.id] = _form_validator(app_type.form)
        errors = [_form_error(error) for error in validator.iter_errors(form)]
        return sorted(set(errors))


def _form_validator(schema: dict[str, Any]) -> Validator:
    from jsonschema import Draft202012Validator, validators

    def pattern(validator: Any, expected: str, instance: Any, _: Any) -> Any:
        from jsonschema import ValidationError as SchemaError

        if isinstance(instance, str) and not re.search(_ecma(expected), instance):
            yield SchemaError("has an invalid format")

    extended = validators.extend(Draft202012Validator, {"pattern": pattern})  # type: ignore[no-untyped-call]
    return extended(schema)  # type: ignore[no-any-return]


def _ecma(pattern: str) -> str:
    """ECMA-262's `$` is the end of the text; Python's also matches before a final newline."""
    return (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    )


# JSON Schema keyword -> message (api/validation.py adds the request-only keywords).
FORM_MESSAGES = {
    "type": "must be of type {}",
    "enum": "must be one of: {}",
    "minLength": "must have at least {} characters",
    "maxLength": "must have at most {} characters",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "pattern": "has an invalid format",
}


def _form_error(error: Any) -> FieldError:
    path = ".".join(["application.form", *(str(part) for part in error.absolute_path)])
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return FieldError(f"{path}.{missing[0]}" if missing else path, "is required")
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        return FieldError(f"{path}.{extra[0]}" if extra else path, "is not a known field")
    expected = error.validator_value
    if error.validator == "enum":
        expected = ", ".join(str(value) for value in expected)
    template = FORM_MESSAGES.get(str(error.validator), "is not valid")
    return FieldError(path, template.format(expected))


def parse_catalogue(text: str, schema: Mapping[str, Any], source: str) -> Catalogue:
    """The catalogue from its file, checked against its schema, each form schema checked as
    draft 2020-12; the first bad entry raises CatalogueError naming it."""
    from jsonschema import Draft202012Validator, SchemaError

    try:
        document = json.loads(text)
    except ValueError as error:
        raise CatalogueError(f"{source}: not JSON ({error})") from error
    problems = sorted(
        Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path)
    )
    if problems:
        raise CatalogueError(_where(source, document, problems[0]))
    types: list[ApplicationType] = []
    for index, entry in enumerate(document["types"]):
        label = f"{source}: types[{index}] (id {entry['id']!r})"
        try:
            Draft202012Validator.check_schema(entry["form"])
        except SchemaError as error:
            raise CatalogueError(f"{label}: form is not a JSON Schema ({error.message})") from None
        if entry["id"] in {known.id for known in types}:
            raise CatalogueError(f"{label}: the id appears twice")
        documents = [item["type"] for item in entry["documents"]]
        if len(set(documents)) != len(documents):
            raise CatalogueError(f"{label}: a document type appears twice")
        types.append(msgspec.convert(entry, ApplicationType))
    return Catalogue(types)


def _where(source: str, document: Any, error: Any) -> str:
    path = list(error.absolute_path)
    label = source
    if len(path) >= 2 and path[0] == "types" and isinstance(path[1], int):
        entry = document["types"][path[1]]
        named = entry.get("id") if isinstance(entry, dict) else None
        label = f"{source}: types[{path[1]}]" + (f" (id {named!r})" if named else "")
        path = path[2:]
    field = ".".join(str(part) for part in path) or "entry"
    return f"{label}: {field}: {error.message}"


# --- the application a ticket carries ---------------------------------------------------


class ChecklistEntry(msgspec.Struct, frozen=True):
    type: str
    required: bool
    status: str = "missing"  # missing | uploaded | accepted | rejected
    document_id: str | None = None


class PendingApproval(msgspec.Struct, frozen=True):
    at: datetime
    by: str


class Decision(msgspec.Struct, frozen=True):
    outcome: str  # approved | rejected
    reason: str | None
    at: datetime
    maker: str
    checker: str | None = None


class Application(msgspec.Struct, frozen=True):
    type: str | None  # None: a general application (no checklist, single approval)
    risk: str | None
    approval: str
    form: dict[str, Any]
    checklist: tuple[ChecklistEntry, ...] = ()
    pending_approval: PendingApproval | None = None
    decision: Decision | None = None
    # The checklist's document names, so a message can name a type without the catalogue.
    document_names: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)

    @property
    def is_dual(self) -> bool:
        return self.approval == DUAL

    def incomplete(self) -> list[str]:
        """Required document types not accepted yet."""
        return [e.type for e in self.checklist if e.required and e.status != "accepted"]

    def accepts(self, document_type: str) -> bool:
        return document_type == OTHER or any(e.type == document_type for e in self.checklist)


def new_application(app_type: ApplicationType | None, form: Mapping[str, Any]) -> Application:
    if app_type is None:
        return Application(type=None, risk=None, approval=SINGLE, form={})
    return Application(
        type=app_type.id,
        risk=app_type.risk,
        approval=app_type.approval,
        form=dict(form),
        checklist=tuple(ChecklistEntry(req.type, req.required) for req in app_type.documents),
        document_names={req.type: dict(req.name) for req in app_type.documents},
    )


_LANDED = {
    DocumentStatus.AVAILABLE: "uploaded",
    DocumentStatus.ACCEPTED: "accepted",
    DocumentStatus.REJECTED: "rejected",
}


def with_documents(application: Application, documents: list[Document]) -> Application:
    """Each checklist entry follows the newest usable document of its type: `uploaded` when
    available, `accepted`/`rejected` after review; `missing` with none, or only files that
    never landed clean (pending, scanning, rejected_file, infected)."""
    entries = []
    for entry in application.checklist:
        newest = next(
            (
                doc
                for doc in newest_first(documents)
                if doc.type == entry.type and doc.status in _LANDED
            ),
            None,
        )
        if newest is None:
            entries.append(ChecklistEntry(entry.type, entry.required))
        else:
            entries.append(
                ChecklistEntry(entry.type, entry.required, _LANDED[newest.status], newest.id)
            )
    return msgspec.structs.replace(application, checklist=tuple(entries))


def application_view(application: Application, *, for_customer: bool) -> dict[str, Any]:
    """SPEC 11's `application`: customers see no staff ids and `pending_approval` as a bool."""
    pending = application.pending_approval
    decision = application.decision
    view: dict[str, Any] = {
        "type": application.type,
        "risk": application.risk,
        "approval": application.approval,
        "form": dict(application.form),
        "checklist": [msgspec.to_builtins(entry) for entry in application.checklist],
    }
    if for_customer:
        view["pending_approval"] = pending is not None
    else:
        view["pending_approval"] = (
            None if pending is None else {"at": _iso(pending.at), "by": pending.by}
        )
    if decision is None:
        view["decision"] = None
    else:
        shown: dict[str, Any] = {
            "outcome": decision.outcome,
            "reason": decision.reason,
            "at": _iso(decision.at),
        }
        if not for_customer:
            shown["maker"] = decision.maker
            shown["checker"] = decision.checker
        view["decision"] = shown
    return view


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- opening: the request's `application`, and how risk and segment sort the work ------------


def resolve_request(
    catalogue: Catalogue, kind: str, category: str | None, application: Any
) -> tuple[ApplicationType | None, dict[str, Any], str]:
    """The type, the form and the category of a create request; 400 naming each field."""
    if application is None:
        if category is None:
            raise ValidationError([FieldError("category", "is required")])
        return None, {}, category
    if kind != "application":
        raise ValidationError([FieldError("application", "may only be sent with kind application")])
    app_type = catalogue.get(str(application.get("type", "")))
    if app_type is None:
        raise ValidationError([FieldError("application.type", "is not a known application type")])
    errors = catalogue.form_errors(app_type, application.get("form", {}))
    if category is not None and category != app_type.category:
        errors.append(FieldError("category", f"must be {app_type.category} for this type"))
    if errors:
        raise ValidationError(errors)
    return app_type, dict(application.get("form", {})), app_type.category


def sorted_work(
    priority: str, tier: int, application: Application | None, segment: str | None
) -> tuple[str, int]:
    """Priority and tier after risk (high: tier 2, priority at least high) and the customer's
    own `private` segment (one step up, never above urgent)."""
    if application is None:
        return priority, tier
    rank = PRIORITIES.index(priority)
    if application.risk == "high":
        rank = max(rank, PRIORITIES.index("high"))
        tier = max(tier, HIGH_RISK_TIER)
    if segment == PRIVATE_SEGMENT:
        rank = min(rank + 1, len(PRIORITIES) - 1)
    return PRIORITIES[rank], tier

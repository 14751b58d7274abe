"""Random identifiers: ULIDs (time-sortable, 80 random bits) and short references."""

from __future__ import annotations

import secrets

from ulid import ULID

from chalicelib.domain.ids import reference_from_bytes
from chalicelib.service.ports import IdSource


class RandomIdSource(IdSource):
    def ticket_id(self) -> str:
        return f"T-{ULID()}"

    def event_id(self) -> str:
        return f"E-{ULID()}"

    def reference(self) -> str:
        return reference_from_bytes(secrets.token_bytes(5))

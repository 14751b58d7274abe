"""Ops alerts through the SNS topic `ops-alerts` (ops subscribe email/SMS in the console)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.service.ports import OpsAlert, OpsAlerter

_SUBJECT_LIMIT = 100


class SnsOpsAlerter(OpsAlerter):
    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic_arn = topic_arn

    def alert(self, alert: OpsAlert) -> str:
        response = self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=f"servicedesk: {alert.summary}"[:_SUBJECT_LIMIT],
            Message=json.dumps(
                {
                    "alert": alert.kind,
                    "ticket_id": alert.ticket_id,
                    "summary": alert.summary,
                    **alert.details,
                },
                ensure_ascii=False,
            ),
            # Filterable in the console and by subscription filter policies.
            MessageAttributes={
                "alert_type": {"DataType": "String", "StringValue": alert.kind},
                "ticket_id": {"DataType": "String", "StringValue": alert.ticket_id},
                **{
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in alert.details.items()
                    if name in ("metric", "queue", "tier") and value
                },
            },
        )
        return str(response["MessageId"])

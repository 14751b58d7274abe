"""Feeds SQS queues to the Chalice handlers that declare them, as Lambda's event source
mapping does: long-poll a batch, invoke the same handler Lambda runs with Lambda's SQS
event, delete what succeeded. A handler that raises fails the whole batch; one that answers
``{"batchItemFailures": [{"itemIdentifier": <messageId>}]}`` fails only those (Lambda's
ReportBatchItemFailures). A failed message stays in the queue, comes back after the
queue's visibility timeout and, past the RedrivePolicy's maxReceiveCount, moves to the
dead-letter queue: a poison message never blocks the queue.

A handler names its queue by the queue's logical id in infra/template.json:
``@blueprint.on_sqs_message(queue="<LogicalId>", batch_size=N, name="...")``; the merge
template points the deployed event source mapping at the same queue.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from local.pump import LocalLambdaContext

log = logging.getLogger("servicedesk.local.queues")

Handler = Callable[[dict[str, Any], Any], Any]


class UndeclaredQueueError(LookupError):
    """A handler names a queue the template does not declare."""


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueuePump(threading.Thread):
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        *,
        function_name: str,
        batch_size: int = 10,
        wait_seconds: int = 1,
    ) -> None:
        super().__init__(name=f"queue-pump-{function_name}", daemon=True)
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn
        self._handler = handler
        self._function_name = function_name
        self._batch_size = max(1, min(batch_size, 10))
        self._wait = wait_seconds
        self._stopping = threading.Event()
        self.delivered = 0
        self.failed = 0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # the local AWS server went away or hiccuped: keep polling
                log.exception("polling %s failed", self._function_name)
                self._stopping.wait(1.0)

    def poll_once(self) -> int:
        """Receive one batch, hand it to the handler, delete what succeeded; the number of
        messages handled successfully."""
        received = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        failed = self._invoke(received)
        done = [message for message in received if message["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done[start : start + 10])
                ],
            )
        self.delivered += len(done)
        self.failed += len(failed)
        return len(done)

    def _invoke(self, received: list[dict[str, Any]]) -> set[str]:
        region = self._arn.split(":")[3] if self._arn.count(":") >= 5 else ""
        event = sqs_event(received, self._arn, region)
        try:
            answer = self._handler(event, LocalLambdaContext(self._function_name))
        except Exception:
            log.exception("%s failed a batch of %d", self._function_name, len(received))
            return {message["MessageId"] for message in received}
        failures = answer.get("batchItemFailures", []) if isinstance(answer, Mapping) else []
        return {str(failure.get("itemIdentifier")) for failure in failures}


def queue_handlers(app: Any) -> list[Any]:
    """The app's SQS event sources (Chalice's SQSEventConfig)."""
    return [source for source in app.event_sources if type(source).__name__ == "SQSEventConfig"]


def start_queue_pumps(app: Any, sqs: Any, physical: Mapping[str, str]) -> list[QueuePump]:
    """One pump per SQS handler of the app, on the queue its ``queue`` names. Every queue
    is checked before any pump starts, so a bad name leaves nothing running."""
    sources = queue_handlers(app)
    undeclared = [s.name for s in sources if (s.queue or "") not in physical]
    if undeclared:
        raise UndeclaredQueueError(
            f"{', '.join(undeclared)} read queues that infra/template.json does not declare "
            "(name each queue by its logical id)"
        )
    pumps = []
    for source in sources:
        module_name, _, function_name = source.handler_string.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)
        pump = QueuePump(
            sqs,
            physical[source.queue],
            physical[f"{source.queue}.Arn"],
            handler,
            function_name=source.name,
            batch_size=source.batch_size or 10,
        )
        pump.start()
        pumps.append(pump)
    return pumps

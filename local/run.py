"""The local stack behind `make run`: moto server, resources from infra/,
demo branches, `chalice local`, the stream pump and the schedules.

Everything binds to 127.0.0.1. Ctrl-C stops it all.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import requests

from chalicelib.config import DEFAULT_DEV_JWT_SECRET, DEV_JWT_SECRET
from local.stack import RUN_NONCE_HEADER

PROJECT_DIR = Path(__file__).resolve().parent.parent
REGION = "ap-east-1"
log = logging.getLogger("servicedesk.local")


@dataclass(frozen=True)
class LocalPorts:
    api: int
    aws: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api}"

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws}"


def local_environment(ports: LocalPorts) -> dict[str, str]:
    """Environment of the local stack. Credentials are dummies: nothing leaves loopback."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's dummy credentials
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SERVICEDESK_AWS_ENDPOINT_URL": ports.aws_url,
        # moto's Step Functions executor calls back into the server it runs in.
        "MOTO_PORT": str(ports.aws),
        "SERVICEDESK_STAGE": "local",
        "SERVICEDESK_AUTH_MODE": "local-hs256",
        "CORS_ALLOWED_ORIGINS": os.environ.get(
            "CORS_ALLOWED_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000"
        ),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", ports.api_url),
        # Short waits so a person can watch a whole survey in a minute (production: 2 h, 72 h).
        "SURVEY_DELAY_SECONDS": os.environ.get("SURVEY_DELAY_SECONDS", "5"),
        "SURVEY_WINDOW_SECONDS": os.environ.get("SURVEY_WINDOW_SECONDS", "60"),
        # 31 days covers every bookable slot: the reminder follows the booking at once.
        "APPOINTMENT_REMINDER_LEAD_SECONDS": os.environ.get(
            "APPOINTMENT_REMINDER_LEAD_SECONDS", "2678400"
        ),
        # A demo and the API suites text a few numbers hundreds of times a day (deployed: 20).
        "SERVICEDESK_SMS_DAILY_LIMIT_PER_NUMBER": os.environ.get(
            "SERVICEDESK_SMS_DAILY_LIMIT_PER_NUMBER", "1000"
        ),
        "SERVICEDESK_SMS_DAILY_LIMIT_PER_CUSTOMER": os.environ.get(
            "SERVICEDESK_SMS_DAILY_LIMIT_PER_CUSTOMER", "1000"
        ),
        "POWERTOOLS_SERVICE_NAME": "servicedesk-app",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "DOCUMENT_SCANNER": "local-eicar",  # deployed: GuardDuty Malware Protection for S3
    }


class LocalStack:
    """Starts and stops every local part; usable from `make run` and from tests.

    Port 0 means any free port: the stack binds it and keeps it (`ports` then holds the
    bound ones), so no other process can take it between choosing and serving."""

    def __init__(self, ports: LocalPorts, schedule_interval: float = 5.0) -> None:
        self.ports = ports
        self.schedule_interval = schedule_interval
        self.resources: dict[str, Any] = {}
        self._moto: Any = None
        self._api: subprocess.Popen[bytes] | None = None
        self._pump: Any = None
        self._queue_pumps: list[Any] = []
        self._stopping = threading.Event()
        self._api_socket: socket.socket | None = None
        self.nonce = os.environ.get("SERVICEDESK_RUN_NONCE") or uuid.uuid4().hex

    def start(self) -> None:
        if self.ports.aws:
            _ensure_free(self.ports.aws)  # moto's server thread would hang on a taken port
        self._api_socket = _listen(self.ports.api)
        self._start_moto()
        self.ports = LocalPorts(api=self._api_socket.getsockname()[1], aws=self._moto_port())
        os.environ.update(local_environment(self.ports))
        os.environ["SERVICEDESK_RUN_NONCE"] = self.nonce
        _check_data_files()
        self._configure_moto()
        self.resources = self._create_resources()
        os.environ.update(
            {
                "TABLE_NAME": self.resources["table_name"],
                "OPS_ALERTS_TOPIC_ARN": self.resources["ops_alerts_topic_arn"],
                "SURVEY_STATE_MACHINE_ARN": self.resources["survey_state_machine_arn"],
                "SERVICEDESK_EMAIL_SENDER": self.resources["email_sender"],
                "SES_REGION": self.resources["ses_region"],
                "SERVICEDESK_CURSOR_SECRET_ARN": self.resources["cursor_secret_arn"],
                "DOCUMENTS_BUCKET": self.resources["physical"]["Documents"],
                "SERVICEDESK_REPLY_TOKEN_SECRET_ARN": self.resources["physical"]["ReplyTokenKey"],
                "SERVICEDESK_INBOUND_MAIL_DOMAIN": os.environ.get(
                    "SERVICEDESK_INBOUND_MAIL_DOMAIN", "reply.servicedesk.bank.example"
                ),
                "SERVICEDESK_EVENT_BUS_NAME": self.resources["physical"]["EventBus"],
                "INBOUND_MAIL_BUCKET": self.resources["physical"]["InboundMailBucket"],
            }
        )
        self._seed()
        self._start_api()
        self._start_pump()
        self._start_queue_pumps()
        self._start_schedules()
        self._wait_until_healthy()

    def write_ports(self, path: Path) -> None:
        """The bound ports and the run's nonce as JSON, whole or not at all (for a harness)."""
        partial = path.with_name(path.name + ".partial")
        partial.write_text(
            json.dumps({"api": self.ports.api, "aws": self.ports.aws, "nonce": self.nonce})
        )
        partial.replace(path)

    def stop(self) -> None:
        self._stopping.set()
        if self._api_socket is not None:
            self._api_socket.close()
        if self._pump is not None:
            self._pump.stop()
        for pump in self._queue_pumps:
            pump.stop()
        if self._api is not None and self._api.poll() is None:
            self._api.terminate()
            try:
                self._api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._api.kill()
        if self._moto is not None:
            self._moto.stop()

    def wait(self) -> int:
        assert self._api is not None
        return self._api.wait()

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        from local.moto_fidelity import make_moto_faithful

        make_moto_faithful()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.ports.aws, verbose=False)
        self._moto.start()

    def _moto_port(self) -> int:
        return int(self._moto.get_host_and_port()[1])

    def _configure_moto(self) -> None:
        requests.post(
            f"{self.ports.aws_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()

    def _client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.ports.aws_url, region_name=REGION)

    def _create_resources(self) -> dict[str, Any]:
        from local.resources import create_resources

        return create_resources(endpoint_url=self.ports.aws_url, region=REGION)

    def _seed(self) -> None:
        from local.seed import seed_branches

        seed_branches(self._client("dynamodb"), self.resources["table_name"])

    def _start_api(self) -> None:
        assert self._api_socket is not None
        listening = self._api_socket.fileno()
        self._api = subprocess.Popen(
            [sys.executable, "-m", "local.api_server", "--listen-fd", str(listening)],
            cwd=PROJECT_DIR,
            env=dict(os.environ),
            pass_fds=(listening,),
        )
        self._api_socket.close()  # the API process serves it now

    def _start_pump(self) -> None:
        from chalicelib.handlers.stream import on_table_change
        from local.pump import StreamPump
        from local.stream_filter import template_filter

        queue_url = self.resources.get("stream_failures_queue_url")
        self._pump = StreamPump(
            self._client("dynamodbstreams"),
            self.resources["stream_arn"],
            on_table_change,
            failures_queue=(self._client("sqs"), queue_url) if queue_url else None,
            ops_alerts=(self._client("sns"), self.resources["ops_alerts_topic_arn"]),
            record_filter=template_filter(),
        )
        self._pump.start()

    def _start_queue_pumps(self) -> None:
        """Every `on_sqs_message` handler reads its queue, as Lambda's event source mapping."""
        from app import app
        from local.queues import start_queue_pumps

        self._queue_pumps = start_queue_pumps(app, self._client("sqs"), self.resources["physical"])

    def _start_schedules(self) -> None:
        from app import app

        handlers = [
            source
            for source in app.event_sources
            if type(source).__name__ == "ScheduledEventConfig"
        ]
        if handlers:
            threading.Thread(target=self._run_schedules, args=(handlers,), daemon=True).start()

    def _run_schedules(self, sources: list[Any]) -> None:
        import importlib

        from local.pump import LocalLambdaContext

        while not self._stopping.wait(self.schedule_interval):
            for source in sources:
                module_name, _, function_name = source.handler_string.rpartition(".")
                handler = getattr(importlib.import_module(module_name), function_name)
                try:
                    handler(_scheduled_event(), LocalLambdaContext(source.name))
                except Exception:
                    log.exception("schedule %s failed", source.name)

    def _wait_until_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._api is not None and self._api.poll() is not None:
                raise RuntimeError("the API process exited during start-up")
            try:
                health = requests.get(f"{self.ports.api_url}/v1/health", timeout=1)
                if health.status_code == 200 and health.headers.get(RUN_NONCE_HEADER) == self.nonce:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("the API did not become healthy in time")


def _check_data_files() -> None:
    """A bad calendar or policy file stops `make run` now, naming the line,
    instead of failing in a sweep later."""
    from chalicelib import bootstrap

    rules = bootstrap.load_sla_rules(bootstrap.LazyCalendar(bootstrap.utc_now))
    rules.calendar.add_working_time(bootstrap.utc_now(), timedelta(minutes=1))
    bootstrap.load_application_catalogue()
    bootstrap.load_complaint_codes()


class PortInUseError(RuntimeError):
    pass


def _listen(port: int) -> socket.socket:
    """A listening loopback socket on `port` (0: any free one), for the API process."""
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("127.0.0.1", port))
    except OSError as error:
        listening.close()
        raise PortInUseError(
            f"port {port} is in use; stop what holds it or set API_PORT / AWS_PORT"
        ) from error
    listening.listen(128)
    listening.set_inheritable(True)
    return listening


def _ensure_free(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise PortInUseError(
                f"port {port} is in use; stop what holds it or set API_PORT / AWS_PORT"
            ) from error


def _scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "account": "123456789012",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


def _dev_secret() -> str:
    """The local-only HS256 secret (SPEC 3: printed by `make run`; a deployed stage
    refuses HS256 whatever it is)."""
    return os.environ.get(DEV_JWT_SECRET, DEFAULT_DEV_JWT_SECRET)


def _banner(stack: LocalStack) -> str:
    api = stack.ports.api_url
    return f"""
servicedesk is running (Ctrl-C stops everything)

  API           {api}/v1/health      OpenAPI: {api}/v1/openapi.json
  local AWS     {stack.ports.aws_url}/moto-api/   (sent SMS: /moto-api/data.json)
  table         {stack.resources["table_name"]}

Mint a token (groups: customers, agents, supervisors, auditors):
  TOKEN=$(.venv/bin/python -m local.token customers cust-1001)
  (HS256, signed with the local-only SERVICEDESK_DEV_JWT_SECRET: {_dev_secret()})

Open a ticket:
  curl -s -X POST {api}/v1/tickets -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' \\
    -d '{{"channel":"mobile","kind":"consultation","category":"card",
         "subject":"Card blocked abroad"}}'
"""


_MOTO_ASL_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


def _designed_timeout_filter(record: logging.LogRecord) -> bool:
    """moto logs every task timeout as an ERROR, with the whole state's repr; the survey's
    Invite and Remind tasks end by `States.Timeout` by design (the window passed: Catch ->
    Remind or Expire), so those lines would bury real errors. Other errors still show."""
    return "Error=States.Timeout" not in record.getMessage()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # moto's HTTP access log would print every stream poll; keep the terminal for our logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger(_MOTO_ASL_LOGGER).addFilter(_designed_timeout_filter)
    ports = LocalPorts(
        api=int(os.environ.get("API_PORT", "8000")), aws=int(os.environ.get("AWS_PORT", "5000"))
    )
    stack = LocalStack(ports, float(os.environ.get("SCHEDULE_INTERVAL_SECONDS", "5")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # Ctrl-C, even if started with it ignored
    # `kill -USR1 <pid>` prints every thread's stack: how to see what a stuck stack waits on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        stack.start()
        if ports_file := os.environ.get("SERVICEDESK_PORTS_FILE"):
            stack.write_ports(Path(ports_file))
        print(_banner(stack), flush=True)
        stack.wait()
    except PortInUseError as error:
        print(f"servicedesk: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

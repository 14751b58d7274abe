"""JSON logs (one object per line) through Powertools; never personal data."""

from __future__ import annotations

from aws_lambda_powertools import Logger

# Not "servicedesk": that is the Chalice app's own logger, which Chalice pins at ERROR.
logger = Logger(service="servicedesk-app")

"""JSON logs (one object per line) through Powertools; never personal data."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="servicedesk")

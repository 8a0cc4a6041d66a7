"""Structured logs and EMF metrics (Powertools), one logger and one metrics buffer per container."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from handlers.contract.conventions import METRICS_NAMESPACE, SERVICE

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

"""Ops metrics as CloudWatch Embedded Metric Format lines (Powertools), no API call.

Lambda's log agent turns each EMF line in the function's output into a metric in
the `Servicedesk` namespace; the dashboard and alarms in infra/template.json read them.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.service.ports import MetricsSink

NAMESPACE = "Servicedesk"


class EmfMetrics(MetricsSink):
    def __init__(self, service: str = "servicedesk") -> None:
        self._service = service

    def count(self, name: str, dimensions: Mapping[str, str], value: float = 1.0) -> None:
        # Imported on first use: the API's cold start never pays for it.
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        unit = MetricUnit.NoUnit if name == "CsatScore" else MetricUnit.Count
        with single_metric(
            name=name,
            unit=unit,
            value=value,
            namespace=NAMESPACE,
            default_dimensions={"service": self._service},
        ) as metric:
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)

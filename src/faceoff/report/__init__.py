"""The HTML report that gathers every family's tables, figures and videos."""

from faceoff.report.html import write_report

__all__ = ["write_report"]

"""Complaint-ready evidence packages (``call-evidence report``).

``data`` reads what a report covers from the database; ``build`` assembles the
package (HTML and PDF report, clips, transcripts, originals, complaint drafts,
manifest); the other modules each render one part.
"""

from .batch import BatchResult, build_reports
from .build import ReportOptions, ReportResult, build_report
from .data import ReportError, Scope

__all__ = ["BatchResult", "ReportError", "ReportOptions", "ReportResult", "Scope", "build_report",
           "build_reports"]

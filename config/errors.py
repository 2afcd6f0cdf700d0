"""The one exception tree of pelvic-outcomes.

::

    PelvicOutcomesError
    ├── ConfigError          a setting is missing or wrong; names the field and the fix
    │   └── UsageError       a command-line argument is wrong; names the argument
    ├── FhirError            talking to a FHIR server failed
    │   ├── FhirHTTPError    the server answered with an error status (carries url, status)
    │   └── FhirTimeout      no answer within the configured timeout (carries url)
    ├── MappingError         the raw snapshot cannot be turned into a cohort at all
    ├── AnalysisError        an analysis cannot run
    ├── ReportError          rendering the report failed
    ├── DeliveryError        sending email failed
    ├── QualityGateError     the data tripped a data-quality gate; nothing is published or sent
    ├── StorageError         a file or folder could not be written or read (disk full, permissions)
    └── RunLockedError       another run holds the lock

Messages carry what a user needs (URL, status, field name), never a patient identifier.
Library errors are converted to these where the library is called (``raise Ours(...) from exc``);
these become exit codes and one-line messages only in ``service.cli``.
"""

from __future__ import annotations


class PelvicOutcomesError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code = 1


class ConfigError(PelvicOutcomesError):
    """A configuration value is missing or invalid."""

    exit_code = 2

    def __init__(self, field: str, problem: str, fix: str = "") -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        message = f"config field '{field}': {problem}"
        if fix:
            message += f" (fix: {fix})"
        super().__init__(message)


class UsageError(ConfigError):
    """A command-line argument is wrong: worded as argparse words its own errors."""

    def __init__(self, argument: str, problem: str, fix: str = "") -> None:
        super().__init__(argument, problem, fix)
        message = f"argument {argument}: {problem}"
        if fix:
            message += f" ({fix})"
        self.args = (message,)


class FhirError(PelvicOutcomesError):
    """Extraction from a FHIR server or from files failed."""

    exit_code = 3

    def __init__(self, message: str, url: str | None = None) -> None:
        self.url = url
        super().__init__(f"{message} [{url}]" if url else message)


class FhirHTTPError(FhirError):
    """The FHIR server answered with an error status."""

    def __init__(self, message: str, url: str, status: int) -> None:
        self.status = status
        super().__init__(f"{message} (HTTP {status})", url)


class FhirTimeout(FhirError):
    """The FHIR server did not answer within the timeout."""


class MappingError(PelvicOutcomesError):
    """The raw snapshot cannot be mapped to a cohort."""

    exit_code = 4


class AnalysisError(PelvicOutcomesError):
    """An analysis cannot be run on the cohort."""

    exit_code = 5


class ReportError(PelvicOutcomesError):
    """Rendering the report failed."""

    exit_code = 6


class DeliveryError(PelvicOutcomesError):
    """Email delivery failed."""

    exit_code = 7


class QualityGateError(PelvicOutcomesError):
    """The data tripped a data-quality gate of the study definition."""

    exit_code = 8


class StorageError(PelvicOutcomesError):
    """A file or folder of the service could not be written or read (disk full, permission denied)."""

    exit_code = 74  # EX_IOERR

    def __init__(self, action: str, path: object, exc: OSError) -> None:
        self.path = str(path)
        self.errno = exc.errno
        super().__init__(f"cannot {action} {path}: {exc.strerror or exc}")


class RunLockedError(PelvicOutcomesError):
    """Another run is in progress."""

    exit_code = 75  # EX_TEMPFAIL

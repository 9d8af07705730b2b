"""Every error stepstone raises on purpose.

Library code raises these; only the command line turns them into a one-line
message and an exit code. Each message says what went wrong and what to do next.

    StepstoneError
    ├── UsageError            bad input from the user (a flag, a value, a file)
    │   ├── ConfigError       a config that does not load, resolve or verify
    │   ├── RuleError         a decision rule that does not parse (carries the position)
    │   └── MetricValueError  a value that cannot be logged as a metric
    ├── NotFoundError         an unknown run, question, baseline, idea or page
    ├── LabError              no lab here, or a lab that cannot be opened or written
    │   ├── SchemaVersionError  the lab's schema and this client disagree
    │   └── StoreUnreachableError  a team store that does not answer
    ├── MethodError           an action the method forbids (promote an unanswered question)
    └── AnalysisError         input the analysis refuses (too few points, degenerate data)
"""

from __future__ import annotations


class StepstoneError(Exception):
    """Base class of every error stepstone raises on purpose."""


class UsageError(StepstoneError):
    """Bad input from the user."""


class ConfigError(UsageError):
    """A config that does not load, resolve or verify."""


class RuleError(UsageError):
    """A decision rule that does not parse; ``position`` is the 0-based offset of the error."""

    def __init__(self, message: str, rule: str = "", position: int = -1) -> None:
        self.rule = rule
        self.position = position
        if rule and position >= 0:
            quoted = repr(rule)  # the caret sits under the rule, on lines of their own
            offset = len(repr(rule[:position])) - 1
            message = f"{message} at position {position}:\n  {quoted}\n  {' ' * offset}^"
        super().__init__(message)


class MetricValueError(UsageError):
    """A value that cannot be logged as a metric."""


class NotFoundError(StepstoneError):
    """An unknown run, question, baseline, idea or notebook page."""


class LabError(StepstoneError):
    """No lab here, or a lab that cannot be opened or written."""


class SchemaVersionError(LabError):
    """The lab's schema version and this client's disagree."""


class StoreUnreachableError(LabError):
    """A team store that cannot be reached: the server is down, the network is gone, or the
    login is refused. The SDK records into a local lab instead (see ``offline_target``)."""


class MethodError(StepstoneError):
    """An action the research method forbids."""


class AnalysisError(StepstoneError):
    """Input the analysis refuses: too few points, degenerate or non-finite data."""

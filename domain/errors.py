"""Domain errors, each named after the problem and phrased for a case worker.

Every error carries a stable ``rule`` code (used in problem+json ``type`` URIs and
by clients) and, where one input is at fault, the ``field`` it concerns. Messages
never contain personal data: they name fields and rules, not values.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a request that the domain refuses."""

    rule: str = "domain-error"

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if rule is not None:
            self.rule = rule


class InvalidInputError(DomainError):
    """The input itself is malformed or unknown (HTTP 422)."""

    rule = "invalid-input"


class RuleViolationError(DomainError):
    """The input is well-formed but the participant's journey forbids it (HTTP 409)."""

    rule = "rule-violated"


class ParticipantNotFoundError(DomainError):
    """No such participant, or not one the caller may see (HTTP 404)."""

    rule = "participant-not-found"


class CourseNotFoundError(DomainError):
    """No such course (or session), or not one the caller may see (HTTP 404)."""

    rule = "course-not-found"


class ReferralNotFoundError(DomainError):
    """No such referral of this participant (HTTP 404)."""

    rule = "referral-not-found"


class UserNotFoundError(DomainError):
    """No such user in the directory, or not one the caller administers (HTTP 404)."""

    rule = "user-not-found"


class VersionConflictError(DomainError):
    """The caller's expected version is stale (HTTP 412)."""

    rule = "version-conflict"


class AccessDeniedError(DomainError):
    """The caller's role may not do this (HTTP 403)."""

    rule = "forbidden"


class ConfigurationError(Exception):
    """A configuration file is missing, malformed or inconsistent."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))

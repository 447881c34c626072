"""Exceptions of farmtrace.trace: one root, a few kinds callers may want to tell apart.

Input from people and scanners (GTINs, Digital Link URIs, typed serials) raises an
InvalidInput subclass where it is parsed, so no ValueError leaks out of this package.
The web layer maps InvalidInput to 400/422 and shows `message`; `field` names the input.
"""

from __future__ import annotations


class TraceError(Exception):
    """Root of every error raised by farmtrace.trace."""


class InvalidInput(TraceError):
    """A user-facing validation error: `field` names the input, `message` says why.

    The message names the value, what was expected and what was found, so it can be
    shown to the person who typed or scanned it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Gs1KeyError(InvalidInput):
    """A GS1 numeric key (GTIN, GLN, SSCC) has the wrong length, a non-digit or a bad check digit."""


class GtinError(Gs1KeyError):
    """A GTIN is malformed."""


class Gs1ValueError(InvalidInput):
    """An AI value (lot, serial, ...) is outside its GS1 character set or length."""


class DigitalLinkError(InvalidInput):
    """A GS1 Digital Link URI (or our short URI) is malformed or breaks a GS1 rule."""


class SerialError(InvalidInput):
    """A code serial was refused; see the two subclasses."""


class SerialTypo(SerialError):
    """The serial is malformed or its check character fails: almost certainly mistyped.

    Detected without the server key and before any lookup.
    """


class SerialForged(SerialError):
    """The serial is well formed but is not one we issued (its MAC does not verify).

    The message is the same whatever part failed, so it tells a forger nothing.
    """


class EpcisInputError(InvalidInput):
    """An EPCIS event cannot be built or hashed as given: `field` names the EPCIS field."""


class EventHashMismatch(TraceError):
    """An EPCIS event's eventID is not the EPCIS Event Hash ID of its own content."""


class SchemaInvalid(InvalidInput):
    """A payload broke its event schema; `errors` maps every offending field to its reason.

    `field` and `message` name the first of them (in field order), so a caller that shows
    one line shows the most useful one; the API can list them all.
    """

    def __init__(self, field: str, message: str, errors: dict[str, str]) -> None:
        super().__init__(field, message)
        self.errors = errors


class NotFound(InvalidInput):
    """The input names an organisation, place, product, batch or recall that does not exist."""


class RuleViolation(InvalidInput):
    """A traceability rule refused the event; nothing was recorded. `rule` is a stable code."""

    def __init__(self, field: str, message: str, rule: str) -> None:
        super().__init__(field, message)
        self.rule = rule


class NotPermitted(RuleViolation):
    """The acting organisation may not record this (wrong kind, not the owner or custodian)."""


class AuthenticationFailed(TraceError):
    """A user name and password, or an API token, did not authenticate. Says nothing more."""

"""The one exception root of farmtrace.printer, and its subclasses.

Messages name the input, what was expected and what was found, so an operator at a packing
station can act on them without reading code.
"""

from __future__ import annotations


class PrinterError(Exception):
    """Root of every error raised by farmtrace.printer."""


class LabelDataError(PrinterError):
    """A LabelData field is missing, of the wrong type, or unusable."""


class LayoutError(PrinterError):
    """A layout is unknown, or a label's content cannot be placed on it."""


class QRFitError(LayoutError):
    """The QR for a URI cannot be printed on a layout at a reliable module size."""


class TextFitError(LayoutError):
    """A text field is too long for its box even at the smallest legible size."""


class CharacterError(PrinterError):
    """A text contains a character the label font (or the printer's resident font) lacks."""


class RenderError(PrinterError):
    """A renderer was given options it cannot honour."""


class TransportError(PrinterError):
    """Bytes could not be delivered to a printer, spool directory or print queue."""

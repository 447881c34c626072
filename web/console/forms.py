"""Forms from the domain's marshmallow schemas: plain functions, not a framework.

`describe(schema)` lists a schema's fields as `Field`s (label, widget, choices, required);
`payload(fields, form)` turns what the browser posted into the payload the domain service
validates with that same schema; `errors_from(exc, fields)` turns the domain's
SchemaInvalid / InvalidInput back into a message next to each field; `bind(fields, form,
errors)` puts what the person typed back into the fields, so nothing is lost on an error.
The template macro console/_macros.html renders a list of Fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import Schema, fields, validate
from werkzeug.datastructures import MultiDict

from farmtrace.trace.errors import InvalidInput, SchemaInvalid
from farmtrace.trace.events.fields import Day as DayField
from farmtrace.trace.events.fields import DecimalText, Flag, Moment, Text, WholeNumber
from farmtrace.web.i18n import MESSAGES, translate

# The counties farmtrace serves keep China Standard Time; a browser's datetime-local field
# sends no offset, so the console adds this one.
CST = timezone(timedelta(hours=8))
TEXTAREA_FROM = 300  # Text fields this long or longer are a textarea
_WHOLE = re.compile(r"-?\d{1,12}\Z")
_FIELD_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]-]*: ")
_ITEM = re.compile(r"([a-z_]+)-(\d+)(?:-[a-z_]+)?\Z")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    widget: str  # text textarea decimal number select checkbox checkboxes date datetime password file hidden
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    value: str = ""
    values: tuple[str, ...] = ()  # checked boxes of a `checkboxes` field
    error: str | None = None
    help: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    scan: bool = False  # offer the camera (static/scan.js) beside this input

    @property
    def input_id(self) -> str:
        return "f-" + self.name


def label(name: str) -> str:
    key = f"field.{name}"
    return translate(key) if key in MESSAGES["zh"] else name


def choice_label(value: str) -> str:
    """A value's name in the page's language; English shows values it has no name for as they are."""
    from flask import g

    key = f"choice.{value}"
    locale = g.get("locale", "zh")
    return MESSAGES.get(locale, {}).get(key) or (MESSAGES["zh"].get(key, value) if locale == "zh" else value)


def choices(values: Iterable[str], labels: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    return tuple((v, (labels or {}).get(v) or choice_label(v)) for v in values)


def describe(
    schema: Schema,
    names: Sequence[str] | None = None,
    *,
    exclude: Sequence[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Field]:
    """The schema's fields (in `names` order, or the schema's) as Fields; nested ones are left to the caller."""
    wanted = list(names) if names is not None else list(schema.fields)
    out: list[Field] = []
    for name in wanted:
        if name in exclude:
            continue
        declared = schema.fields.get(name)
        field = _field_of(name, declared) if declared is not None else Field(name, label(name), "text")
        if field is None:
            continue
        extra = dict((overrides or {}).get(name, {}))
        if "choices" in extra and "widget" not in extra and field.widget == "text":
            extra["widget"] = "select"  # an id field offered as a list (products, places)
        out.append(replace(field, **extra))
    return out


def _field_of(name: str, declared: fields.Field) -> Field | None:
    required = bool(declared.required)
    base = Field(name, label(name), "text", required=required)
    if isinstance(declared, fields.Nested | fields.Dict):
        return None
    if isinstance(declared, fields.List):
        inner = declared.inner
        if isinstance(inner, fields.Nested):
            return None
        options = _one_of(inner)
        return replace(base, widget="checkboxes", choices=choices(options or ()))
    options = _one_of(declared)
    if options is not None:
        return replace(base, widget="select", choices=choices(options))
    if isinstance(declared, Text):
        widget = "textarea" if declared.max_length >= TEXTAREA_FROM else "text"
        return replace(base, widget=widget, max_length=declared.max_length)
    if isinstance(declared, WholeNumber):
        return replace(base, widget="number", minimum=declared.minimum, maximum=declared.maximum)
    if isinstance(declared, DecimalText):
        return replace(base, widget="decimal")
    if isinstance(declared, Moment):
        return replace(base, widget="datetime")
    if isinstance(declared, DayField):
        return replace(base, widget="date")
    if isinstance(declared, Flag):
        return replace(base, widget="checkbox")
    return base


def _one_of(declared: fields.Field) -> tuple[str, ...] | None:
    for validator in getattr(declared, "validators", ()):
        if isinstance(validator, validate.OneOf):
            return tuple(str(c) for c in validator.choices)
    return None


# -- from the browser to the domain ---------------------------------------------------------


def local_moment(raw: str) -> str:
    """A datetime-local value ("2026-06-04T08:00") as RFC 3339 in China Standard Time.

    Anything that does not parse is passed on as typed, for the schema to refuse by name.
    """
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return raw
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    return moment.isoformat()


def local_input_value(moment: datetime) -> str:
    """The value a datetime-local input shows for `moment` (in China Standard Time)."""
    return moment.astimezone(CST).strftime("%Y-%m-%dT%H:%M")


def payload(form_fields: Sequence[Field], form: MultiDict[str, str]) -> dict[str, Any]:
    """The posted values of `form_fields`, typed as the schema expects; blank fields are left out."""
    out: dict[str, Any] = {}
    for field in form_fields:
        if field.widget in ("file", "hidden") and field.name not in form:
            continue
        if field.widget == "checkboxes":
            values = [v for v in form.getlist(field.name) if v]
            if values:
                out[field.name] = values
            continue
        if field.widget == "checkbox":
            if form.get(field.name) in ("on", "1", "true", "yes"):
                out[field.name] = True
            continue
        raw = form.get(field.name, "")
        if raw.strip() == "":
            continue
        if field.widget == "number":
            out[field.name] = int(raw.strip()) if _WHOLE.match(raw.strip()) else raw
        elif field.widget == "datetime":
            out[field.name] = local_moment(raw)
        elif field.widget in ("decimal", "select", "date"):
            out[field.name] = raw.strip()
        else:
            out[field.name] = raw
    return out


def bind(
    form_fields: Sequence[Field],
    form: Mapping[str, Any] | MultiDict[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[Field]:
    """The fields with the values typed (or defaults) and each one's error."""
    form = form or {}
    errors = errors or {}
    out = []
    for field in form_fields:
        if field.widget == "checkboxes":
            if isinstance(form, MultiDict):
                values = tuple(form.getlist(field.name))
            else:
                given = form.get(field.name, ())
                values = tuple(given) if isinstance(given, list | tuple) else (str(given),)
            bound = replace(field, values=values or field.values)
        elif field.widget == "password" or field.widget == "file":
            bound = field  # never echoed back
        else:
            value = form.get(field.name)
            bound = replace(field, value=field.value if value is None else str(value))
        out.append(replace(bound, error=errors.get(field.name, bound.error)))
    return out


# -- from the domain's errors back to the fields ----------------------------------------------

# The commonest reasons, in Chinese; the others are shown as the domain words them.
_REASONS_ZH = {
    "is required": "必填",
    "must not be empty": "不能为空",
    "is required for a pesticide": "农药必须填写此项",
    "is not a known field": "不是可填写的项",
}


def reason_text(reason: str) -> str:
    from flask import g

    if g.get("locale", "zh") == "zh":
        return _REASONS_ZH.get(reason, reason)
    return reason


def field_name(path: str, prefix: str) -> str:
    """ "payload.results[0].unit" -> "results-0-unit" (the form's input name)."""
    name = path[len(prefix) + 1 :] if prefix and path.startswith(prefix + ".") else path
    return name.replace("].", "-").replace("[", "-").replace("]", "").replace(".", "-")


def errors_from(
    exc: InvalidInput, names: Iterable[str], prefix: str = "payload", rename: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """(errors by form field, errors that belong to no field) from a domain refusal."""
    known = set(names)
    if isinstance(exc, SchemaInvalid):
        items = list(exc.errors.items())
    else:
        items = [(exc.field, strip_field(exc.message))]
    by_field: dict[str, str] = {}
    general: list[str] = []
    for path, reason in items:
        name = field_name(path, prefix)
        name = (rename or {}).get(name, name)
        item = _ITEM.match(name)
        if name in known:
            by_field.setdefault(name, reason_text(reason))
        elif item is not None and item.group(1) in known:
            # A list typed as lines (temperature readings): name the line.
            line = translate("form.line", n=int(item.group(2)) + 1)
            by_field.setdefault(item.group(1), f"{line}{reason_text(reason)}")
        else:
            shown = label(name) if name and name != prefix else ""
            general.append(f"{shown}：{reason_text(reason)}" if shown else reason_text(reason))
    return by_field, general


def strip_field(message: str) -> str:
    """ "payload.dose: must be ..." -> "must be ..."."""
    match = _FIELD_PREFIX.match(message)
    return message[match.end() :] if match else message

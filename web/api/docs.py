"""A readable reference page rendered on the server from the OpenAPI document.

No script and no third-party origin (flask-smorest's Swagger UI and ReDoc pages load from
CDNs, which our CSP refuses and rural networks may not reach): one HTML page, every
value escaped by Jinja's autoescaping, one style sheet from our own origin.
"""

from __future__ import annotations

from typing import Any

from flask import render_template_string

from farmtrace.web.problems import PROBLEM_TYPES

METHODS = ("get", "post", "put", "patch", "delete")

DOCS_CSS = """\
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #1b1b1b; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 2px solid #2f6f3e; padding-bottom: .2rem; margin-top: 2.5rem; }
code, .path { font-family: ui-monospace, monospace; font-size: 90%; }
.op { border: 1px solid #ccc; border-radius: 4px; margin: 1rem 0; padding: .5rem 1rem; }
.method { display: inline-block; min-width: 4rem; font-weight: bold; text-transform: uppercase; }
.get { color: #1f5f99; } .post { color: #2f6f3e; } .delete { color: #a33; } .put, .patch { color: #8a5a00; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f5f3; }
.scope { background: #eef4ee; border-radius: 3px; padding: 0 .3rem; }
nav ul { columns: 2; }
"""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ info.title }} {{ info.version }}</title>
<link rel="stylesheet" href="/api/v1/docs.css">
</head>
<body>
<h1>{{ info.title }} <small>{{ info.version }}</small></h1>
<p>{{ info.description }}</p>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI {{ openapi }}).</p>
<nav><h2>Contents</h2><ul>
{% for group in groups %}<li><a href="#tag-{{ group.name }}">{{ group.name }}</a></li>{% endfor %}
<li><a href="#authentication">Authentication and scopes</a></li>
<li><a href="#problems">Problem types</a></li>
<li><a href="#schemas">Schemas</a></li>
</ul></nav>

{% for group in groups %}
<h2 id="tag-{{ group.name }}">{{ group.name }}</h2>
{% if group.description %}<p>{{ group.description }}</p>{% endif %}
{% for op in group.operations %}
<section class="op" id="op-{{ op.id }}">
<h3><span class="method {{ op.method }}">{{ op.method }}</span> <span class="path">{{ op.path }}</span></h3>
{% if op.summary %}<p>{{ op.summary }}</p>{% endif %}
{% if op.description and op.description != op.summary %}<p>{{ op.description }}</p>{% endif %}
{% if op.scopes %}<p>Needs a token with {% for s in op.scopes %}<span class="scope">{{ s }}</span> {% endfor %}</p>
{% else %}<p>No token needed.</p>{% endif %}
{% if op.parameters %}
<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.in }}</td><td>{{ p.type }}</td>
<td>{{ "yes" if p.required else "no" }}</td><td>{{ p.description }}</td></tr>{% endfor %}
</table>{% endif %}
{% if op.body %}<p>Request body ({{ op.body_type }}): {{ op.body | safe }}</p>{% endif %}
<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>
{% for r in op.responses %}<tr><td>{{ r.status }}</td><td>{{ r.description }}</td><td>{{ r.body | safe }}</td></tr>{% endfor %}
</table>
</section>
{% endfor %}
{% endfor %}

<h2 id="authentication">Authentication and scopes</h2>
{% for name, scheme in security_schemes.items() %}
<p><code>{{ name }}</code>: HTTP {{ scheme.scheme }} ({{ scheme.bearerFormat }}).</p>
<p>{{ scheme.description }}</p>
{% endfor %}

<h2 id="problems">Problem types</h2>
<p>Errors are <code>application/problem+json</code> (RFC 9457). <code>errors</code> lists each
offending field as <code>{field, message, in}</code>.</p>
<table><tr><th>type</th><th>Status</th><th>Title</th><th>Meaning</th></tr>
{% for slug, p in problems.items() %}<tr id="problem-{{ slug }}"><td><code>{{ slug }}</code></td>
<td>{{ p[0] }}</td><td>{{ p[1] }}</td><td>{{ p[2] }}</td></tr>{% endfor %}
</table>

<h2 id="schemas">Schemas</h2>
{% for name, schema in schemas %}
<section id="schema-{{ name }}"><h3>{{ name }}</h3>
{% if schema.description %}<p>{{ schema.description }}</p>{% endif %}
{% if schema.properties %}
<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>
{% for prop in schema.properties %}<tr><td><code>{{ prop.name }}</code></td><td>{{ prop.type | safe }}</td>
<td>{{ "yes" if prop.required else "no" }}</td><td>{{ prop.description }}</td></tr>{% endfor %}
</table>{% else %}<p>{{ schema.type | safe }}</p>{% endif %}
</section>
{% endfor %}
</body>
</html>
"""


def _escape(text: object) -> str:
    from markupsafe import escape

    return str(escape(str(text)))


def describe_type(schema: dict[str, Any] | None) -> str:
    """A short HTML description of a JSON Schema (already escaped; links to schemas)."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_escape(name)}">{_escape(name)}</a>'
    for combiner in ("oneOf", "anyOf", "allOf"):
        if combiner in schema:
            return " | ".join(describe_type(part) for part in schema[combiner])
    kind = schema.get("type", "object" if "properties" in schema else "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    text = _escape(text)
    if schema.get("type") == "array" or "items" in schema:
        text = f"list of {describe_type(schema.get('items'))}"
    details = []
    if "enum" in schema:
        details.append("one of " + ", ".join(_escape(v) for v in schema["enum"]))
    for key in ("format", "pattern", "minimum", "maximum", "minLength", "maxLength", "default"):
        if key in schema:
            details.append(f"{key} {_escape(schema[key])}")
    if details:
        text += " (" + "; ".join(details) + ")"
    return text


def _body_of(content: dict[str, Any] | None) -> tuple[str, str]:
    if not content:
        return "", ""
    media, value = next(iter(content.items()))
    return media, f"<code>{_escape(media)}</code> {describe_type(value.get('schema'))}"


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in item:
        kind, name = item["$ref"].split("/")[-2:]
        return spec.get("components", {}).get(kind, {}).get(name, {})
    return item


def view_model(spec: dict[str, Any]) -> dict[str, Any]:
    tags = {
        tag["name"]: {"name": tag["name"], "description": tag.get("description"), "operations": []}
        for tag in spec.get("tags", [])
    }
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag = (op.get("tags") or ["other"])[0]
            group = tags.setdefault(tag, {"name": tag, "description": None, "operations": []})
            parameters = []
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = _resolve(spec, param)
                parameters.append(
                    {
                        "name": param.get("name"),
                        "in": param.get("in"),
                        "type": describe_type(param.get("schema")),
                        "required": param.get("required", False),
                        "description": param.get("description", ""),
                    }
                )
            body_type, body = _body_of(op.get("requestBody", {}).get("content"))
            responses = []
            for status, response in sorted(op.get("responses", {}).items()):
                response = _resolve(spec, response)
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "body": _body_of(response.get("content"))[1],
                    }
                )
            scopes = [
                scope
                for requirement in op.get("security", [])
                for scope_list in requirement.values()
                for scope in scope_list
            ]
            group["operations"].append(
                {
                    "id": f"{method}-{path}",
                    "method": method,
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "scopes": scopes,
                    "parameters": parameters,
                    "body": body,
                    "body_type": body_type,
                    "responses": responses,
                }
            )
    schemas = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        properties = [
            {
                "name": prop_name,
                "type": describe_type(prop),
                "required": prop_name in required,
                "description": prop.get("description", ""),
            }
            for prop_name, prop in schema.get("properties", {}).items()
        ]
        schemas.append(
            (
                name,
                {
                    "description": schema.get("description"),
                    "properties": properties,
                    "type": describe_type(schema),
                },
            )
        )
    return {
        "info": spec.get("info", {}),
        "openapi": spec.get("openapi"),
        "groups": [group for group in tags.values() if group["operations"]],
        "security_schemes": spec.get("components", {}).get("securitySchemes", {}),
        "problems": PROBLEM_TYPES,
        "schemas": schemas,
    }


def render_docs(spec: dict[str, Any]) -> str:
    return render_template_string(TEMPLATE, **view_model(spec))

"""A setting and its allowed values, defined once: the dataclass field carries its JSON schema.

The same schema checks a value given to a dataclass (``check_fields``), becomes part of
the config's JSON schema (:mod:`tracefl.config.schema`) and is described in words in
error messages (``describe_schema``), so a bound cannot drift between the three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, field, fields
from functools import lru_cache
from typing import Any

from tracefl.errors import ConfigError

_MISSING = object()


def setting(default: Any = _MISSING, *, schema: Mapping[str, Any], doc: str = "") -> Any:
    """A dataclass field whose allowed values are ``schema`` (JSON schema); ``doc`` says what it does."""
    metadata = {"schema": dict(schema), "doc": doc}
    if default is _MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def setting_fields(cls: type) -> list[Field]:
    """The fields of ``cls`` that are settings (internal fields have no schema)."""
    return [f for f in fields(cls) if "schema" in f.metadata]


def setting_schemas(cls: type) -> dict[str, dict[str, Any]]:
    """Setting name -> its JSON schema, in declaration order."""
    return {f.name: f.metadata["schema"] for f in setting_fields(cls)}


def describe_schema(schema: Mapping[str, Any]) -> str:
    """What a (small) JSON schema allows, in words: 'an integer >= 1', 'one of adam, sgd'."""
    if "anyOf" in schema:
        return " or ".join(describe_schema(s) for s in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    words = {"integer": "an integer", "number": "a number", "string": "a non-empty string" if schema.get("minLength")
             else "a string", "boolean": "true or false (True or False after --config)",
             "object": "a mapping", "array": "a list",
             "null": "null"}.get(kind, "a value")
    bounds = [f"{op} {schema[key]:g}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                       ("maximum", "<="), ("exclusiveMaximum", "<"))
              if key in schema]
    if "minItems" in schema:
        bounds.append(f"with at least {schema['minItems']} item(s)")
    if "pattern" in schema:
        bounds.append(f"matching {schema['pattern']}")
    if kind == "array" and "items" in schema:
        bounds.append(f"of {describe_schema(schema['items'])}")
    return " ".join([words, " and ".join(bounds)]) if bounds else words


@lru_cache(maxsize=None)
def _validator(schema_json: str) -> Any:
    import json

    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def _wants_integer(schema: Mapping[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    kinds = {o.get("type") for o in options}
    return "integer" in kinds and "number" not in kinds


def allowed(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether ``value`` satisfies ``schema`` (and is finite, if a float: YAML allows .inf)."""
    import json
    import math

    if isinstance(value, float) and (not math.isfinite(value) or _wants_integer(schema)):
        return False  # 10.0 clients would make another run id than 10
    return _validator(json.dumps(schema, sort_keys=True)).is_valid(value)


def check_value(where: str, key: str, value: Any, schema: Mapping[str, Any]) -> None:
    """One line naming ``where.key``, the value and what is allowed, if ``value`` is not."""
    if not allowed(value, schema):
        raise ConfigError(f"{where}.{key} = {value!r} is not allowed; allowed: {describe_schema(schema)}")


def check_keys(data: Mapping[str, Any], cls: type, where: str, extra: tuple[str, ...] = ()) -> None:
    """Unknown keys of ``data`` (for dataclass ``cls``) fail with the list of allowed ones."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of settings")
    known = [f.name for f in setting_fields(cls)] + list(extra)
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' in {where}; allowed: {', '.join(sorted(known))}")


def check_fields(data: Mapping[str, Any], cls: type, where: str) -> None:
    """Every given value of ``data`` against its field's schema (missing keys keep defaults)."""
    schemas = setting_schemas(cls)
    for key, value in data.items():
        if key in schemas:
            check_value(where, key, value, schemas[key])

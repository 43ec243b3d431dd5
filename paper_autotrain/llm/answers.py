"""Structured answers: the JSON schema sent with a request, and reading an answer back into a pydantic model.

OpenAI's strict structured outputs accept a subset of JSON Schema: every object closed (additionalProperties
false) with all its properties required, no free-form dicts or Any, anyOf but not oneOf. `strict_json_schema`
rewrites a pydantic schema into that subset where it can (dropping validation keywords pydantic checks anyway)
and gives None where it cannot (a dict[str, X] field), in which case the schema is sent non-strict."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

# Keywords strict mode has rejected at some point; pydantic validates them after parsing anyway.
DROPPED_KEYWORDS = frozenset({
    "default", "examples", "format", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "discriminator",
    "minProperties", "maxProperties",
})
MAX_ERRORS_QUOTED = 8
FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.S)


class InvalidAnswer(Exception):
    """The answer is not JSON, or not valid for the model; the message is one line, fit to quote back."""


@dataclass(frozen=True)
class AnswerSchema:
    """What a structured request asks for: the pydantic schema (hashed) and the form sent to the server."""

    name: str
    schema: dict[str, Any]
    strict_schema: dict[str, Any] | None

    @classmethod
    def for_model(cls, model: type[BaseModel]) -> AnswerSchema:
        schema = model.model_json_schema()
        return cls(re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64] or "answer", schema, strict_json_schema(schema))

    def json_schema_format(self) -> dict[str, Any]:
        body = {"name": self.name, "schema": self.strict_schema, "strict": True} if self.strict_schema else {
            "name": self.name, "schema": self.schema, "strict": False}
        return {"type": "json_schema", "json_schema": body}

    def json_mode_instruction(self) -> str:
        """JSON mode carries no schema, so the prompt does (and OpenAI wants the word JSON in it)."""
        return ("Answer with one JSON object only, no prose and no code fence, valid against this JSON schema:\n"
                + json.dumps(self.schema, separators=(",", ":")))


# --- strict schema ---------------------------------------------------------------------------------------------


class _NotStrict(Exception):
    pass


def strict_json_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """`schema` in OpenAI's strict subset, or None when it has parts strict mode cannot express."""
    definitions = schema.get("$defs", {})
    root = {k: v for k, v in schema.items() if k != "$defs"}
    if set(root) == {"$ref"}:  # a recursive model: pydantic puts it in $defs and refers to it from the root
        root = definitions.get(str(root["$ref"]).rsplit("/", 1)[-1], root)
    try:
        root = _strict(copy.deepcopy(root), definitions, ())
        if definitions:
            root["$defs"] = {name: _strict(copy.deepcopy(d), definitions, ()) for name, d in definitions.items()}
    except _NotStrict:
        return None
    return root if root.get("type") == "object" else None


def _strict(node: Any, definitions: dict[str, Any], inlining: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(node, dict) or not node:
        raise _NotStrict  # `Any` (an empty schema) or garbage
    node = {k: v for k, v in node.items() if k not in DROPPED_KEYWORDS}
    if "$ref" in node:
        return _strict_ref(node, definitions, inlining)
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise _NotStrict
        return _strict({**parts[0], **node}, definitions, inlining)
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if "anyOf" in node:
        node["anyOf"] = [_strict(part, definitions, inlining) for part in node["anyOf"]]
        return node
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return _strict_object(node, definitions, inlining)
    if kind == "array" or "items" in node:
        if "prefixItems" in node or not isinstance(node.get("items"), dict):
            raise _NotStrict  # tuples and untyped lists
        node["items"] = _strict(node["items"], definitions, inlining)
        return node
    if kind is None and "enum" not in node and "const" not in node:
        raise _NotStrict
    return node


def _strict_ref(node: dict[str, Any], definitions: dict[str, Any], inlining: tuple[str, ...]) -> dict[str, Any]:
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    if not siblings:
        return node
    # Strict mode wants a bare $ref: inline the definition and keep the siblings (a description) beside it.
    name = str(node["$ref"]).rsplit("/", 1)[-1]
    if name not in definitions or name in inlining:
        raise _NotStrict  # unknown, or a recursive model that would inline forever
    return {**_strict(copy.deepcopy(definitions[name]), definitions, (*inlining, name)), **siblings}


def _strict_object(node: dict[str, Any], definitions: dict[str, Any], inlining: tuple[str, ...]) -> dict[str, Any]:
    extra = node.get("additionalProperties", False)
    properties = node.get("properties")
    if extra not in (False, None) or not isinstance(properties, dict):
        raise _NotStrict  # dict[str, X] or a free-form object
    node["properties"] = {name: _strict(value, definitions, inlining) for name, value in properties.items()}
    node["required"] = list(properties)
    node["additionalProperties"] = False
    node["type"] = "object"
    return node


# --- reading answers -------------------------------------------------------------------------------------------


def parse_answer(text: str | None, model: type[T]) -> T:
    """The answer validated into `model`; tolerates a ```json fence and prose around one JSON object."""
    data = _load_json(text or "")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise InvalidAnswer(describe_validation_error(err)) from None


def _load_json(text: str) -> Any:
    fenced = FENCE.match(text)
    candidate = fenced.group(1) if fenced else text.strip()
    if not candidate:
        raise InvalidAnswer("the answer was empty, expected a JSON object")
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as err:
        first_error = err
    start, end = candidate.find("{"), candidate.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(candidate[start:end + 1])  # a local model's "Here is the JSON: {...}"
        except json.JSONDecodeError:
            pass
    raise InvalidAnswer(f"invalid JSON ({first_error.msg} at line {first_error.lineno} column {first_error.colno})")


def describe_validation_error(err: ValidationError) -> str:
    """pydantic's errors as one line: `field.path: message; ...`."""
    problems = []
    for item in err.errors()[:MAX_ERRORS_QUOTED]:
        where = ".".join(str(part) for part in item["loc"]) or "(the whole answer)"
        problems.append(f"{where}: {item['msg']}")
    more = err.error_count() - MAX_ERRORS_QUOTED
    if more > 0:
        problems.append(f"and {more} more")
    return one_line("; ".join(problems))


def repair_message(error: str) -> str:
    return f"Your answer did not validate: {one_line(error)}. Answer again with JSON only."


def one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

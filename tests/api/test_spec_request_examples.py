"""Every request body the spec shows as an example (tests/api/spec_request_examples.json,
taken from the spec with its line numbers) is accepted by its operation: no field of
it is an unknown field, nested rows included. Fields an operation does not use are
in its schema's ``ignored_fields`` (accepted, documented as ignored)."""
from __future__ import annotations

import importlib
import json
import pathlib
import re
import typing

import pytest
from pydantic import BaseModel

from handlers.core.routing import MODULES, Route
from handlers.core.validation import input_names

EXAMPLES = json.loads((pathlib.Path(__file__).parent / "spec_request_examples.json").read_text())


def _routes() -> list[Route]:
    routes = []
    for module in MODULES:
        routes += [r for r in importlib.import_module(f"handlers.{module}").routes if isinstance(r, Route)]
    return routes


def _models(tp: typing.Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in typing.get_args(tp) for m in _models(arg)]


def unknown_fields(model: type[BaseModel], data: typing.Any, prefix: str = "") -> list[str]:
    if not isinstance(data, dict):
        return []
    out = []
    for key, value in data.items():
        if key in getattr(model, "ignored_fields", ()):
            continue
        if key not in input_names(model):
            out.append(prefix + key)
            continue
        field = model.model_fields.get(key)
        for sub in _models(field.annotation) if field is not None else []:
            for item in value if isinstance(value, list) else [value]:
                out += unknown_fields(sub, item, f"{prefix}{key}.")
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"L{e['spec_line']}-{e['method']}-{e['path']}")
def test_the_specs_example_body_has_no_unknown_field(example):
    path = re.sub(r"<[^>]+>|\{[^}]+\}", "1", example["path"])
    routes = [r for r in _routes() if r.regex.fullmatch(path)]
    assert routes, path
    meta = getattr(routes[0].handler_class, example["method"].lower())._api
    assert meta["body"] is not None, example
    assert unknown_fields(meta["body"], example["body"]) == [], example

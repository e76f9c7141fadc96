"""Is a new JSON Schema backward compatible with an old one, for readers of old events?

The question asked of every pair (old, new) is: does the new schema accept every document the old
one accepted? Events written under the old schema stay in Kafka forever and the new code must read
them. So an added optional property passes; a removed property, a changed type, a new required
property, a removed enum value or a tightened constraint fails. Widening (an added enum value, a
property made nullable, a raised maximum) passes. The comparison follows `$ref`s into `$defs`, as
pydantic emits nested models that way, and is conservative where it cannot decide (a changed regex
counts as breaking).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

# Keywords that narrow from below / from above, and keywords that must simply stay the same.
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf", "contentEncoding", "contentMediaType")
# Keywords that describe without constraining.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "$schema",
    }
)


@dataclass(frozen=True, slots=True)
class Incompatibility:
    path: str  # where in the document, e.g. $.household.members[].birth_date
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def find_incompatibilities(old: Schema, new: Schema) -> list[Incompatibility]:
    """Every way in which `new` rejects documents `old` accepted; empty means compatible."""
    return _Comparison(old, new).compare(old, new, "$")


def is_backward_compatible(old: Schema, new: Schema) -> bool:
    return not find_incompatibilities(old, new)


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._old_root = old_root
        self._new_root = new_root
        # Pairs of $refs under comparison; meeting one again means a recursive model, assumed equal
        # on the second visit (its differences are reported on the first).
        self._in_progress: set[tuple[str, str]] = set()

    def compare(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        key = (str(old.get("$ref", "")), str(new.get("$ref", "")))
        if key != ("", ""):
            if key in self._in_progress:
                return []
            self._in_progress.add(key)
        try:
            return self._compare_resolved(_resolve(old, self._old_root), _resolve(new, self._new_root), path)
        finally:
            self._in_progress.discard(key)

    def _compare_resolved(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        if "not" in new and new["not"] != old.get("not"):
            return [Incompatibility(path, "a 'not' constraint was added or changed")]
        if _unconstrained(new):
            return []
        if _unconstrained(old):
            return [Incompatibility(path, f"was unconstrained, now {_describe(new)}")]
        old_branches, new_branches = _branches(old), _branches(new)
        if len(old_branches) > 1 or len(new_branches) > 1:
            return self._compare_unions(old_branches, new_branches, path)
        return self._compare_single(old, new, path)

    def _compare_unions(
        self, old_branches: list[Schema], new_branches: list[Schema], path: str
    ) -> list[Incompatibility]:
        # Every old alternative must still be accepted by some new alternative.
        problems: list[Incompatibility] = []
        for old_branch in old_branches:
            resolved_old = _resolve(old_branch, self._old_root)
            attempts = [self.compare(old_branch, new_branch, path) for new_branch in new_branches]
            if any(not attempt for attempt in attempts):
                continue
            # Report against the alternative of the same type if there is one: "maxLength narrowed"
            # says more than "string no longer accepted".
            same_type = [
                attempt
                for new_branch, attempt in zip(new_branches, attempts, strict=True)
                if _types(resolved_old)
                and _types(resolved_old) == _types(_resolve(new_branch, self._new_root))
            ]
            if same_type:
                closest: list[Incompatibility] = min(same_type, key=len)
                problems.extend(closest)
            else:
                problems.append(Incompatibility(path, f"no longer accepts {_describe(resolved_old)}"))
        return problems

    def _compare_single(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        problems: list[Incompatibility] = []
        old_types, new_types = _types(old), _types(new)
        if new_types is not None:
            if old_types is None:
                return [Incompatibility(path, f"type restricted to {sorted(new_types)}")]
            lost = {
                t for t in old_types if not (t in new_types or (t == "integer" and "number" in new_types))
            }
            if lost:
                return [
                    Incompatibility(path, f"type changed from {sorted(old_types)} to {sorted(new_types)}")
                ]

        problems.extend(_compare_values(old, new, path))
        problems.extend(_compare_bounds(old, new, path))
        if "object" in (old_types or set()) or "properties" in old or "properties" in new:
            problems.extend(self._compare_objects(old, new, path))
        if "array" in (old_types or set()) or "items" in old or "items" in new:
            problems.extend(self._compare_arrays(old, new, path))
        return problems

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        problems: list[Incompatibility] = []
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        for name, old_prop in old_props.items():
            child = f"{path}.{name}"
            if name not in new_props:
                problems.append(Incompatibility(child, "property removed"))
                continue
            problems.extend(self.compare(old_prop, new_props[name], child))
            if name in new_required and name not in old_required:
                problems.append(Incompatibility(child, "optional property became required"))
        for name in sorted(new_required - set(old_props)):
            problems.append(Incompatibility(f"{path}.{name}", "new required property"))

        old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            problems.append(Incompatibility(path, "additional properties are now forbidden"))
        elif isinstance(new_extra, Mapping):
            if isinstance(old_extra, Mapping):
                problems.extend(self.compare(old_extra, new_extra, f"{path}.*"))
            elif old_extra is not False:
                problems.append(Incompatibility(f"{path}.*", "additional properties are now constrained"))
        return problems

    def _compare_arrays(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        problems: list[Incompatibility] = []
        old_prefix: list[Schema] = list(old.get("prefixItems", ()))
        new_prefix: list[Schema] = list(new.get("prefixItems", ()))
        for index, new_item in enumerate(new_prefix):
            if index < len(old_prefix):
                problems.extend(self.compare(old_prefix[index], new_item, f"{path}[{index}]"))
            elif isinstance(old.get("items"), Mapping):
                problems.extend(self.compare(old["items"], new_item, f"{path}[{index}]"))
            else:
                problems.append(Incompatibility(f"{path}[{index}]", "tuple position now constrained"))
        old_items, new_items = old.get("items"), new.get("items")
        if new_items is False and old_items is not False:
            problems.append(
                Incompatibility(f"{path}[]", "items beyond the fixed positions are now forbidden")
            )
        elif isinstance(new_items, Mapping):
            if isinstance(old_items, Mapping):
                problems.extend(self.compare(old_items, new_items, f"{path}[]"))
            else:
                problems.append(Incompatibility(f"{path}[]", "array items are now constrained"))
        return problems


def _resolve(schema: Schema, root: Schema) -> Schema:
    """Follow `$ref` (local `#/...` pointers only) and single-element `allOf`, keeping sibling keys."""
    seen: set[str] = set()
    while True:
        if "$ref" in schema:
            ref = str(schema["$ref"])
            if ref in seen:
                raise ValueError(f"$ref cycle without content at {ref}")
            seen.add(ref)
            target = _pointer(root, ref)
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            (only,) = schema["allOf"]
            schema = {**only, **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


def _pointer(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs can be compared, got {ref}")
    node: Any = root
    parts = ref[1:].split("/")[1:] if ref != "#" else []  # "#/$defs/Member" -> ["$defs", "Member"]
    for part in parts:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"$ref {ref} points at nothing")
        node = node[part]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref} does not point at a schema")
    return node


def _branches(schema: Schema) -> list[Schema]:
    for keyword in ("anyOf", "oneOf"):
        if isinstance(schema.get(keyword), list):
            return list(schema[keyword])
    return [schema]


def _unconstrained(schema: Schema) -> bool:
    return all(key in _ANNOTATIONS or key.startswith("x-") for key in schema)


def _types(schema: Schema) -> set[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = _values(schema)
    if values is not None:
        return {_json_type(json.loads(v)) for v in values}
    if "properties" in schema:
        return {"object"}
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _values(schema: Schema) -> set[str] | None:
    """Allowed values (enum or const) as canonical JSON text, or None if any value of the type goes."""
    if "enum" in schema:
        return {json.dumps(v, sort_keys=True) for v in schema["enum"]}
    if "const" in schema:
        return {json.dumps(schema["const"], sort_keys=True)}
    return None


def _compare_values(old: Schema, new: Schema, path: str) -> list[Incompatibility]:
    new_values = _values(new)
    if new_values is None:
        return []
    old_values = _values(old)
    if old_values is None:
        return [Incompatibility(path, f"now restricted to the values {sorted(new_values)}")]
    removed = old_values - new_values
    if removed:
        return [Incompatibility(path, f"enum narrowed: removed {sorted(removed)}")]
    return []


def _compare_bounds(old: Schema, new: Schema, path: str) -> list[Incompatibility]:
    problems: list[Incompatibility] = []
    for keyword in _LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            problems.append(
                Incompatibility(path, f"{keyword} raised from {old.get(keyword)} to {new[keyword]}")
            )
    for keyword in _UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            problems.append(
                Incompatibility(path, f"{keyword} lowered from {old.get(keyword)} to {new[keyword]}")
            )
    for keyword in _EXACT:
        if keyword in new and new[keyword] != old.get(keyword):
            problems.append(
                Incompatibility(path, f"{keyword} changed from {old.get(keyword)!r} to {new[keyword]!r}")
            )
    if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
        problems.append(Incompatibility(path, "items must now be unique"))
    problems.extend(_compare_numeric_bound(old, new, path, "minimum", "exclusiveMinimum", lower=True))
    problems.extend(_compare_numeric_bound(old, new, path, "maximum", "exclusiveMaximum", lower=False))
    return problems


def _numeric_bound(schema: Schema, inclusive: str, exclusive: str, lower: bool) -> tuple[float, bool] | None:
    """The effective bound as (value, is_exclusive), the tighter one if both keywords are present."""
    candidates = []
    if inclusive in schema:
        candidates.append((float(schema[inclusive]), False))
    if exclusive in schema:
        candidates.append((float(schema[exclusive]), True))
    if not candidates:
        return None
    # For a lower bound the tighter is the larger value (exclusive beats inclusive at a tie).
    if lower:
        return max(candidates, key=lambda c: (c[0], c[1]))
    return min(candidates, key=lambda c: (c[0], not c[1]))


def _compare_numeric_bound(
    old: Schema, new: Schema, path: str, inclusive: str, exclusive: str, *, lower: bool
) -> list[Incompatibility]:
    new_bound = _numeric_bound(new, inclusive, exclusive, lower)
    if new_bound is None:
        return []
    old_bound = _numeric_bound(old, inclusive, exclusive, lower)
    side = "lower" if lower else "upper"
    if old_bound is None:
        return [Incompatibility(path, f"new {side} bound {new_bound[0]}")]
    new_value, new_exclusive = new_bound
    old_value, old_exclusive = old_bound
    tighter = new_value > old_value if lower else new_value < old_value
    if tighter or (new_value == old_value and new_exclusive and not old_exclusive):
        return [Incompatibility(path, f"{side} bound tightened from {old_value} to {new_value}")]
    return []


def _describe(schema: Schema) -> str:
    types = _types(schema)
    values = _values(schema)
    if values is not None:
        return f"values {sorted(values)}"
    return f"type {sorted(types)}" if types else "any value"

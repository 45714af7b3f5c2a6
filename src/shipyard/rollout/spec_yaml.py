"""Reading a deployment spec from YAML text: the safe loader (no anchors or aliases, YAML
1.2 booleans), the line of every field for refusals, then ``spec.validate_spec``."""

from __future__ import annotations

import re
from typing import Any

import yaml

from shipyard.errors import InvalidSpec
from shipyard.rollout.spec import MAX_SPEC_BYTES, DeploymentSpec, Path, dotted, validate_spec


def _compose_node(self: Any, parent: Any, index: Any) -> Any:
    if self.check_event(yaml.AliasEvent):
        event = self.peek_event()
        raise InvalidSpec(
            f"line {event.start_mark.line + 1}: YAML aliases (*name) are not allowed in a spec",
            line=event.start_mark.line + 1,
            field=None,
            source=None,
        )
    return yaml.SafeLoader.compose_node(self, parent, index)


# The safe loader without anchors and aliases (a spec needs none, and they can make a small
# text expand into a huge document). Built with type(): yaml has no type hints here.
_Loader: Any = type("_Loader", (yaml.SafeLoader,), {"compose_node": _compose_node})
# YAML 1.2 booleans: only true/false, so a variant named on, off, yes or no stays a name.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _lines(node: yaml.Node, path: Path, out: dict[Path, int], source: str) -> None:
    """Record the 1-based line of every mapping key and sequence item under ``path``."""
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise InvalidSpec(
                    f"{source}, line {line}: {dotted(child)}: duplicate key {key!r}",
                    field=dotted(child),
                    line=line,
                    source=source,
                )
            seen.add(key)
            out[child] = line
            _lines(value_node, child, out, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _lines(item, (*path, i), out, source)


def parse_spec(text: str | bytes, *, source: str = "spec") -> DeploymentSpec:
    """Parse and validate a deployment spec from YAML (or JSON) text.

    ``source`` names the text in messages (a file name). Raises ``InvalidSpec`` naming the
    field path and line of the first problem found.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSpec(f"{source}: a spec is UTF-8 text", field=None, line=None, source=source) from exc
    if len(text) > MAX_SPEC_BYTES:
        raise InvalidSpec(f"{source}: a spec is at most {MAX_SPEC_BYTES} bytes", field=None, line=None, source=source)
    try:
        # The reader checks every character as it is built: a control character is refused here.
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        raise InvalidSpec(f"{source}: not valid YAML: {exc}", field=None, line=None, source=source) from None
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        where = f", line {line}" if line else ""
        raise InvalidSpec(
            f"{source}{where}: not valid YAML: {exc.problem or exc.context}", field=None, line=line, source=source
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidSpec(f"{source}: not valid YAML: {exc}", field=None, line=None, source=source) from None
    except InvalidSpec as exc:
        exc.message = f"{source}, {exc.message}"
        exc.args = (exc.message,)
        exc.details["source"] = source
        raise
    finally:
        loader.dispose()
    lines: dict[Path, int] = {}
    if node is not None:
        if not isinstance(node, yaml.MappingNode):
            kind = "empty" if data is None else type(data).__name__
            raise InvalidSpec(
                f"{source}, line {node.start_mark.line + 1}: a spec is a YAML mapping "
                f"(deployment:, variants:, ...), not {'a ' + kind if kind != 'empty' else 'empty'}",
                field=None,
                line=node.start_mark.line + 1,
                source=source,
            )
        _lines(node, (), lines, source)
    return validate_spec(data, source=source, lines=lines)

"""Refuse YAML whose aliases expand into a huge document (a "billion laughs" file).

PyYAML shares an aliased node instead of copying it, so loading such a file is quick, but
anything that walks the result (validation, the field-line map of pipeline files) visits every
expansion: a 600-byte file can mean 10^9 values. :func:`check_yaml_expansion` counts the values
the document expands to, in time linear in its size, before anything walks it.
"""

from __future__ import annotations

from typing import Any

from largeforge.errors import ConfigError

#: Most values (scalars, lists, mappings) a config document may expand to through aliases.
MAX_YAML_VALUES = 100_000


def _expanded_size(root: Any) -> int:
    """Values under ``root`` with every alias expanded; a node that contains itself counts as
    unbounded. Each distinct node is sized once (iteratively: no recursion limit)."""
    import yaml

    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            sizes[key] = 1
            continue
        if done:
            active.discard(key)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_YAML_VALUES + 1)
            continue
        if key in sizes:
            continue
        if key in active:  # reached again while still being sized: it contains itself
            return MAX_YAML_VALUES + 1
        active.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in active:
                return MAX_YAML_VALUES + 1
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes.get(id(root), 1)


def check_yaml_expansion(text: str, source: str) -> None:
    """Raise :class:`ConfigError` (one line naming ``source``) when the YAML ``text`` expands to
    more than :data:`MAX_YAML_VALUES` values. Syntax errors are left to the loader."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    if root is not None and _expanded_size(root) > MAX_YAML_VALUES:
        raise ConfigError(
            f"{source}: YAML aliases expand to more than {MAX_YAML_VALUES:,} values "
            "(an alias bomb?); refusing to load it"
        )

"""Bounds on what reading one experiment document may cost.

YAML lets a 10-line document describe a billion values (anchors and aliases
nested inside each other), nest without end (``[[[[...``) or refer to itself
(``&a [*a]``). The parser's graph keeps an alias as one shared node, so the cost
appears later, in whatever walks the data as a tree: the positions map, env
substitution, validation. ``LimitedLoader`` therefore counts while it composes,
before anything is built into Python objects: every node, and an alias as the
whole node it names, each time it is used. The first node beyond a limit stops
the load with ``LimitExceeded`` at that node. Why these numbers:
docs/decisions/0010-hostile-documents.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event, NodeEvent
from yaml.nodes import Node
from yaml.resolver import Resolver

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "LimitExceeded",
    "LimitedLoader",
]

MAX_DOCUMENT_BYTES = 1024 * 1024
"""Largest document read, in bytes (1 MiB). The examples are 1.3-2.6 kB; a file
read for checking is read to at most one byte more than this."""
MAX_NODES = 20_000
"""Most nodes a document may expand to, an alias counted as all the nodes it
names each time it is used (the examples have 90-170). Bounds the memory and
time of everything after parsing, which walks the data as a tree."""
MAX_DEPTH = 64
"""Deepest nesting of collections and scalars, through aliases too (the examples
reach 7). Keeps every recursive walk far from Python's recursion limit."""


class LimitExceeded(yaml.YAMLError):
    """Raised by LimitedLoader when a document passes MAX_NODES or MAX_DEPTH or an
    alias is used inside its own node; ``line``/``column`` (1-based) are that node's."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class _Extent:
    """What using an anchored node costs: its nodes and levels, aliases expanded."""

    nodes: int
    height: int


if TYPE_CHECKING or yaml.__with_libyaml__:
    from yaml._yaml import CParser as _EventParser
else:
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventParser(Reader, Scanner, Parser):
        """The pure-Python scanner and parser, where libyaml is missing."""

        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class LimitedLoader(Composer, _EventParser, SafeConstructor, Resolver):
    """A safe loader whose composer refuses documents beyond MAX_NODES or MAX_DEPTH
    and aliases to a node that contains them.

    libyaml (when present) scans and parses; the composer is PyYAML's Python one:
    libyaml's own cannot be made to count, and recursing in C it crashes the process
    (SIGSEGV) on deep nesting. ``Composer`` comes first so that its
    ``get_single_node`` is the one used.
    """

    def __init__(self, stream: str) -> None:
        _EventParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.expanded_nodes = 0
        """Nodes composed so far, aliases expanded: it never passes MAX_NODES."""
        self._depth = 0
        self._deepest = 0
        self._extents: dict[str, _Extent] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        # where a node is due the parser has its event ready, or has raised
        assert isinstance(event, NodeEvent)
        if isinstance(event, AliasEvent):
            self._use_alias(event)
            return super().compose_node(parent, index)
        outer_deepest = self._deepest
        nodes_before = self.expanded_nodes
        self._deepest = 0  # from here on: the deepest level inside this node
        self._enter(1, event)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._extents[event.anchor] = _Extent(
                self.expanded_nodes - nodes_before, self._deepest - self._depth
            )
        self._deepest = max(outer_deepest, self._deepest)
        return node

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        self._extents = {}  # anchors are per document, as Composer's are
        return node

    def _use_alias(self, event: AliasEvent) -> None:
        anchor = event.anchor
        if anchor is None or anchor not in self.anchors:
            return  # Composer reports the undefined alias
        extent = self._extents.get(anchor)
        if extent is None:
            line, column = _position(event)
            raise LimitExceeded(
                f"alias *{anchor} is used inside the node it names (a structure that "
                "contains itself): expected an alias to a node defined before it",
                line,
                column,
            )
        self._enter(extent.nodes, event, extent.height)
        self._depth -= 1

    def _enter(self, nodes: int, event: Event, height: int = 1) -> None:
        """Count a node (or an alias's ``nodes``) one level below the current one;
        refuse it, counting nothing, when it would pass a limit."""
        reach = self._depth + height
        if self.expanded_nodes + nodes > MAX_NODES:
            line, column = _position(event)
            raise LimitExceeded(
                f"document expands to more than {MAX_NODES} nodes here (an alias counts as "
                f"every node it names, each time it is used): expected at most {MAX_NODES}",
                line,
                column,
            )
        if reach > MAX_DEPTH:
            line, column = _position(event)
            raise LimitExceeded(
                f"document nests more than {MAX_DEPTH} levels deep here (through aliases "
                f"too): expected at most {MAX_DEPTH}",
                line,
                column,
            )
        self._depth += 1
        self.expanded_nodes += nodes
        self._deepest = max(self._deepest, reach)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # A scalar the resolver took for an int, float or date may still not be
        # one Python can build (month 13, a 5000-digit int): report it where it is.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            # Python's advice on its int size limit is for programmers, not authors
            reason = str(exc).split("; use sys.set_int_max_str_digits", 1)[0]
            raise ConstructorError(
                None, None, f"not a valid {tag}: {reason}", node.start_mark
            ) from exc


def _position(event: Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)

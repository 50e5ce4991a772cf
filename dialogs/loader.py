"""Reading, validating and building questionnaires from their YAML definition files."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path

import yaml

from dialogs import options as std
from dialogs.model import (
    LOCALES,
    Condition,
    Item,
    ItemKind,
    LocalizedText,
    MeasureInfo,
    Option,
    Questionnaire,
)

__all__ = [
    "DefinitionError",
    "QuestionnaireError",
    "load_questionnaire",
    "parse_questionnaire",
    "validate_questionnaire",
]

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
"""Ids of questionnaires, items, options and measures."""

DEFAULT_MAX_LENGTH = 1000
"""`max_length` of a text item that does not set one."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"

_TOP_KEYS = ("id", "title", "default_locale", "intro", "outro", "finish_early", "items")
_COMMON_KEYS = ("id", "kind", "text", "required", "help", "show_if", "comment")
_KIND_KEYS: Mapping[ItemKind, tuple[str, ...]] = {
    ItemKind.SINGLE: ("options",),
    ItemKind.MULTI: ("options", "min_picks", "max_picks"),
    ItemKind.SCALE: ("options", "scale"),
    ItemKind.YES_NO_NA: ("include_na",),
    ItemKind.TEXT: ("max_length",),
    ItemKind.NUMBER: ("min", "max", "integer"),
    ItemKind.CONSENT: ("decline_message",),
    ItemKind.MEASURE_STATUS: ("measures",),
}
_KIND_EXCLUDED: Mapping[ItemKind, tuple[str, ...]] = {
    ItemKind.CONSENT: ("required", "comment"),
    ItemKind.TEXT: ("comment",),
}
_ALL_ITEM_KEYS = tuple(
    dict.fromkeys(_COMMON_KEYS + tuple(k for keys in _KIND_KEYS.values() for k in keys))
)
_OPTION_KEYS = ("id", "label", "outside_scale")
_SHOW_IF_KEYS = ("item", "any_of", "equals")
_CHOICE_KINDS = frozenset(
    {
        ItemKind.SINGLE,
        ItemKind.MULTI,
        ItemKind.SCALE,
        ItemKind.YES_NO_NA,
        ItemKind.CONSENT,
        ItemKind.MEASURE_STATUS,
    }
)


@dataclass(frozen=True)
class DefinitionError:
    """One problem in a definition file, with the 1-based line and the item it concerns."""

    file: str
    line: int
    item_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: "
        return where + (f"[{self.item_id}] " if self.item_id else "") + self.message


class QuestionnaireError(Exception):
    """A definition could not be loaded; `errors` lists every problem found, in line order."""

    def __init__(self, errors: Iterable[DefinitionError]) -> None:
        self.errors: tuple[DefinitionError, ...] = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


def load_questionnaire(
    path: Path, measures: Mapping[str, MeasureInfo] | None = None
) -> Questionnaire:
    """Read and build the questionnaire in `path` (OSError if the file cannot be read)."""
    return parse_questionnaire(_read(path), str(path), measures)


def parse_questionnaire(
    text: str, source: str, measures: Mapping[str, MeasureInfo] | None = None
) -> Questionnaire:
    """Build a questionnaire from definition text; `source` names it in error messages."""
    questionnaire, errors = _Parser(source, measures).parse(text)
    if errors or questionnaire is None:
        raise QuestionnaireError(errors)
    return questionnaire


def validate_questionnaire(
    text: str, source: str, measures: Mapping[str, MeasureInfo] | None = None
) -> tuple[DefinitionError, ...]:
    """Every problem of a definition (empty when it loads)."""
    return _Parser(source, measures).parse(text)[1]


def _read(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        error = DefinitionError(str(path), line, None, "the file is not valid UTF-8")
        raise QuestionnaireError([error]) from exc


class _Loader(yaml.SafeLoader):
    """Safe YAML, but only true/false are booleans: `no`, `yes`, `on` and `off` stay text.

    Option ids such as `no` appear in conditions (`equals: no`), and YAML 1.1 would
    silently turn them into booleans.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class _Entry:
    """A key of a YAML mapping with its value node."""

    key: yaml.ScalarNode
    value: yaml.Node

    @property
    def line(self) -> int:
        return _line(self.key)

    @property
    def is_null(self) -> bool:
        return isinstance(self.value, yaml.ScalarNode) and self.value.tag == _NULL


@dataclass(frozen=True)
class _Ref:
    """A `show_if` as written, resolved once every item is known."""

    item: str
    line: int
    options: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class _Common:
    """Fields every kind of item shares, apart from its text."""

    required: bool = True
    help: LocalizedText | None = None
    comment: LocalizedText | None = None


@dataclass
class _Built:
    """The items one definition entry produced, with what is needed to finish them."""

    index: int
    label: str | None
    items: list[Item]
    show_if: _Ref | None
    ok: bool
    """Whether the entry was built without errors (its items are then complete)."""
    template: LocalizedText | None = None
    """Measure blocks: the question template, hashed instead of the measure titles."""


class _Parser:
    def __init__(self, source: str, measures: Mapping[str, MeasureInfo] | None) -> None:
        self.source = source
        self.measures = measures
        self.errors: list[DefinitionError] = []
        self.default_locale = "nb"
        self.block_ids: set[str] = set()

    # -- reporting ---------------------------------------------------------------------

    def error(self, line: int, message: str, item_id: str | None = None) -> None:
        self.errors.append(DefinitionError(self.source, line, item_id, message))

    def parse(self, text: str) -> tuple[Questionnaire | None, tuple[DefinitionError, ...]]:
        questionnaire = self._parse(text)
        errors = tuple(sorted(self.errors, key=lambda error: error.line))
        return (None if errors else questionnaire), errors

    # -- YAML helpers ------------------------------------------------------------------

    def mapping(self, node: yaml.Node, item_id: str | None, what: str) -> dict[str, _Entry] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(_line(node), f"{what} must be a mapping of keys to values", item_id)
            return None
        entries: dict[str, _Entry] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:merge":
                self.error(_line(key), "merge keys (<<) are not supported", item_id)
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag not in (_STR, _INT):
                self.error(_line(key), f"{what} has a key that is not a plain name", item_id)
                continue
            name = str(key.value)
            if name in entries:
                first = entries[name].line
                self.error(
                    _line(key), f"key '{name}' appears twice (first on line {first})", item_id
                )
                continue
            entries[name] = _Entry(key, value)
        return entries

    def check_keys(
        self,
        entries: Mapping[str, _Entry],
        allowed: Iterable[str],
        item_id: str | None,
        what: str,
        kind: ItemKind | None = None,
    ) -> None:
        allowed = tuple(allowed)
        for name, entry in entries.items():
            if name in allowed:
                continue
            if kind is not None and name in _ALL_ITEM_KEYS:
                message = f"key '{name}' does not apply to kind '{kind.value}'"
            else:
                message = f"unknown key '{name}' in {what}{_suggest(name, allowed)}"
            self.error(entry.line, message, item_id)

    def require(
        self, entries: Mapping[str, _Entry], name: str, line: int, item_id: str | None, what: str
    ) -> _Entry | None:
        entry = entries.get(name)
        if entry is None or entry.is_null:
            self.error(entry.line if entry else line, f"{what} needs '{name}'", item_id)
            return None
        return entry

    def scalar(self, node: yaml.Node) -> str | None:
        """The raw text of a plain string or number scalar (None for anything else)."""
        if isinstance(node, yaml.ScalarNode) and node.tag in (_STR, _INT, _FLOAT):
            return str(node.value)
        return None

    def slug(self, node: yaml.Node, item_id: str | None, what: str) -> str | None:
        value = self.scalar(node)
        if value is None:
            self.error(_line(node), f"{what} must be a plain id", item_id)
            return None
        if not SLUG.match(value):
            self.error(
                _line(node),
                f"{what} '{value}' is not a valid id: use lowercase letters, digits, '_' and '-'"
                " (starting with a letter or digit)",
                item_id,
            )
            return None
        return value

    def boolean(self, entry: _Entry, item_id: str | None) -> bool | None:
        node = entry.value
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            return str(node.value).lower() == "true"
        self.error(entry.line, f"'{entry.key.value}' must be true or false", item_id)
        return None

    def integer(self, entry: _Entry, item_id: str | None, minimum: int) -> int | None:
        node = entry.value
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT:
            try:
                value = int(str(node.value).replace("_", ""), 0)
            except ValueError:
                value = None
            if value is not None and value >= minimum:
                return value
        name = entry.key.value
        self.error(entry.line, f"'{name}' must be a whole number of at least {minimum}", item_id)
        return None

    def decimal(self, entry: _Entry, item_id: str | None) -> Decimal | None:
        node = entry.value
        if isinstance(node, yaml.ScalarNode) and node.tag in (_INT, _FLOAT):
            try:
                value = Decimal(str(node.value).replace("_", ""))
            except InvalidOperation:
                value = None
            if value is not None and value.is_finite():
                return value
        self.error(entry.line, f"'{entry.key.value}' must be a number", item_id)
        return None

    def text(
        self, entry: _Entry | None, item_id: str | None, what: str, line: int
    ) -> LocalizedText | None:
        """A text: a plain string in the default locale, or a mapping of locales to strings.

        Leading and trailing white space is dropped (block scalars end with a newline).
        """
        locale = self.default_locale
        if entry is None or entry.is_null:
            self.error(entry.line if entry else line, f"{what} is missing", item_id)
            return None
        node = entry.value
        plain = self.scalar(node)
        if plain is not None:
            if not plain.strip():
                self.error(entry.line, f"{what} is empty", item_id)
                return None
            return LocalizedText(**{locale: plain.strip()})
        if not isinstance(node, yaml.MappingNode):
            self.error(entry.line, f"{what} must be a string or a mapping of nb/nn/en", item_id)
            return None
        entries = self.mapping(node, item_id, what) or {}
        values: dict[str, str] = {}
        for name, sub in entries.items():
            if name not in LOCALES:
                self.error(
                    sub.line,
                    f"unknown locale '{name}' in {what}{_suggest(name, LOCALES)};"
                    " use nb, nn or en",
                    item_id,
                )
                continue
            value = self.scalar(sub.value)
            if value is None and not sub.is_null:
                self.error(sub.line, f"{what} ({name}) must be a string", item_id)
            elif value and value.strip():
                values[name] = value.strip()
        if locale not in values:
            self.error(entry.line, f"{what} has no text in the default locale '{locale}'", item_id)
            return None
        return LocalizedText(**values)

    def optional_text(
        self, entries: Mapping[str, _Entry], name: str, item_id: str | None, what: str
    ) -> LocalizedText | None:
        entry = entries.get(name)
        if entry is None or entry.is_null:
            return None
        return self.text(entry, item_id, what, entry.line)

    # -- the questionnaire -------------------------------------------------------------

    def _parse(self, text: str) -> Questionnaire | None:
        root = self.compose(text)
        if root is None:
            return None
        top = self.mapping(root, None, "the questionnaire")
        if top is None:
            return None
        self.check_keys(top, _TOP_KEYS, None, "the questionnaire")
        line = _line(root)

        locale_entry = top.get("default_locale")
        if locale_entry is not None:
            locale = self.scalar(locale_entry.value)
            if locale in LOCALES:
                self.default_locale = str(locale)
            else:
                self.error(locale_entry.line, "'default_locale' must be nb, nn or en")

        id_entry = self.require(top, "id", line, None, "the questionnaire")
        questionnaire_id = self.slug(id_entry.value, None, "id") if id_entry else None
        title = self.text(top.get("title"), None, "'title'", line)
        intro = self.optional_text(top, "intro", None, "'intro'")
        outro = self.optional_text(top, "outro", None, "'outro'")
        finish_entry = top.get("finish_early")
        finish_early = bool(finish_entry and self.boolean(finish_entry, None))

        items_entry = self.require(top, "items", line, None, "the questionnaire")
        built: list[_Built] = []
        if items_entry is not None:
            if not isinstance(items_entry.value, yaml.SequenceNode):
                self.error(items_entry.line, "'items' must be a list")
            elif not items_entry.value.value:
                self.error(items_entry.line, "'items' is empty")
            else:
                built = self.items(items_entry.value.value)

        if self.errors or questionnaire_id is None or title is None or not built:
            return None
        items = tuple(item for entry in built for item in entry.items)
        measures = tuple(dict.fromkeys(item.measure for item in items if item.measure))
        questionnaire = Questionnaire(
            id=questionnaire_id,
            title=title,
            items=items,
            default_locale=self.default_locale,
            intro=intro,
            outro=outro,
            measures=measures,
            finish_early=finish_early,
        )
        templates = {
            item.id: entry.template for entry in built if entry.template for item in entry.items
        }
        content_hash = _content_hash(questionnaire, templates)
        return dataclasses.replace(questionnaire, content_hash=content_hash)

    def compose(self, text: str) -> yaml.Node | None:
        try:
            root = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = int(mark.line) + 1 if mark is not None else 1
            problem = exc.problem or "cannot be read"
            if exc.context:
                context = exc.context
                if exc.context_mark is not None and exc.context_mark.line + 1 != line:
                    context += f" (line {exc.context_mark.line + 1})"
                problem = f"{problem}, {context}" if exc.problem else context
            self.error(line, f"invalid YAML: {problem}")
            return None
        except yaml.YAMLError as exc:
            position = getattr(exc, "position", 0)
            self.error(text[:position].count("\n") + 1, f"invalid YAML: {exc}")
            return None
        if root is None:
            self.error(1, "the definition is empty")
        return root

    # -- items -------------------------------------------------------------------------

    def items(self, nodes: list[yaml.Node]) -> list[_Built]:
        declared = self.declare(nodes)
        built: list[_Built] = []
        for index, node in enumerate(nodes):
            entry = self.item(index, node)
            if entry is not None:
                built.append(entry)
        self.resolve_conditions(built, declared)
        return built

    def raw_id(self, node: yaml.Node) -> str | None:
        """The `id` of an item as written, to name it in errors found before it is read."""
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == "id":
                    return self.scalar(value)
        return None

    def declare(self, nodes: list[yaml.Node]) -> dict[str, tuple[int, int]]:
        """Every item id (measure blocks expanded) -> (entry index, line); reports duplicates."""
        declared: dict[str, tuple[int, int]] = {}
        for index, node in enumerate(nodes):
            if not isinstance(node, yaml.MappingNode):
                continue
            entries = {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            id_node = entries.get("id")
            item_id = self.scalar(id_node) if id_node is not None else None
            if item_id is None or id_node is None:
                continue
            if item_id in declared:
                first = declared[item_id][1]
                self.error(
                    _line(id_node),
                    f"duplicate item id '{item_id}' (first used on line {first})",
                    item_id,
                )
                continue
            declared[item_id] = (index, _line(id_node))
            kind = entries.get("kind")
            if kind is None or self.scalar(kind) != ItemKind.MEASURE_STATUS.value:
                continue
            self.block_ids.add(item_id)
            block = entries.get("measures")
            if isinstance(block, yaml.SequenceNode):
                for slug_node in block.value:
                    slug = self.scalar(slug_node)
                    if slug is not None:
                        declared.setdefault(f"{item_id}.{slug}", (index, _line(slug_node)))
        return declared

    def item(self, index: int, node: yaml.Node) -> _Built | None:
        entries = self.mapping(node, self.raw_id(node), "an item")
        if entries is None:
            return None
        line = _line(node)
        id_entry = self.require(entries, "id", line, None, "an item")
        raw_id = self.scalar(id_entry.value) if id_entry else None
        item_id = self.slug(id_entry.value, raw_id, "item id") if id_entry else None
        label = raw_id

        kind: ItemKind | None = None
        kind_entry = self.require(entries, "kind", line, label, "an item")
        if kind_entry is not None:
            value = self.scalar(kind_entry.value) or ""
            try:
                kind = ItemKind(value)
            except ValueError:
                names = ", ".join(k.value for k in ItemKind)
                self.error(
                    kind_entry.line,
                    f"unknown kind '{value}'{_suggest(value, [k.value for k in ItemKind])};"
                    f" use one of {names}",
                    label,
                )
        if kind is None:
            self.check_keys(entries, _ALL_ITEM_KEYS, label, "an item")
            return _Built(index, label, [], self.show_if(entries.get("show_if"), label), ok=False)
        excluded = _KIND_EXCLUDED.get(kind, ())
        allowed = [k for k in _COMMON_KEYS if k not in excluded] + list(_KIND_KEYS[kind])
        self.check_keys(entries, allowed, label, "an item", kind)

        errors_before = len(self.errors)
        common = self.common(entries, label, line)
        show_if = self.show_if(entries.get("show_if"), label)
        if kind is ItemKind.MEASURE_STATUS:
            template = self.optional_text(entries, "text", label, "the question template")
            items = self.measure_block(entries, item_id, label, line, common, template)
            template = template or std.MEASURE_QUESTION
        else:
            built = self.single_item(entries, kind, item_id, label, line, common)
            items, template = ([built] if built else []), None
        ok = len(self.errors) == errors_before and item_id is not None and bool(items)
        return _Built(index, label, items, show_if, ok, template)

    def common(self, entries: Mapping[str, _Entry], label: str | None, line: int) -> _Common:
        """Fields every kind shares (text is handled per kind)."""
        required_entry = entries.get("required")
        required = self.boolean(required_entry, label) if required_entry is not None else True
        help_text = self.optional_text(entries, "help", label, "'help'")
        comment: LocalizedText | None = None
        entry = entries.get("comment")
        if entry is not None and not entry.is_null:
            node = entry.value
            if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
                comment = std.COMMENT_PROMPT if self.boolean(entry, label) else None
            else:
                comment = self.text(entry, label, "'comment'", line)
        return _Common(required=required is not False, help=help_text, comment=comment)

    def single_item(
        self,
        entries: Mapping[str, _Entry],
        kind: ItemKind,
        item_id: str | None,
        label: str | None,
        line: int,
        common: _Common,
    ) -> Item | None:
        text = self.text(entries.get("text"), label, "'text'", line)
        options: tuple[Option, ...] = ()
        picks: tuple[int | None, int | None] = (None, None)
        bounds: tuple[Decimal | None, Decimal | None, bool] = (None, None, True)
        max_length: int | None = None
        decline: LocalizedText | None = None
        if kind in (ItemKind.SINGLE, ItemKind.MULTI):
            options = self.options(entries, kind, label, line)
        elif kind is ItemKind.SCALE:
            options = self.scale(entries, label, line)
        elif kind is ItemKind.YES_NO_NA:
            include_na = entries.get("include_na")
            keep_na = self.boolean(include_na, label) if include_na is not None else True
            options = std.YES_NO_NA if keep_na is not False else std.YES_NO_NA[:2]
        elif kind is ItemKind.CONSENT:
            options = std.CONSENT
            decline = self.optional_text(entries, "decline_message", label, "'decline_message'")
            decline = decline or std.DECLINE_MESSAGE
        elif kind is ItemKind.TEXT:
            length = entries.get("max_length")
            max_length = (
                self.integer(length, label, 1) if length is not None else DEFAULT_MAX_LENGTH
            )
        elif kind is ItemKind.NUMBER:
            bounds = self.number(entries, label)
        if kind is ItemKind.MULTI:
            written = entries.get("options")
            count = (
                len(written.value.value)
                if written is not None and isinstance(written.value, yaml.SequenceNode)
                else len(options)
            )
            picks = self.picks(entries, label, count)
        if item_id is None or text is None:
            return None
        return Item(
            id=item_id,
            kind=kind,
            text=text,
            options=options,
            required=common.required,
            comment=common.comment,
            min_picks=picks[0],
            max_picks=picks[1],
            max_length=max_length,
            min_value=bounds[0],
            max_value=bounds[1],
            integer=bounds[2],
            decline_message=decline,
            help=common.help,
        )

    def options(
        self,
        entries: Mapping[str, _Entry],
        kind: ItemKind,
        label: str | None,
        line: int,
    ) -> tuple[Option, ...]:
        entry = entries.get("options")
        if entry is None or entry.is_null:
            self.error(line, f"a {kind.value} item needs 'options'", label)
            return ()
        if not isinstance(entry.value, yaml.SequenceNode):
            self.error(entry.line, "'options' must be a list", label)
            return ()
        minimum = 1 if kind is ItemKind.MULTI else 2
        if len(entry.value.value) < minimum:
            needed = "at least one option" if minimum == 1 else "at least two options"
            self.error(entry.line, f"a {kind.value} item needs {needed}", label)
        result: list[Option] = []
        seen: dict[str, int] = {}
        for node in entry.value.value:
            option = self.option(node, kind, label)
            if option is None:
                continue
            option_line = _line(node)
            if option.id in seen:
                self.error(
                    option_line,
                    f"duplicate option id '{option.id}' (first on line {seen[option.id]})",
                    label,
                )
                continue
            seen[option.id] = option_line
            result.append(option)
        return tuple(result)

    def option(self, node: yaml.Node, kind: ItemKind, label: str | None) -> Option | None:
        entries = self.mapping(node, label, "an option")
        if entries is None:
            return None
        line = _line(node)
        allowed = _OPTION_KEYS if kind is ItemKind.SCALE else _OPTION_KEYS[:2]
        for name, entry in entries.items():
            if name == "outside_scale" and kind is not ItemKind.SCALE:
                self.error(entry.line, "'outside_scale' only applies to scale items", label)
        self.check_keys(
            {k: v for k, v in entries.items() if k != "outside_scale"}, allowed, label, "an option"
        )
        id_entry = self.require(entries, "id", line, label, "an option")
        raw_id = self.scalar(id_entry.value) if id_entry else None
        option_id = self.slug(id_entry.value, label, "option id") if id_entry else None
        what = f"the label of option '{raw_id}'" if raw_id else "an option label"
        text = self.text(entries.get("label"), label, what, line)
        outside = entries.get("outside_scale")
        outside_scale = bool(self.boolean(outside, label)) if outside is not None else False
        if option_id is None or text is None:
            return None
        return Option(id=option_id, label=text, outside_scale=outside_scale)

    def scale(
        self, entries: Mapping[str, _Entry], label: str | None, line: int
    ) -> tuple[Option, ...]:
        shorthand = entries.get("scale")
        if shorthand is None:
            result = self.options(entries, ItemKind.SCALE, label, line)
        elif "options" in entries:
            self.error(shorthand.line, "use either 'scale' or 'options', not both", label)
            return ()
        else:
            name = self.scalar(shorthand.value) or ""
            if name not in std.STANDARD_SCALES:
                known = ", ".join(std.STANDARD_SCALES)
                self.error(
                    shorthand.line,
                    f"unknown scale '{name}'{_suggest(name, std.STANDARD_SCALES)}; use {known}",
                    label,
                )
                return ()
            return std.STANDARD_SCALES[name]
        inside = [option for option in result if not option.outside_scale]
        if result and len(inside) < 2:
            self.error(
                entries["options"].line, "a scale needs at least two options on the scale", label
            )
        return result

    def picks(
        self, entries: Mapping[str, _Entry], label: str | None, count: int
    ) -> tuple[int | None, int | None]:
        low = entries.get("min_picks")
        high = entries.get("max_picks")
        min_picks = self.integer(low, label, 0) if low is not None else None
        max_picks = self.integer(high, label, 1) if high is not None else None
        if low is not None and min_picks is not None:
            if max_picks is not None and min_picks > max_picks:
                self.error(
                    low.line, f"min_picks ({min_picks}) is above max_picks ({max_picks})", label
                )
            elif count and min_picks > count:
                self.error(
                    low.line,
                    f"min_picks ({min_picks}) is more than the number of options ({count})",
                    label,
                )
        if high is not None and max_picks is not None and count and max_picks > count:
            self.error(
                high.line,
                f"max_picks ({max_picks}) is more than the number of options ({count})",
                label,
            )
        return min_picks, max_picks

    def number(
        self, entries: Mapping[str, _Entry], label: str | None
    ) -> tuple[Decimal | None, Decimal | None, bool]:
        integer_entry = entries.get("integer")
        integer = self.boolean(integer_entry, label) if integer_entry is not None else True
        bounds: dict[str, Decimal | None] = {}
        for name in ("min", "max"):
            entry = entries.get(name)
            value = self.decimal(entry, label) if entry is not None else None
            fractional = value is not None and value != value.to_integral()
            if entry is not None and integer and fractional:
                self.error(entry.line, f"'{name}' must be a whole number (integer is true)", label)
            bounds[name] = value
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and low > high:
            self.error(entries["min"].line, f"min ({low}) is above max ({high})", label)
        return low, high, integer is not False

    def measure_block(
        self,
        entries: Mapping[str, _Entry],
        item_id: str | None,
        label: str | None,
        line: int,
        common: _Common,
        template: LocalizedText | None,
    ) -> list[Item]:
        if template is not None:
            for locale in LOCALES:
                value = getattr(template, locale)
                if value and "{measure}" not in value:
                    self.error(
                        entries["text"].line,
                        f"the question template ({locale}) must contain '{{measure}}'",
                        label,
                    )
        template = template or std.MEASURE_QUESTION
        entry = entries.get("measures")
        if entry is None or entry.is_null:
            self.error(line, "a measure_status item needs 'measures'", label)
            return []
        if not isinstance(entry.value, yaml.SequenceNode) or not entry.value.value:
            self.error(entry.line, "'measures' must be a non-empty list of measure ids", label)
            return []
        items: list[Item] = []
        seen: dict[str, int] = {}
        for node in entry.value.value:
            slug = self.slug(node, label, "measure id")
            if slug is None:
                continue
            if slug in seen:
                self.error(
                    _line(node),
                    f"measure '{slug}' is listed twice (first on line {seen[slug]})",
                    label,
                )
                continue
            seen[slug] = _line(node)
            if self.measures is not None and slug not in self.measures:
                known = _suggest(slug, self.measures)
                self.error(_line(node), f"unknown measure '{slug}'{known}", label)
                continue
            title = (
                self.measures[slug].title
                if self.measures is not None
                else LocalizedText(nb=slug, nn=slug, en=slug)
            )
            if item_id is not None:
                items.append(
                    Item(
                        id=f"{item_id}.{slug}",
                        kind=ItemKind.MEASURE_STATUS,
                        text=_fill(template, title, self.default_locale),
                        options=std.MEASURE_ANSWERS,
                        measure=slug,
                        required=common.required,
                        comment=common.comment,
                        help=common.help,
                    )
                )
        return items

    # -- conditions --------------------------------------------------------------------

    def show_if(self, entry: _Entry | None, label: str | None) -> _Ref | None:
        if entry is None or entry.is_null:
            return None
        entries = self.mapping(entry.value, label, "'show_if'")
        if entries is None:
            return None
        self.check_keys(entries, _SHOW_IF_KEYS, label, "'show_if'")
        ref_entry = self.require(entries, "item", entry.line, label, "'show_if'")
        ref = self.scalar(ref_entry.value) if ref_entry else None
        if ref_entry is not None and ref is None:
            self.error(ref_entry.line, "'show_if: item' must be an item id", label)
        any_of, equals = entries.get("any_of"), entries.get("equals")
        option_nodes: list[yaml.Node] = []
        if any_of is not None and equals is not None:
            self.error(equals.line, "use either 'any_of' or 'equals' in show_if, not both", label)
        elif equals is not None:
            option_nodes = [equals.value]
        elif any_of is not None:
            if isinstance(any_of.value, yaml.SequenceNode) and any_of.value.value:
                option_nodes = list(any_of.value.value)
            else:
                self.error(any_of.line, "'any_of' must be a non-empty list of option ids", label)
        else:
            self.error(entry.line, "'show_if' needs 'any_of' (or 'equals')", label)
        picked: list[tuple[str, int]] = []
        for node in option_nodes:
            value = self.scalar(node)
            if value is None:
                self.error(_line(node), "show_if options must be option ids", label)
            else:
                picked.append((value, _line(node)))
        if ref is None or ref_entry is None or not picked:
            return None
        return _Ref(ref, ref_entry.line, tuple(picked))

    def resolve_conditions(
        self, built: list[_Built], declared: Mapping[str, tuple[int, int]]
    ) -> None:
        known: dict[str, Item] = {}
        for entry in built:
            ref = entry.show_if
            if ref is not None:
                condition = self.condition(ref, entry.index, entry.label, known, declared)
                if condition is not None:
                    entry.items = [dataclasses.replace(i, show_if=condition) for i in entry.items]
            if entry.ok:
                known.update((item.id, item) for item in entry.items)

    def condition(
        self,
        ref: _Ref,
        index: int,
        label: str | None,
        known: Mapping[str, Item],
        declared: Mapping[str, tuple[int, int]],
    ) -> Condition | None:
        target = known.get(ref.item)
        valid: list[str]
        if ref.item in self.block_ids:
            self.error(
                ref.line,
                f"'{ref.item}' is a measure block: refer to one of its items,"
                f" such as '{ref.item}.<measure>'",
                label,
            )
            return None
        if target is None and ref.item not in declared:
            hint = _suggest(ref.item, known)
            self.error(ref.line, f"show_if refers to unknown item '{ref.item}'{hint}", label)
            return None
        if target is None:
            where, line = declared[ref.item]
            if where == index:
                self.error(ref.line, "show_if cannot refer to the item itself", label)
                return None
            if where > index:
                self.error(
                    ref.line,
                    f"show_if refers to '{ref.item}', which comes later (line {line});"
                    " conditions can only look at earlier items",
                    label,
                )
                return None
            if ref.item.split(".", 1)[0] not in self.block_ids:
                return None  # an earlier item with errors of its own, reported already
            valid = [option.id for option in std.MEASURE_ANSWERS]
        elif target.kind not in _CHOICE_KINDS:
            self.error(
                ref.line,
                f"show_if refers to '{ref.item}', a {target.kind.value} item without options",
                label,
            )
            return None
        else:
            valid = [option.id for option in target.options]
        ok = True
        for option_id, line in ref.options:
            if option_id not in valid:
                ok = False
                self.error(
                    line,
                    f"item '{ref.item}' has no option '{option_id}'{_suggest(option_id, valid)}"
                    f"; its options are {', '.join(valid)}",
                    label,
                )
        if not ok:
            return None
        return Condition(item=ref.item, any_of=tuple(dict.fromkeys(o for o, _ in ref.options)))


def _fill(template: LocalizedText, title: LocalizedText, default_locale: str) -> LocalizedText:
    """The question of one measure: the template with the title in the same locale."""
    values: dict[str, str] = {}
    for locale in LOCALES:
        pattern = getattr(template, locale)
        if pattern:
            values[locale] = pattern.replace("{measure}", title.get(locale, default_locale))
    return LocalizedText(**values)


def _content_hash(questionnaire: Questionnaire, templates: Mapping[str, LocalizedText]) -> str:
    """Sha256 of the canonical JSON of the definition.

    Measure items are hashed with their question template rather than the measure titles,
    so the hash identifies the definition file's content whatever measures map is used.
    """
    data: dict[str, object] = {
        field.name: _canonical(getattr(questionnaire, field.name))
        for field in dataclasses.fields(questionnaire)
        if field.name not in ("content_hash", "items")
        # Added later: left out while off, so files loaded before keep their hash.
        and not (field.name == "finish_early" and not questionnaire.finish_early)
    }
    data["items"] = [
        _canonical(
            dataclasses.replace(item, text=templates[item.id]) if item.id in templates else item
        )
        for item in questionnaire.items
    ]
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _canonical(value: object) -> object:
    """A JSON-safe, canonical form of model values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    return value

"""A loopback stand-in of the Telegram Bot API: records calls, simulates users, injects faults."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import math
import mimetypes
import re
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from aiohttp.web_request import FileField

from tests.peers.lifecycle import Started

# Point python-telegram-bot at `base_url` / `base_file_url`; simulated users write and press
# buttons, their updates reach the bot by long polling or webhook, and `chat(chat_id)` shows what
# that user would see. Answers keep the real API's shapes and error texts so that PTB turns them
# into its own types and exceptions. Everything stays in memory; it listens on 127.0.0.1 only.

JSON = dict[str, Any]
T = TypeVar("T")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
LIMITED_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"}
)
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a content and reply markup of the current message"
)
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


class _Default(enum.Enum):
    """Sentinel type for ``secret=``."""

    SECRET = "the webhook's secret"


WEBHOOK_SECRET = _Default.SECRET
SecretOverride = str | None | Literal[_Default.SECRET]


# --- errors -------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer of the Bot API; `payload()` is the body the real API sends."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        """The JSON body: ok false, error_code, description and, for 429, retry_after."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 answer with the real API's 'Bad Request: ...' wording."""
    return ApiError(400, f"Bad Request: {detail}")


def default_description(status: int, retry_after: int | None = None) -> str:
    """The description the real API sends with this status."""
    if status == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    return _DESCRIPTIONS.get(status, "Internal Server Error")


# --- request parameters -------------------------------------------------------------------

_INT_PARAMS = frozenset(
    {"message_id", "offset", "limit", "max_connections", "cache_time", "message_thread_id"}
)
_FLOAT_PARAMS = frozenset({"timeout"})
_BOOL_PARAMS = frozenset(
    {
        "show_alert",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "has_spoiler",
        "disable_content_type_detection",
        "allow_sending_without_reply",
        "show_caption_above_media",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
    }
)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)


def _maybe_int(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return value


def _coerce(name: str, value: Any) -> Any:
    """A form value (always a string) as the type the Bot API gives this parameter."""
    if name == "chat_id":
        return _maybe_int(value)
    if name in _JSON_PARAMS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if not isinstance(value, str):
        return value
    if name in _INT_PARAMS:
        return _maybe_int(value)
    if name in _FLOAT_PARAMS:
        try:
            return float(value)
        except ValueError:
            return value
    if name in _BOOL_PARAMS and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


async def _read_params(request: web.Request) -> JSON:
    """Query, form, multipart or JSON parameters of a request, coerced per parameter."""
    raw: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("parameters must be a JSON object")
            raw.update(body)
        else:
            raw.update((await request.post()).items())
    params: JSON = {}
    for name, value in raw.items():
        if isinstance(value, FileField):
            params[name] = Upload(value.filename, value.content_type, value.file.read())
        else:
            params[name] = _coerce(name, value)
    return params


def _int_param(params: JSON, name: str, missing: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(missing)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"invalid {name} specified")
    return value


def _opt_number(params: JSON, name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"invalid {name} specified")
    return float(value)


# --- formatted text -----------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8", "surrogatepass"))


def _entity_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


class _Builder:
    """Plain text and entities being assembled while parsing markup."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[JSON] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def since(self, index: int) -> str:
        return "".join(self.parts[index:])

    def since_offset(self, start: int) -> str:
        """The plain text from UTF-16 offset `start` on."""
        encoded = "".join(self.parts).encode("utf-16-le", "surrogatepass")
        return encoded[start * 2 :].decode("utf-16-le", "surrogatepass")

    def entity(self, kind: str, start: int, end: int | None = None, **extra: Any) -> None:
        length = (self.offset if end is None else end) - start
        if length > 0:
            self.entities.append({"type": kind, "offset": start, "length": length, **extra})

    def result(self) -> tuple[str, list[JSON]]:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ordered


_HTML_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);?")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _html_char(src: str, pos: int) -> tuple[str, int] | None:
    """The character an HTML entity at `pos` stands for, and where it ends (None: literal &)."""
    match = _HTML_ENTITY.match(src, pos)
    if match is None:
        return None
    body = match.group(1)
    if body.startswith("#"):
        if len(body) > 8:
            return None
        code = int(body[2:], 16) if body[1] == "x" else int(body[1:])
        if not 0 < code < 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), match.end()
    char = _HTML_NAMED.get(body)
    return (char, match.end()) if char else None


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int
    part: int
    begin: int
    language: str | None = None


def _read_attrs(src: str, pos: int, begin: int) -> tuple[dict[str, str], int]:
    """Attributes of a start tag from `pos`; returns them and the index of the closing '>'."""
    attrs: dict[str, str] = {}
    n = len(src)
    unclosed = f"Unclosed start tag at byte offset {_byte_offset(src, begin)}"
    while True:
        while pos < n and src[pos].isspace():
            pos += 1
        if pos >= n:
            raise _entity_error(unclosed)
        if src[pos] == ">":
            return attrs, pos
        start = pos
        while pos < n and not src[pos].isspace() and src[pos] not in "=>":
            pos += 1
        attr = src[start:pos].lower()
        while pos < n and src[pos].isspace():
            pos += 1
        if pos >= n or src[pos] != "=":
            attrs[attr] = ""
            continue
        pos += 1
        while pos < n and src[pos].isspace():
            pos += 1
        if pos >= n:
            raise _entity_error(unclosed)
        if src[pos] in "'\"":
            quote, pos, value = src[pos], pos + 1, []
            while pos < n and src[pos] != quote:
                decoded = _html_char(src, pos) if src[pos] == "&" else None
                if decoded:
                    value.append(decoded[0])
                    pos = decoded[1]
                else:
                    value.append(src[pos])
                    pos += 1
            if pos >= n:
                raise _entity_error(unclosed)
            attrs[attr] = "".join(value)
            pos += 1
        else:
            start = pos
            while pos < n and (src[pos].isalnum() or src[pos] in ".-"):
                pos += 1
            if pos < n and not src[pos].isspace() and src[pos] != ">":
                raise _entity_error(
                    f"Unexpected end of name token at byte offset {_byte_offset(src, start)}"
                )
            attrs[attr] = src[start:pos].lower()


def _close_html(builder: _Builder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    """Turn a closed tag into its entity."""
    kind = _HTML_KINDS[tag.name]
    css = tag.attrs.get("class", "")
    if kind == "code" and stack and stack[-1].name == "pre" and css.startswith("language-"):
        stack[-1].language = css.removeprefix("language-")
        return
    extra: JSON = {}
    if kind == "text_link":
        extra["url"] = tag.attrs.get("href") or builder.since(tag.part)
    elif kind == "pre" and tag.language:
        extra["language"] = tag.language
    elif kind == "blockquote" and "expandable" in tag.attrs:
        kind = "expandable_blockquote"
    elif kind == "custom_emoji":
        if not tag.attrs.get("emoji-id"):
            return
        extra["custom_emoji_id"] = tag.attrs["emoji-id"]
    builder.entity(kind, tag.offset, **extra)


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Telegram's HTML parse mode: plain text and entities, or the API's parse error."""
    builder, stack = _Builder(), list[_OpenTag]()
    i, n = 0, len(src)
    while i < n:
        char = src[i]
        if char == "&" and (decoded := _html_char(src, i)):
            builder.add(decoded[0])
            i = decoded[1]
            continue
        if char != "<":
            builder.add(char)
            i += 1
            continue
        begin, at = i, _byte_offset(src, i)
        if src.startswith("</", i):
            j = i + 2
            while j < n and not src[j].isspace() and src[j] != ">":
                j += 1
            name = src[i + 2 : j].lower()
            while j < n and src[j].isspace():
                j += 1
            if j >= n or src[j] != ">":
                raise _entity_error(f"Unclosed end tag at byte offset {at}")
            if not stack:
                raise _entity_error(f"Unexpected end tag at byte offset {at}")
            tag = stack.pop()
            if name and name != tag.name:
                raise _entity_error(
                    f'Unmatched end tag at byte offset {at}, expected "</{tag.name}>", '
                    f'found "</{name}>"'
                )
            _close_html(builder, tag, stack)
            i = j + 1
            continue
        j = i + 1
        while j < n and not src[j].isspace() and src[j] != ">":
            j += 1
        if j >= n:
            raise _entity_error(f"Unclosed start tag at byte offset {at}")
        name = src[i + 1 : j].lower()
        if name not in _HTML_KINDS:
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {at}')
        attrs, j = _read_attrs(src, j, begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _entity_error(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        stack.append(_OpenTag(name, attrs, builder.offset, len(builder.parts), begin))
        i = j + 1
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return builder.result()


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _md_code(src: str, i: int, builder: _Builder, escapes: bool) -> int:
    """A `code` or ```pre``` span starting at `i`; returns the index after it."""
    fence = "```" if src.startswith("```", i) else "`"
    j, n, content = i + len(fence), len(src), []
    while j < n and not src.startswith(fence, j):
        if escapes and src[j] == "\\" and j + 1 < n and src[j + 1] in "`\\":
            content.append(src[j + 1])
            j += 2
            continue
        content.append(src[j])
        j += 1
    if j >= n:
        kind = "Pre" if len(fence) == 3 else "Code"
        detail = f"Can't find end of {kind} entity at byte offset {_byte_offset(src, i)}"
        if not escapes:
            detail = f"Can't find end of the entity starting at byte offset {_byte_offset(src, i)}"
        raise _entity_error(detail)
    text, extra = "".join(content), dict[str, Any]()
    if len(fence) == 3:
        first, newline, rest = text.partition("\n")
        if newline and first and all(33 <= ord(c) <= 126 for c in first):
            text, extra = rest, {"language": first}
    start = builder.offset
    builder.add(text)
    builder.entity("pre" if len(fence) == 3 else "code", start, **extra)
    return j + len(fence)


def parse_markdown_v2(src: str) -> tuple[str, list[JSON]]:
    """Telegram's MarkdownV2 parse mode: plain text and entities, or the API's parse error."""
    builder = _Builder()
    stack: list[tuple[str, int, int]] = []
    quote: int | None = None
    i, n = 0, len(src)

    def toggle(kind: str) -> None:
        if stack and stack[-1][0] == kind:
            _, start, _ = stack.pop()
            builder.entity(kind, start)
        elif any(open_kind == kind for open_kind, _, _ in stack):
            open_kind, _, begin = stack[-1]
            raise _entity_error(
                f"Can't find end of {_MD2_NAMES[open_kind]} entity at byte offset "
                f"{_byte_offset(src, begin)}"
            )
        else:
            stack.append((kind, builder.offset, i))

    while i < n:
        char = src[i]
        line_start = i == 0 or src[i - 1] == "\n"
        if line_start and quote is not None and char != ">":
            builder.entity("blockquote", quote, end=builder.offset - 1)
            quote = None
        if char == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
            builder.add(src[i + 1])
            i += 2
        elif line_start and char == ">":
            quote = builder.offset if quote is None else quote
            i += 1
        elif char == "`":
            i = _md_code(src, i, builder, escapes=True)
        elif char in "*~":
            toggle("bold" if char == "*" else "strikethrough")
            i += 1
        elif char == "_":
            width = 2 if src.startswith("__", i) else 1
            toggle("underline" if width == 2 else "italic")
            i += width
        elif src.startswith("||", i):
            toggle("spoiler")
            i += 2
        elif src.startswith("![", i) or char == "[":
            kind = "text_link" if char == "[" else "custom_emoji"
            stack.append((kind, builder.offset, i))
            i += 1 if char == "[" else 2
        elif char == "]" and stack and stack[-1][0] in ("text_link", "custom_emoji"):
            kind, start, _ = stack.pop()
            url, i = _md2_url(src, i + 1)
            if kind == "custom_emoji":
                emoji_id = url.partition("id=")[2]
                if emoji_id:
                    builder.entity(kind, start, custom_emoji_id=emoji_id)
            elif url or re.match(r"https?://", builder.since_offset(start)):
                builder.entity(kind, start, url=url or builder.since_offset(start))
        elif char in _MD2_RESERVED:
            raise _entity_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            builder.add(char)
            i += 1
    if quote is not None:
        builder.entity("blockquote", quote)
    if stack:
        kind, _, begin = stack[-1]
        raise _entity_error(
            f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset "
            f"{_byte_offset(src, begin)}"
        )
    return builder.result()


def _md2_url(src: str, i: int) -> tuple[str, int]:
    """The `(url)` after a link's ']' at `i` (empty if absent) and the index after it."""
    if not src.startswith("(", i):
        return "", i
    j, n, url = i + 1, len(src), []
    while j < n and src[j] != ")":
        if src[j] == "\\" and j + 1 < n and src[j + 1] in ")\\":
            j += 1
        url.append(src[j])
        j += 1
    if j >= n:
        raise _entity_error(f"Can't find end of a url at byte offset {_byte_offset(src, i)}")
    return "".join(url), j + 1


def parse_markdown(src: str) -> tuple[str, list[JSON]]:
    """Telegram's legacy Markdown parse mode: plain text and entities, or the parse error."""
    builder = _Builder()
    i, n = 0, len(src)
    while i < n:
        char = src[i]
        unclosed = f"Can't find end of the entity starting at byte offset {_byte_offset(src, i)}"
        if char == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            builder.add(src[i + 1])
            i += 2
        elif char in "_*":
            end = src.find(char, i + 1)
            if end < 0:
                raise _entity_error(unclosed)
            start = builder.offset
            builder.add(src[i + 1 : end])
            builder.entity("bold" if char == "*" else "italic", start)
            i = end + 1
        elif char == "`":
            i = _md_code(src, i, builder, escapes=False)
        elif char == "[":
            middle = src.find("](", i + 1)
            end = src.find(")", middle + 2) if middle >= 0 else -1
            if end < 0:
                raise _entity_error(unclosed)
            start = builder.offset
            builder.add(src[i + 1 : middle])
            builder.entity("text_link", start, url=src[middle + 2 : end])
            i = end + 1
        else:
            builder.add(char)
            i += 1
    return builder.result()


def render_text(text: str, parse_mode: Any, entities: Any = None) -> tuple[str, list[JSON]]:
    """Text as Telegram stores it: explicit entities, else parsed per parse_mode."""
    if isinstance(entities, list):
        return text, entities
    mode = str(parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise bad_request(f"unsupported parse_mode {parse_mode}")


_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")


def command_entities(text: str) -> list[JSON]:
    """The bot_command entities Telegram marks in a user's text (`/start CODE`, `/help@bot`)."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _BOT_COMMAND.finditer(text)
    ]


# --- files ----------------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG or WebP image; None for anything else."""
    size: tuple[int, int] | None = None
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        size = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        size = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            size = (
                1 + int.from_bytes(data[24:27], "little"),
                1 + int.from_bytes(data[27:30], "little"),
            )
        elif chunk == b"VP8 ":
            width = int.from_bytes(data[26:28], "little") & 0x3FFF
            size = width, int.from_bytes(data[28:30], "little") & 0x3FFF
        elif chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            size = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if size is None or min(size) <= 0:
        return None
    return size


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
        elif marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            return int.from_bytes(data[i + 7 : i + 9], "big"), height
        else:
            i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def _photo_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """The sizes Telegram keeps of a photo: thumbnails up to the original, at most 1280 px."""
    longest, sizes = max(width, height), []
    for limit in (90, 320, 800, 1280):
        scale = min(1.0, limit / longest)
        size = max(1, round(width * scale)), max(1, round(height * scale))
        if size not in sizes:
            sizes.append(size)
        if scale == 1.0:
            break
    return sizes


@dataclass
class StoredFile:
    """A file the bot uploaded, as the stand-in keeps it: bytes, name, type and Telegram ids."""

    file_id: str
    file_unique_id: str
    data: bytes = field(repr=False)
    filename: str | None
    mime_type: str | None
    file_path: str
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)


# --- what was said --------------------------------------------------------------------------


@dataclass
class Call:
    """One request the stand-in received, and how it was answered."""

    seq: int
    method: str
    params: JSON
    time: float
    chat_id: int | str | None
    status: int | None = None
    result: Any = None
    description: str | None = None
    dropped: bool = False
    """The connection was closed instead of answering (status 0 if the method did not run)."""

    @property
    def done(self) -> bool:
        """Whether the stand-in has answered it."""
        return self.status is not None

    @property
    def ok(self) -> bool:
        """Whether it was answered with ok: true."""
        return self.status == 200


@dataclass
class BotMessage:
    """A message the bot sent, in its current state (after edits; maybe deleted)."""

    chat_id: int
    message_id: int
    date: int
    kind: Literal["text", "photo", "document"]
    text: str
    entities: list[JSON] = field(default_factory=list)
    source: str = ""
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    media: JSON = field(default_factory=dict, repr=False)
    file: StoredFile | None = None
    edit_date: int | None = None
    history: list[str] = field(default_factory=list)
    deleted: bool = False
    editable: bool = True
    sender: JSON = field(default_factory=dict, repr=False)
    chat: JSON = field(default_factory=dict, repr=False)

    @property
    def keyboard(self) -> list[list[tuple[str, str | None]]]:
        """The inline keyboard as rows of (text, callback_data)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[(button["text"], button.get("callback_data")) for button in row] for row in rows]

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """The inline keyboard's buttons, row by row, as (text, callback_data)."""
        return [button for row in self.keyboard for button in row]

    def to_dict(self) -> JSON:
        """The message as the Bot API returns it (a `Message` object)."""
        data: JSON = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.kind == "text":
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        else:
            data.update(self.media)
            if self.text:
                data["caption"] = self.text
            if self.entities:
                data["caption_entities"] = self.entities
        if self.reply_markup:
            data["reply_markup"] = self.reply_markup
        return data


@dataclass(frozen=True)
class CallbackAnswer:
    """The bot's answerCallbackQuery to one button press."""

    callback_query_id: str
    data: str | None
    message_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(frozen=True)
class Delivery:
    """What became of one simulated update: queued for getUpdates, POSTed, or filtered out."""

    update: JSON
    route: Literal["queued", "webhook", "filtered"]
    status: int | None = None
    error: str | None = None

    @property
    def update_id(self) -> int:
        """The update's id."""
        return int(self.update["update_id"])


@dataclass
class Fault:
    """A rule that delays and/or fails matching requests `times` times (None: until removed)."""

    method: str | None
    chat_id: int | str | None
    status: int | None
    retry_after: int | None
    description: str | None
    delay: float
    times: int | None
    hits: int = 0
    drop: Literal["before", "after"] | None = None
    """Hang up instead of answering: before the method runs, or after (its answer is lost)."""

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        """Whether a request to `method` for `chat_id` falls under this rule."""
        return (self.method is None or self.method == method) and (
            self.chat_id is None or self.chat_id == chat_id
        )

    @property
    def exhausted(self) -> bool:
        """Whether it has been applied its number of times."""
        return self.times is not None and self.hits >= self.times

    def error(self) -> ApiError | None:
        """The error answer it gives, if any (a pure delay gives none)."""
        if self.status is None:
            return None
        retry = (self.retry_after or 1) if self.status == 429 else None
        description = self.description or default_description(self.status, retry)
        return ApiError(self.status, description, retry)


async def applied_faults(
    faults: list[Fault], method: str, key: int | str | None
) -> AsyncIterator[Fault]:
    """The rules matching a request, each counted, removed once used up and its delay waited.

    The caller gives the answer the rule asks for (and may stop at the first that answers).
    """
    for fault in list(faults):
        if not fault.matches(method, key):
            continue
        fault.hits += 1
        if fault.exhausted and fault in faults:
            faults.remove(fault)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        yield fault


class _Window:
    """A sliding window admitting `rate` requests per second (below 1: one per 1/rate s)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.limit, self.period = (int(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)
        self._times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more request would be admitted (0: now)."""
        while self._times and now - self._times[0] >= self.period:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.period - now

    def admit(self, now: float) -> None:
        """Count one admitted request."""
        self._times.append(now)


class _Markup(NamedTuple):
    kind: Literal["inline", "keyboard", "remove", "force_reply"]
    value: JSON


_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _parse_markup(markup: Any) -> _Markup | None:
    """A reply_markup parameter, validated like the real API does."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for button in (button for row in rows for button in row):
            _check_button(button)
        return _Markup("inline", markup)
    if "keyboard" in markup:
        return _Markup("keyboard", markup)
    if markup.get("remove_keyboard"):
        return _Markup("remove", markup)
    if markup.get("force_reply"):
        return _Markup("force_reply", markup)
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_button(button: Any) -> None:
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(prefix + 'Field "text" must be of type String')
    if not button["text"]:
        raise bad_request(prefix + "Text must be non-empty")
    if not any(action in button for action in _BUTTON_ACTIONS):
        raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not str(button["url"]).startswith(("http://", "https://", "tg://")):
        raise bad_request("BUTTON_URL_INVALID")


# --- chats and users --------------------------------------------------------------------------


class ChatView:
    """What one private chat shows: the bot's messages as they are now, and the user's side."""

    def __init__(self, user: SimulatedUser) -> None:
        self.user = user
        self.chat_id = user.chat_id
        self.callback_answers: list[CallbackAnswer] = []
        self.reply_keyboard: JSON | None = None
        self._ids = itertools.count(1)
        self._bot_messages: dict[int, BotMessage] = {}
        self._user_messages: dict[int, str] = {}
        self._events: list[tuple[str, int | str]] = []

    @property
    def messages(self) -> list[BotMessage]:
        """The bot's messages the user still sees, oldest first, with their current content."""
        return [m for m in self._bot_messages.values() if not m.deleted]

    @property
    def all_messages(self) -> list[BotMessage]:
        """Every message the bot sent here, deleted ones included."""
        return list(self._bot_messages.values())

    @property
    def texts(self) -> list[str]:
        """The current text (or caption) of each visible bot message."""
        return [m.text for m in self.messages]

    def message(self, message_id: int) -> BotMessage | None:
        """A bot message by id, deleted or not."""
        return self._bot_messages.get(message_id)

    def last(self) -> BotMessage:
        """The newest visible bot message."""
        if not self.messages:
            raise LookupError(f"the bot has sent nothing visible to chat {self.chat_id}")
        return self.messages[-1]

    def buttons(self, message: BotMessage | int | None = None) -> list[tuple[str, str | None]]:
        """The (text, callback_data) buttons of a message (default: the newest)."""
        if message is None:
            return self.last().buttons
        if isinstance(message, int):
            found = self.message(message)
            if found is None:
                raise LookupError(f"no bot message {message} in chat {self.chat_id}")
            return found.buttons
        return message.buttons

    def transcript(self) -> list[tuple[str, str]]:
        """The conversation in order as (who, text): 'user', 'bot' (current text), 'press'."""
        lines: list[tuple[str, str]] = []
        for who, ref in self._events:
            if who == "bot":
                message = self._bot_messages[int(ref)]
                if not message.deleted:
                    lines.append(("bot", message.text))
            elif who == "user":
                if int(ref) in self._user_messages:
                    lines.append(("user", self._user_messages[int(ref)]))
            else:
                lines.append((who, str(ref)))
        return lines

    def _next_id(self) -> int:
        return next(self._ids)


class SimulatedUser:
    """A Telegram user in a private chat with the bot, producing the updates Telegram would."""

    def __init__(
        self,
        api: TelegramApiStandIn,
        chat_id: int,
        first_name: str,
        language_code: str | None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> None:
        self.api = api
        self.chat_id = chat_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.chat = ChatView(self)

    @property
    def user_json(self) -> JSON:
        """The user as a Bot API `User` object."""
        data: JSON = {"id": self.chat_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    @property
    def chat_json(self) -> JSON:
        """The private chat as a Bot API `Chat` object."""
        data: JSON = {"id": self.chat_id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data

    async def send_text(self, text: str, *, secret: SecretOverride = WEBHOOK_SECRET) -> Delivery:
        """The user sends `text`; commands such as `/start CODE` get bot_command entities."""
        message_id = self.chat._next_id()
        self.chat._user_messages[message_id] = text
        self.chat._events.append(("user", message_id))
        message: JSON = {
            "message_id": message_id,
            "from": self.user_json,
            "chat": self.chat_json,
            "date": int(time.time()),
            "text": text,
        }
        if entities := command_entities(text):
            message["entities"] = entities
        return await self.api.deliver({"message": message}, secret=secret)

    async def press(
        self,
        message: BotMessage | int,
        callback_data: str,
        *,
        check: bool = True,
        secret: SecretOverride = WEBHOOK_SECRET,
    ) -> Delivery:
        """The user presses a button; with `check` it must be on a visible message."""
        message_id = message if isinstance(message, int) else message.message_id
        stored = self.chat.message(message_id)
        visible = stored is not None and not stored.deleted
        if check:
            if stored is None or not visible:
                raise LookupError(f"chat {self.chat_id} shows no bot message {message_id}")
            if callback_data not in [data for _, data in stored.buttons]:
                raise LookupError(
                    f"message {message_id} has no button {callback_data!r}: {stored.buttons}"
                )
        shown = stored.to_dict() if stored is not None and visible else None
        inaccessible = {"chat": self.chat_json, "message_id": message_id, "date": 0}
        query_id = self.api._new_query(self.chat_id, message_id, callback_data)
        self.chat._events.append(("press", callback_data))
        query = {
            "id": query_id,
            "from": self.user_json,
            "message": shown or inaccessible,
            "chat_instance": str((self.chat_id * 1_000_003 + self.api.bot_id) % 10**18),
            "data": callback_data,
        }
        return await self.api.deliver({"callback_query": query}, secret=secret)

    def block(self) -> Fault:
        """The user blocks the bot: every request for this chat gets 403 until `unblock()`."""
        return self.api.fail(chat_id=self.chat_id, status=403, times=None)

    def unblock(self) -> None:
        """The user unblocks the bot."""
        for fault in list(self.api.faults):
            if fault.chat_id == self.chat_id and fault.status == 403:
                self.api.cancel(fault)


@dataclass(frozen=True)
class _PendingQuery:
    chat_id: int
    message_id: int
    data: str


@dataclass(frozen=True)
class _Described:
    """A result the real API sends with a description (setWebhook, deleteWebhook)."""

    result: Any
    description: str


Handler = Callable[[JSON], Awaitable[Any]]


# --- the server ----------------------------------------------------------------------------------


class TelegramApiStandIn(Started):
    """The Bot API on 127.0.0.1: answers PTB, records calls, simulates users, injects faults."""

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "followup_test_bot",
        *,
        bot_name: str = "Followup",
        rate_limit_global: float | None = None,
        rate_limit_per_chat: float | None = None,
        max_calls: int | None = None,
        webhook_timeout: float = 10.0,
    ) -> None:
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"not a bot token: {token!r}")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.rate_limit_global = rate_limit_global
        self.rate_limit_per_chat = rate_limit_per_chat
        self.max_calls = max_calls
        self.webhook_timeout = webhook_timeout
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.rejected = 0
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.allowed_updates: list[str] | None = None
        self.files: dict[str, StoredFile] = {}
        self.commands_by_scope: dict[tuple[str, str], list[JSON]] = {}
        self._users: dict[int, SimulatedUser] = {}
        self._pending: deque[JSON] = deque()
        self._queries: dict[str, _PendingQuery] = {}
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._update_ids = itertools.count(100_000_001)
        self._file_numbers = itertools.count(1)
        self._next_seq = 0
        self._poll_generation = 0
        self._last_error: tuple[int, str] | None = None
        self._global_window: _Window | None = None
        self._chat_windows: dict[int | str, _Window] = {}
        self._chat_windows_rate: float | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._port: int | None = None
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "deleteMessage": self._delete_message,
                "getFile": self._get_file,
            }.items()
        }

    # lifecycle

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(client_max_size=MAX_DOCUMENT_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self._session = ClientSession(timeout=ClientTimeout(total=self.webhook_timeout))

    async def stop(self) -> None:
        """Answer pending long polls and stop listening."""
        self._closing = True
        self._notify()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        if self._port is None:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def root(self) -> str:
        """The server root (what TELEGRAM_API_BASE_URL is set to)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """PTB's `base_url`."""
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        """PTB's `base_file_url`."""
        return f"{self.root}/file/bot"

    @property
    def bot_user(self) -> JSON:
        """The bot as the `from` of its messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    # users and chats

    def user(
        self,
        chat_id: int,
        first_name: str = "Kari",
        language_code: str | None = "nb",
        *,
        last_name: str | None = None,
        username: str | None = None,
    ) -> SimulatedUser:
        """The user of private chat `chat_id` (created on first use; the bot may then write)."""
        if chat_id not in self._users:
            self._users[chat_id] = SimulatedUser(
                self, chat_id, first_name, language_code, last_name, username
            )
        return self._users[chat_id]

    def chat(self, chat_id: int) -> ChatView:
        """What the user of `chat_id` sees."""
        if chat_id not in self._users:
            raise LookupError(f"no user in chat {chat_id}; create one with user({chat_id})")
        return self._users[chat_id].chat

    def commands(
        self, scope: JSON | None = None, language_code: str = ""
    ) -> list[tuple[str, str]]:
        """The (command, description) pairs set for a scope and language."""
        stored = self.commands_by_scope.get((_scope_key(scope), language_code), [])
        return [(c["command"], c["description"]) for c in stored]

    # calls

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        """Recorded calls of one method (optionally for one chat), oldest first."""
        return [
            call
            for call in self.calls
            if call.method == method and (chat_id is None or call.chat_id == chat_id)
        ]

    def mark(self) -> int:
        """A position in the call log: pass it as `since` to wait for calls made after now."""
        return self._next_seq

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is this helper's whole point
    ) -> T:
        """Wait until `predicate()` is truthy (checked after every change); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [(c.method, c.chat_id, c.status) for c in self.calls[-5:]]
                raise TimeoutError(f"condition not met within {timeout} s; last calls: {recent}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for_call(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        since: int = 0,
        ok: bool | None = True,
        timeout: float = 5.0,  # noqa: ASYNC109 - as wait_for
    ) -> Call:
        """The first answered call of `method` (for `chat_id`, from `since` on)."""

        def found() -> Call | None:
            for call in self.calls:
                if (
                    call.seq >= since
                    and call.done
                    and call.method == method
                    and (chat_id is None or call.chat_id == chat_id)
                    and (ok is None or call.ok == ok)
                ):
                    return call
            return None

        return await self.wait_for(found, timeout)

    # faults

    def fail(
        self,
        method: str | None = None,
        chat_id: int | None = None,
        status: int = 429,
        retry_after: int = 1,
        times: int | None = 1,
        description: str | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Answer matching requests with an error `times` times (None: until cancelled)."""
        fault = Fault(
            self._canonical(method), chat_id, status, retry_after, description, delay, times
        )
        self.faults.append(fault)
        return fault

    def delay(
        self, method: str | None, seconds: float, times: int | None = 1, chat_id: int | None = None
    ) -> Fault:
        """Hold matching requests for `seconds` before answering them normally."""
        fault = Fault(self._canonical(method), chat_id, None, None, None, seconds, times)
        self.faults.append(fault)
        return fault

    def drop(
        self,
        method: str | None,
        *,
        after: bool = False,
        times: int | None = 1,
        chat_id: int | None = None,
    ) -> Fault:
        """Close the connection without an answer: before the method runs, or (`after`) once it
        has taken effect, as when a reply is lost on the way back (the bot cannot tell)."""
        fault = Fault(
            self._canonical(method),
            chat_id,
            None,
            None,
            None,
            0.0,
            times,
            drop="after" if after else "before",
        )
        self.faults.append(fault)
        return fault

    def cancel(self, fault: Fault | None = None) -> None:
        """Remove one fault rule, or all of them."""
        if fault is None:
            self.faults.clear()
        elif fault in self.faults:
            self.faults.remove(fault)

    # updates

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed (polling) or not yet accepted by the webhook."""
        return list(self._pending)

    async def deliver(self, payload: JSON, *, secret: SecretOverride = WEBHOOK_SECRET) -> Delivery:
        """Queue one update for getUpdates, or POST it to the webhook (`secret`: header sent)."""
        update = {"update_id": next(self._update_ids), **payload}
        kind = next(iter(payload))
        if not self._wants(kind):
            return Delivery(update, "filtered")
        if self.webhook_url is None:
            self._pending.append(update)
            self._notify()
            return Delivery(update, "queued")
        return await self._post_update(update, secret)

    async def redeliver(self, *, secret: SecretOverride = WEBHOOK_SECRET) -> list[Delivery]:
        """POST the pending updates to the webhook again, oldest first (as Telegram retries)."""
        if self.webhook_url is None:
            raise RuntimeError("no webhook is set")
        pending = list(self._pending)
        self._pending.clear()
        return [await self._post_update(update, secret) for update in pending]

    def _wants(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in OPT_IN_UPDATES

    async def _post_update(self, update: JSON, secret: SecretOverride) -> Delivery:
        if self._session is None or self.webhook_url is None:
            raise RuntimeError("the stand-in is not started or has no webhook")
        token = self.webhook_secret if secret is WEBHOOK_SECRET else secret
        headers = {SECRET_HEADER: token} if token is not None else {}
        try:
            async with self._session.post(self.webhook_url, json=update, headers=headers) as reply:
                await reply.read()
                status, reason = reply.status, reply.reason
        except (ClientError, TimeoutError) as exc:
            error = f"Connection failed: {exc!r}"
            self._webhook_failed(update, error)
            return Delivery(update, "webhook", None, error)
        if not 200 <= status < 300:
            self._webhook_failed(update, f"Wrong response from the webhook: {status} {reason}")
        self._notify()
        return Delivery(update, "webhook", status)

    def _webhook_failed(self, update: JSON, message: str) -> None:
        self._pending.append(update)
        self._last_error = (int(time.time()), message)
        self._notify()

    def _new_query(self, chat_id: int, message_id: int, data: str) -> str:
        query_id = str(next(self._query_ids))
        self._queries[query_id] = _PendingQuery(chat_id, message_id, data)
        while len(self._queries) > 10_000:
            del self._queries[next(iter(self._queries))]
        return query_id

    # plumbing

    def _canonical(self, method: str | None) -> str | None:
        if method is None:
            return None
        entry = self._handlers.get(method.lower())
        return entry[0] if entry else method

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _record(self, method: str, params: JSON) -> Call:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int | str) or isinstance(chat_id, bool):
            chat_id = None
        query = self._queries.get(str(params.get("callback_query_id", "")))
        if chat_id is None and query is not None:
            chat_id = query.chat_id
        call = Call(self._next_seq, method, params, time.monotonic(), chat_id)
        self._next_seq += 1
        self.calls.append(call)
        if self.max_calls is not None and len(self.calls) > self.max_calls:
            del self.calls[: len(self.calls) - self.max_calls]
        return call

    async def _handle_api(self, request: web.Request) -> web.Response:
        token, name = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            status = 401 if _TOKEN.fullmatch(token) else 404
            return web.json_response(
                ApiError(status, _DESCRIPTIONS[status]).payload(), status=status
            )
        entry = self._handlers.get(name.lower())
        parse_error: ApiError | None = None
        try:
            params = await _read_params(request)
        except ApiError as exc:
            params, parse_error = {}, exc
        call = self._record(entry[0] if entry else name, params)
        drop: Literal["before", "after"] | None = None
        try:
            if parse_error is not None:
                raise parse_error
            if entry is None:
                raise ApiError(404, "Not Found")
            drop = await self._apply_faults(call)
            if drop == "before":
                return self._hang_up(request, call)
            self._check_rate(call)
            outcome = await entry[1](params)
        except ApiError as exc:
            body = exc.payload()
            call.status, call.description = exc.status, exc.description
        else:
            result = outcome.result if isinstance(outcome, _Described) else outcome
            body = {"ok": True, "result": result}
            if isinstance(outcome, _Described):
                body["description"] = call.description = outcome.description
            call.status, call.result = 200, result
        if drop == "after" and call.ok:
            return self._hang_up(request, call)
        self._notify()
        return web.json_response(body, status=call.status)

    def _hang_up(self, request: web.Request, call: Call) -> web.Response:
        """Close the connection unanswered; the call is logged with `dropped` set."""
        call.dropped = True
        if call.status is None:
            call.status, call.description = 0, "connection closed without an answer"
        if request.transport is not None:
            request.transport.close()
        self._notify()
        return web.Response(status=204)

    async def _handle_file(self, request: web.Request) -> web.Response:
        token, path = request.match_info["token"], request.match_info["path"]
        if token != self.token:
            status = 401 if _TOKEN.fullmatch(token) else 404
            return web.json_response(
                ApiError(status, _DESCRIPTIONS[status]).payload(), status=status
            )
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type=stored.mime_type)
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _apply_faults(self, call: Call) -> Literal["before", "after"] | None:
        """Apply matching fault rules: delays, error answers; returns a hang-up to do, if any."""
        async for fault in applied_faults(self.faults, call.method, call.chat_id):
            if (error := fault.error()) is not None:
                raise error
            if fault.drop is not None:
                return fault.drop
        return None

    def _check_rate(self, call: Call) -> None:
        if call.method not in LIMITED_METHODS:
            return
        now, windows = time.monotonic(), []
        if self.rate_limit_global:
            if self._global_window is None or self._global_window.rate != self.rate_limit_global:
                self._global_window = _Window(self.rate_limit_global)
            windows.append(self._global_window)
        if self.rate_limit_per_chat and call.chat_id is not None:
            if self._chat_windows_rate != self.rate_limit_per_chat:
                self._chat_windows, self._chat_windows_rate = {}, self.rate_limit_per_chat
            window = self._chat_windows.get(call.chat_id)
            if window is None:
                window = self._chat_windows[call.chat_id] = _Window(self.rate_limit_per_chat)
            windows.append(window)
        wait = max((window.wait(now) for window in windows), default=0.0)
        if wait > 0:
            self.rejected += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, default_description(429, retry_after), retry_after)
        for window in windows:
            window.admit(now)

    def _chat_for(self, params: JSON) -> ChatView:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        user = self._users.get(chat_id) if isinstance(chat_id, int) else None
        if user is None:
            raise bad_request("chat not found")
        return user.chat

    def _new_message(self, chat: ChatView, kind: Any, text: str, **fields: Any) -> BotMessage:
        message = BotMessage(
            chat_id=chat.chat_id,
            message_id=chat._next_id(),
            date=int(time.time()),
            kind=kind,
            text=text,
            sender=self.bot_user,
            chat=chat.user.chat_json,
            **fields,
        )
        chat._bot_messages[message.message_id] = message
        chat._events.append(("bot", message.message_id))
        return message

    @staticmethod
    def _apply_keyboard(chat: ChatView, markup: _Markup | None) -> JSON | None:
        """Note a reply keyboard on the chat; return the inline keyboard for the message."""
        if markup is None:
            return None
        if markup.kind == "keyboard":
            chat.reply_keyboard = markup.value
        elif markup.kind == "remove":
            chat.reply_keyboard = None
        return markup.value if markup.kind == "inline" else None

    def _file_number(self) -> int:
        return next(self._file_numbers)

    def _store_upload(
        self, upload: Upload, folder: str, size: tuple[int, int] | None
    ) -> StoredFile:
        number = self._file_number()
        mime = upload.content_type or mimetypes.guess_type(upload.filename or "")[0]
        extension = mimetypes.guess_extension(mime or "") or ""
        stored = StoredFile(
            file_id=f"BQACAgQAAxk{self.bot_id}F{number:08d}",
            file_unique_id=f"AgAD{number:06d}",
            data=upload.data,
            filename=upload.filename,
            mime_type=mime or "application/octet-stream",
            file_path=f"{folder}/file_{number}{extension}",
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.files[stored.file_id] = stored
        return stored

    def _take_file(self, params: JSON, name: str) -> StoredFile:
        """The file of a send call: a fresh upload, or the file_id of an earlier one."""
        value = params.get(name)
        photo = name == "photo"
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            if not photo:
                if value.size > MAX_DOCUMENT_BYTES:
                    raise ApiError(413, "Request Entity Too Large")
                return self._store_upload(value, "documents", None)
            if value.size > MAX_PHOTO_BYTES:
                raise bad_request("file is too big")
            size = image_size(value.data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            if sum(size) > 10_000 or max(size) > 20 * min(size):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return self._store_upload(value, "photos", size)
        if isinstance(value, str) and value:
            stored = self.files.get(value)
            if stored is None:
                if value.startswith(("http://", "https://")):
                    raise bad_request("failed to get HTTP URL content")
                raise bad_request("wrong file identifier/HTTP URL specified")
            if photo and stored.width is None:
                raise bad_request("can't use file of type Document as Photo")
            return stored
        raise bad_request(f"there is no {name} in the request")

    def _photo_json(self, stored: StoredFile) -> list[JSON]:
        width, height = stored.width or 1, stored.height or 1
        sizes = _photo_sizes(width, height)
        photo = []
        for index, (w, h) in enumerate(sizes):
            last = index == len(sizes) - 1
            file_id = stored.file_id if last else f"{stored.file_id}s{index}"
            self.files[file_id] = stored
            photo.append(
                {
                    "file_id": file_id,
                    "file_unique_id": f"{stored.file_unique_id}{index}",
                    "file_size": max(1, stored.size * w * h // (width * height)),
                    "width": w,
                    "height": h,
                }
            )
        return photo

    @staticmethod
    def _caption(params: JSON) -> tuple[str, list[JSON]]:
        caption = params.get("caption") or ""
        if not isinstance(caption, str):
            raise bad_request("invalid caption specified")
        text, entities = render_text(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        if utf16_len(text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return text, entities

    def _message_to_edit(self, params: JSON) -> tuple[ChatView, BotMessage]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._chat_for(params)
        message_id = _int_param(params, "message_id", "message identifier is not specified")
        message = chat.message(message_id)
        if message is None or message.deleted:
            if message_id in chat._user_messages:
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        if not message.editable:
            raise bad_request("message can't be edited")
        return chat, message

    # methods

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        offset = _opt_number(params, "offset")
        limit = int(min(100, max(1, _opt_number(params, "limit") or 100)))
        timeout = max(0.0, _opt_number(params, "timeout") or 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed]
        if offset is not None:
            self._confirm(int(offset))
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(409, _POLL_CONFLICT)
            if self.webhook_url:
                raise ApiError(409, _WEBHOOK_CONFLICT)
        return list(itertools.islice(self._pending, limit))

    def _confirm(self, offset: int) -> None:
        """Forget updates below `offset` (a negative offset keeps the last -offset)."""
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    async def _set_webhook(self, params: JSON) -> _Described:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not (isinstance(secret, str) and _SECRET.fullmatch(secret)):
            raise bad_request("secret token contains unallowed characters")
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = [str(kind) for kind in params["allowed_updates"]]
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        if not url:
            return self._remove_webhook()
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        unchanged = self.webhook_url == url and self.webhook_secret == secret
        self.webhook_url, self.webhook_secret = url, secret
        self._last_error = None
        self._notify()
        return _Described(True, "Webhook is already set" if unchanged else "Webhook was set")

    def _remove_webhook(self) -> _Described:
        existed = self.webhook_url is not None
        self.webhook_url = self.webhook_secret = None
        self._last_error = None
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def _delete_webhook(self, params: JSON) -> _Described:
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        return self._remove_webhook()

    async def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url:
            info.update(max_connections=40, ip_address="127.0.0.1")
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        if self._last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be an Array of at most 100 BotCommand")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(
                str(command.get("command", ""))
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands_by_scope[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands_by_scope.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        return list(self.commands_by_scope.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: JSON) -> bool:
        self.commands_by_scope.pop(self._commands_key(params), None)
        return True

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope")
        if scope is not None and not isinstance(scope, dict):
            raise bad_request("can't parse BotCommandScope JSON object")
        language = params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", str(language)):
            raise bad_request("invalid language code specified")
        return _scope_key(scope), str(language)

    async def _send_message(self, params: JSON) -> JSON:
        chat = self._chat_for(params)
        source = params.get("text")
        if not isinstance(source, str) or not source.strip():
            raise bad_request("message text is empty")
        text, entities = render_text(source, params.get("parse_mode"), params.get("entities"))
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = _parse_markup(params.get("reply_markup"))
        message = self._new_message(
            chat,
            "text",
            text,
            entities=entities,
            source=source,
            parse_mode=params.get("parse_mode"),
            reply_markup=self._apply_keyboard(chat, markup),
            editable=markup is None or markup.kind == "inline",
        )
        return message.to_dict()

    async def _send_photo(self, params: JSON) -> JSON:
        return self._send_file(params, "photo")

    async def _send_document(self, params: JSON) -> JSON:
        return self._send_file(params, "document")

    def _send_file(self, params: JSON, kind: Literal["photo", "document"]) -> JSON:
        chat = self._chat_for(params)
        stored = self._take_file(params, kind)
        caption, entities = self._caption(params)
        markup = _parse_markup(params.get("reply_markup"))
        if kind == "photo":
            media: JSON = {"photo": self._photo_json(stored)}
        else:
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": stored.filename or "file",
                "mime_type": stored.mime_type,
                "file_size": stored.size,
            }
            media = {"document": document}
        message = self._new_message(
            chat,
            kind,
            caption,
            entities=entities,
            source=str(params.get("caption") or ""),
            parse_mode=params.get("parse_mode"),
            reply_markup=self._apply_keyboard(chat, markup),
            media=media,
            file=stored,
            editable=markup is None or markup.kind == "inline",
        )
        return message.to_dict()

    async def _edit_message_text(self, params: JSON) -> JSON:
        _, message = self._message_to_edit(params)
        source = params.get("text")
        if not isinstance(source, str) or not source.strip():
            raise bad_request("message text is empty")
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        text, entities = render_text(source, params.get("parse_mode"), params.get("entities"))
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        keyboard = self._inline_markup(params)
        if (text, entities, keyboard) == (message.text, message.entities, message.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        message.history.append(message.text)
        message.text, message.entities, message.source = text, entities, source
        message.parse_mode = params.get("parse_mode")
        message.reply_markup = keyboard
        message.edit_date = int(time.time())
        return message.to_dict()

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        _, message = self._message_to_edit(params)
        keyboard = self._inline_markup(params)
        if keyboard == message.reply_markup:
            raise bad_request(_NOT_MODIFIED)
        message.reply_markup = keyboard
        message.edit_date = int(time.time())
        return message.to_dict()

    @staticmethod
    def _inline_markup(params: JSON) -> JSON | None:
        """An edit's reply_markup: an inline keyboard, or None (which removes the keyboard)."""
        markup = _parse_markup(params.get("reply_markup"))
        if markup is not None and markup.kind != "inline":
            raise bad_request("inline keyboard expected")
        return markup.value if markup else None

    async def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._queries.pop(query_id, None)
        if query is None:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        cache_time = params.get("cache_time")
        self.chat(query.chat_id).callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                data=query.data,
                message_id=query.message_id,
                text=str(text) if text is not None else None,
                show_alert=params.get("show_alert") is True,
                url=params.get("url"),
                cache_time=cache_time if isinstance(cache_time, int) else None,
            )
        )
        return True

    async def _delete_message(self, params: JSON) -> bool:
        chat = self._chat_for(params)
        message_id = _int_param(params, "message_id", "message identifier is not specified")
        message = chat.message(message_id)
        if message is not None and not message.deleted:
            message.deleted = True
            return True
        if chat._user_messages.pop(message_id, None) is not None:
            return True
        raise bad_request("message to delete not found")

    async def _get_file(self, params: JSON) -> JSON:
        file_id = str(params.get("file_id") or "")
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }


def _scope_key(scope: JSON | None) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)

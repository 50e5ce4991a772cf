"""The Teams app package: manifest.json, its translations and the two icons, zipped.

An admin uploads the zip in Teams (or the Teams admin center) to install Followup as a personal
app. The app id is derived from the bot id, so a package built again for the same bot updates
the app already uploaded instead of adding a second one (Teams wants a higher `version` then).

Everything here is pure: the icons are drawn in code and encoded with a minimal PNG writer, and
the same arguments always give the same bytes.
"""

from __future__ import annotations

import json
import math
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NotRequired, Required, TypedDict, Unpack
from urllib.parse import urlsplit

from bot.channels.actions import COMMANDS
from dialogs.i18n import translate

MANIFEST_VERSION = "1.17"
SCHEMA_URL = (
    f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/"
    "MicrosoftTeams.schema.json"
)
LOCALIZATION_SCHEMA_URL = (
    f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/"
    "MicrosoftTeams.Localization.schema.json"
)
APP_ID_NAMESPACE = uuid.UUID("fe5149ea-ea71-4f9c-9bfc-71bec9ef6d72")
"""Fixed for good: changing it gives every deployment a new app id (a second app in Teams)."""

PACKAGE_NAME = "followup-teams-app.zip"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
ACCENT_COLOR = "#0B5394"  # the web chat's --accent
DEFAULT_LANGUAGE = "en"
EXTRA_LANGUAGES = ("nb", "nn")
COMMAND_MENU = (
    "status",
    "measures",
    "digest",
    "rounds",
    "remind",
    "settings",
    "help",
    "privacy",
    "mydata",
    "forget",
)
"""The commands Teams lists in its command menu (at most 10; the others are in /help)."""

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "en": (
        "Short surveys and follow-ups of measures, in a chat with you.",
        "Followup asks you the questions of surveys and follow-ups of measures in a personal "
        "chat. Answer with the buttons or by typing, take a break and continue where you left "
        "off. Type /privacy to see what is stored and who sees what, /mydata to see your own "
        "data and /forget to delete it. Results are only shown for groups large enough that no "
        "one can be singled out.",
    ),
    "nb": (
        "Korte spørreundersøkelser og oppfølging av tiltak, i en chat med deg.",
        "Followup stiller deg spørsmålene i spørreundersøkelser og oppfølging av tiltak i en "
        "personlig chat. Svar med knappene eller ved å skrive, ta en pause og fortsett der du "
        "slapp. Skriv /privacy for å se hva som lagres og hvem som ser hva, /mydata for å se "
        "dine egne data og /forget for å slette dem. Resultater vises bare for grupper som er "
        "så store at ingen kan pekes ut.",
    ),
    "nn": (
        "Korte spørjeundersøkingar og oppfølging av tiltak, i ein chat med deg.",
        "Followup stiller deg spørsmåla i spørjeundersøkingar og oppfølging av tiltak i ein "
        "personleg chat. Svar med knappane eller ved å skrive, ta ein pause og hald fram der du "
        "slapp. Skriv /privacy for å sjå kva som blir lagra og kven som ser kva, /mydata for å "
        "sjå dine eigne data og /forget for å slette dei. Resultat blir berre viste for grupper "
        "som er så store at ingen kan peikast ut.",
    ),
}
"""Store texts per language: (short, at most 80 characters; full, at most 4000)."""

_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed, so the same package has the same bytes

Json = dict[str, Any]


class PackageOptions(TypedDict, total=False):
    """The keyword arguments of `build_manifest`, passed on by `package_files`/`write_package`."""

    website_url: Required[str]
    privacy_url: NotRequired[str | None]
    terms_url: NotRequired[str | None]
    developer_name: NotRequired[str]
    name_short: NotRequired[str]
    name_full: NotRequired[str | None]
    version: NotRequired[str]
    commands: NotRequired[Sequence[str]]
    valid_domains: NotRequired[Sequence[str] | None]
    accent_color: NotRequired[str]
    languages: NotRequired[Sequence[str]]


def app_id(bot_id: str) -> str:
    """The Teams app id for a bot: a UUID derived stably from the bot's Microsoft app id.

    Args:
        bot_id: The Azure bot's Microsoft app id (a GUID, any letter case).

    Returns:
        A lowercase UUID string; the same bot id always gives the same app id.

    Raises:
        ValueError: If `bot_id` is not a GUID.
    """
    return str(uuid.uuid5(APP_ID_NAMESPACE, _guid(bot_id)))


def build_manifest(
    bot_id: str,
    *,
    website_url: str,
    privacy_url: str | None = None,
    terms_url: str | None = None,
    developer_name: str = "Followup",
    name_short: str = "Followup",
    name_full: str | None = None,
    version: str = "1.0.0",
    commands: Sequence[str] = COMMAND_MENU,
    valid_domains: Sequence[str] | None = None,
    accent_color: str = ACCENT_COLOR,
    languages: Sequence[str] = EXTRA_LANGUAGES,
) -> Json:
    """The manifest.json of the Teams app: one bot in personal scope, with a command menu.

    Args:
        bot_id: The Azure bot's Microsoft app id (`MicrosoftAppId`).
        website_url: The https page about the app (e.g. the deployment's public URL).
        privacy_url: The https privacy page; `website_url` when None.
        terms_url: The https terms of use page; `website_url` when None.
        developer_name: Who publishes the app (at most 32 characters).
        name_short: The app's name in Teams (at most 30 characters).
        name_full: The longer name (at most 100 characters); `name_short` when None.
        version: The app version (x.y.z); raise it for every update of an uploaded app.
        commands: Command names from `bot.channels.actions.COMMANDS`, at most 10; Teams offers
            them as "/name" with the English description (translated in the language files).
        valid_domains: Domains the app may open; the host of `website_url` when None.
        accent_color: The background color of the icon in Teams (#RRGGBB).
        languages: Additional languages (besides English) with a translation file each.

    Returns:
        The manifest as a JSON-ready dict.

    Raises:
        ValueError: If an argument is outside what Teams accepts.
    """
    name_full = name_full or name_short
    urls = {
        "websiteUrl": website_url,
        "privacyUrl": privacy_url or website_url,
        "termsOfUseUrl": terms_url or website_url,
    }
    for field, url in urls.items():
        _check(urlsplit(url).scheme == "https" and bool(urlsplit(url).hostname), field, url)
    _check(0 < len(developer_name) <= 32, "developer_name", developer_name)
    _check(0 < len(name_short) <= 30, "name_short", name_short)
    _check(len(name_full) <= 100, "name_full", name_full)
    _check(bool(_SEMVER.match(version)), "version", version)
    _check(bool(re.fullmatch(r"#[0-9a-fA-F]{6}", accent_color)), "accent_color", accent_color)
    _check_commands(commands)
    _check(len(set(languages)) == len(languages), "languages", languages)
    for language in languages:
        _check(language in DESCRIPTIONS and language != DEFAULT_LANGUAGE, "language", language)
    domains = list(valid_domains) if valid_domains is not None else [_host(website_url)]
    _check(len(domains) <= 16, "valid_domains", domains)

    short, full = DESCRIPTIONS[DEFAULT_LANGUAGE]
    manifest: Json = {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id(bot_id),
        "localizationInfo": {
            "defaultLanguageTag": DEFAULT_LANGUAGE,
            "additionalLanguages": [
                {"languageTag": language, "file": f"{language}.json"} for language in languages
            ],
        },
        "developer": {"name": developer_name, **urls},
        "name": {"short": name_short, "full": name_full},
        "description": {"short": short, "full": full},
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": accent_color,
        "bots": [
            {
                "botId": _guid(bot_id),
                "scopes": ["personal"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {
                        "scopes": ["personal"],
                        "commands": [
                            {"title": f"/{name}", "description": _description(name, "en")}
                            for name in commands
                        ],
                    }
                ],
            }
        ],
        "validDomains": domains,
        "defaultInstallScope": "personal",
    }
    if not languages:
        del manifest["localizationInfo"]
    return manifest


def build_localization(manifest: Json, language: str) -> Json:
    """The translation file of `manifest` for one additional language.

    Args:
        manifest: A manifest from `build_manifest`.
        language: One of `EXTRA_LANGUAGES`.

    Returns:
        The language file's JSON (the app name stays; descriptions are translated).
    """
    short, full = DESCRIPTIONS[language]
    strings: Json = {
        "$schema": LOCALIZATION_SCHEMA_URL,
        "name.short": manifest["name"]["short"],
        "name.full": manifest["name"]["full"],
        "description.short": short,
        "description.full": full,
    }
    for index, command in enumerate(manifest["bots"][0]["commandLists"][0]["commands"]):
        key = f"bots[0].commandLists[0].commands[{index}].description"
        strings[key] = _description(command["title"].lstrip("/"), language)
    return strings


def package_files(bot_id: str, **options: Unpack[PackageOptions]) -> dict[str, bytes]:
    """Every file of the app package by name: manifest.json, the icons, the language files.

    Args:
        bot_id: The Azure bot's Microsoft app id.
        **options: The keyword arguments of `build_manifest`.

    Returns:
        File name -> content, in the order they go into the zip.
    """
    manifest = build_manifest(bot_id, **options)
    files = {
        "manifest.json": _json_bytes(manifest),
        COLOR_ICON: color_icon(manifest["accentColor"]),
        OUTLINE_ICON: outline_icon(),
    }
    for entry in manifest.get("localizationInfo", {}).get("additionalLanguages", []):
        files[entry["file"]] = _json_bytes(build_localization(manifest, entry["languageTag"]))
    return files


def write_package(path: Path, bot_id: str, **options: Unpack[PackageOptions]) -> Path:
    """Write the Teams app package zip (all files at the zip's root).

    Args:
        path: The zip file to write, or an existing folder to write `PACKAGE_NAME` into.
        bot_id: The Azure bot's Microsoft app id.
        **options: The keyword arguments of `build_manifest`.

    Returns:
        The path of the zip written.
    """
    target = path / PACKAGE_NAME if path.is_dir() else path
    files = package_files(bot_id, **options)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return target


@cache
def color_icon(background: str = ACCENT_COLOR) -> bytes:
    """The 192×192 full-color icon: a white checked box, full bleed on `background`.

    Teams masks the corners itself, so the square is filled edge to edge and the symbol keeps
    inside the 120×120 safe area in the middle.
    """
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    coverage = _symbol(192, origin=40.0, extent=112.0, box_stroke=9.0, check_stroke=13.0)
    pixels = bytearray()
    for value in coverage:
        pixels += bytes(round(channel + (255 - channel) * value) for channel in (red, green, blue))
        pixels.append(255)
    return encode_png(192, 192, bytes(pixels))


@cache
def outline_icon() -> bytes:
    """The 32×32 outline icon: the same checked box, white on transparent, without padding."""
    coverage = _symbol(32, origin=1.0, extent=30.0, box_stroke=2.5, check_stroke=3.5)
    pixels = bytearray()
    for value in coverage:
        pixels += bytes((255, 255, 255, round(255 * value)))
    return encode_png(32, 32, bytes(pixels))


def encode_png(width: int, height: int, rgba: bytes) -> bytes:
    """A PNG of 8-bit RGBA pixels, row by row (a minimal encoder: no filters, one IDAT).

    Args:
        width: Pixels per row.
        height: Rows.
        rgba: width × height × 4 bytes.

    Returns:
        The PNG file's bytes.
    """
    if len(rgba) != width * height * 4:
        raise ValueError("rgba must hold width × height × 4 bytes")
    stride = width * 4
    raw = b"".join(b"\x00" + rgba[row * stride : (row + 1) * stride] for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _symbol(
    size: int, *, origin: float, extent: float, box_stroke: float, check_stroke: float
) -> list[float]:
    """Coverage (0..1) per pixel, row by row, of a rounded box outline with a check mark.

    Shapes are signed distance fields; a pixel's coverage is its distance ramped over one
    pixel, which anti-aliases the edges.
    """

    def at(u: float, v: float) -> tuple[float, float]:
        return origin + u * extent, origin + v * extent

    half = (extent - box_stroke) / 2
    center = origin + extent / 2
    radius = extent * 0.2
    check = [at(0.27, 0.52), at(0.44, 0.69), at(0.75, 0.33)]

    def box(x: float, y: float) -> float:
        qx = abs(x - center) - half + radius
        qy = abs(y - center) - half + radius
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - radius
        return abs(outside) - box_stroke / 2

    def stroke(a: tuple[float, float], b: tuple[float, float]) -> Callable[[float, float], float]:
        (ax, ay), (bx, by) = a, b
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy

        def distance(x: float, y: float) -> float:
            t = min(max(((x - ax) * dx + (y - ay) * dy) / length2, 0.0), 1.0)
            return math.hypot(x - ax - t * dx, y - ay - t * dy) - check_stroke / 2

        return distance

    shapes = [box, stroke(check[0], check[1]), stroke(check[1], check[2])]
    coverage = []
    for row in range(size):
        for column in range(size):
            x, y = column + 0.5, row + 0.5
            distance = min(shape(x, y) for shape in shapes)
            coverage.append(min(max(0.5 - distance, 0.0), 1.0))
    return coverage


def _description(command: str, language: str) -> str:
    return translate(language, f"telegram.command.{command}")


def _check_commands(commands: Sequence[str]) -> None:
    _check(0 < len(commands) <= 10, "commands", commands)
    _check(len(set(commands)) == len(commands), "commands", commands)
    for name in commands:
        _check(name in COMMANDS, "command", name)


def _check(ok: bool, name: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{name} {value!r} is not accepted in a Teams app manifest")


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError(f"bot id {value!r} is not a GUID (the bot's Microsoft app id)") from None


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _json_bytes(data: Json) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

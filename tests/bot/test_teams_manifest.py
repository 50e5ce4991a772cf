"""The Teams app package: schema-valid manifest and language files, stable app id, icons."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import png
import pytest
from jsonschema import Draft4Validator, Draft6Validator, validators

from bot.channels.actions import COMMANDS, translate_command
from bot.channels.teams import manifest as teams
from bot.services.messages import Help

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "teams" / "v1.17"
BOT_ID = "6f1c2a9e-3b4d-4c5e-9f60-718293a4b5c6"
OTHER_BOT_ID = "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f"
SITE = "https://followup.example.no"

# The schemas say draft-04 but use draft-06's `const` (manifestVersion), as Microsoft's own
# validator (Ajv for draft-04) accepts; jsonschema's draft-04 class would skip it.
TeamsValidator = validators.extend(Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def errors(instance: dict[str, Any], name: str) -> list[str]:
    validator = TeamsValidator(schema(name), format_checker=Draft4Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def package(**options: Any) -> dict[str, bytes]:
    return teams.package_files(BOT_ID, website_url=SITE, **options)


def pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    width, height, rows, _info = png.Reader(bytes=data).asRGBA8()
    flat = [value for row in rows for value in row]
    return width, height, [tuple(flat[i : i + 4]) for i in range(0, len(flat), 4)]


def test_schema_fixtures_are_the_official_v1_17_ones() -> None:
    main = schema("MicrosoftTeams.schema.json")
    assert main["properties"]["manifestVersion"]["const"] == teams.MANIFEST_VERSION
    Draft4Validator.check_schema(main)
    Draft4Validator.check_schema(schema("MicrosoftTeams.Localization.schema.json"))


def test_manifest_is_valid_against_the_teams_schema() -> None:
    manifest = teams.build_manifest(BOT_ID, website_url=SITE)
    assert errors(manifest, "MicrosoftTeams.schema.json") == []
    assert manifest["$schema"] == (
        "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    )
    assert manifest["manifestVersion"] == "1.17"


def test_the_validator_catches_a_broken_manifest() -> None:
    # Guard against a validator that accepts anything (e.g. `const` silently skipped).
    manifest = teams.build_manifest(BOT_ID, website_url=SITE)
    manifest["manifestVersion"] = "1.16"
    manifest["bots"][0]["scopes"] = ["everyone"]
    del manifest["icons"]["outline"]
    found = errors(manifest, "MicrosoftTeams.schema.json")
    assert any(e.startswith("manifestVersion:") for e in found)
    assert any(e.startswith("bots/0/scopes/0:") for e in found)
    assert any("'outline' is a required property" in e for e in found)


def test_language_files_are_valid_and_translated() -> None:
    files = package()
    manifest = json.loads(files["manifest.json"])
    listed = manifest["localizationInfo"]["additionalLanguages"]
    assert manifest["localizationInfo"]["defaultLanguageTag"] == "en"
    assert [entry["languageTag"] for entry in listed] == ["nb", "nn"]
    for entry in listed:
        strings = json.loads(files[entry["file"]])
        assert errors(strings, "MicrosoftTeams.Localization.schema.json") == []
        assert strings["$schema"].endswith("/v1.17/MicrosoftTeams.Localization.schema.json")
        assert strings["name.short"] == manifest["name"]["short"]
        assert strings["description.short"] != manifest["description"]["short"]
    nb = json.loads(files["nb.json"])
    assert nb["bots[0].commandLists[0].commands[0].description"] == "Mine åpne undersøkelser"


def test_app_id_is_stable_per_bot_and_differs_between_bots() -> None:
    first = teams.build_manifest(BOT_ID, website_url=SITE)
    again = teams.build_manifest(BOT_ID.upper(), website_url="https://other.example.no")
    other = teams.build_manifest(OTHER_BOT_ID, website_url=SITE)
    assert first["id"] == again["id"] == teams.app_id(BOT_ID)
    assert other["id"] != first["id"]
    assert first["id"] not in (BOT_ID, OTHER_BOT_ID)
    assert first["bots"][0]["botId"] == again["bots"][0]["botId"] == BOT_ID


def test_app_id_value_is_pinned() -> None:
    # A change here gives every deployment a second app in Teams instead of an update.
    assert teams.app_id(BOT_ID) == "07e704e2-30df-5ef3-b51d-ca44a2fcf096"
    assert teams.app_id(BOT_ID) == str(uuid.uuid5(teams.APP_ID_NAMESPACE, BOT_ID))
    assert teams.app_id("{" + BOT_ID.upper() + "}") == teams.app_id(BOT_ID)


def test_bot_is_personal_scope_only() -> None:
    manifest = teams.build_manifest(BOT_ID, website_url=SITE)
    (bot,) = manifest["bots"]
    assert bot["scopes"] == ["personal"]
    assert bot["supportsFiles"] is False
    assert bot["isNotificationOnly"] is False
    assert [entry["scopes"] for entry in bot["commandLists"]] == [["personal"]]
    assert manifest["defaultInstallScope"] == "personal"


def test_command_list_matches_the_channel_commands() -> None:
    manifest = teams.build_manifest(BOT_ID, website_url=SITE)
    commands = manifest["bots"][0]["commandLists"][0]["commands"]
    assert [c["title"] for c in commands] == [f"/{name}" for name in teams.COMMAND_MENU]
    assert len(teams.COMMAND_MENU) <= 10  # Teams' limit per command list
    assert set(teams.COMMAND_MENU) == {
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
    }
    for command in commands:
        name = command["title"].removeprefix("/")
        assert name in COMMANDS
        # What Teams sends when the person picks it is understood as that command.
        event = translate_command(command["title"])
        assert event is not None
        assert name == "help" or not isinstance(event, Help)
        assert command["description"] and not command["description"].startswith("telegram.")


def test_unknown_or_too_many_commands_are_refused() -> None:
    with pytest.raises(ValueError, match="command"):
        teams.build_manifest(BOT_ID, website_url=SITE, commands=("help", "nosuch"))
    with pytest.raises(ValueError, match="commands"):
        teams.build_manifest(BOT_ID, website_url=SITE, commands=tuple(COMMANDS))
    manifest = teams.build_manifest(BOT_ID, website_url=SITE, commands=("help", "start"))
    assert errors(manifest, "MicrosoftTeams.schema.json") == []


def test_names_descriptions_and_urls_fit_teams_limits() -> None:
    for short, full in teams.DESCRIPTIONS.values():
        assert 0 < len(short) <= 80
        assert 0 < len(full) <= 4000
    manifest = teams.build_manifest(
        BOT_ID,
        website_url=SITE,
        privacy_url=f"{SITE}/privacy",
        name_short="Followup Test",
        name_full="Followup Test: surveys and follow-ups",
        version="2.3.4",
        valid_domains=["followup.example.no", "*.example.no"],
        accent_color="#123abc",
    )
    assert errors(manifest, "MicrosoftTeams.schema.json") == []
    assert manifest["developer"]["privacyUrl"] == f"{SITE}/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == SITE
    assert manifest["validDomains"] == ["followup.example.no", "*.example.no"]
    assert teams.build_manifest(BOT_ID, website_url=SITE)["validDomains"] == [
        "followup.example.no"
    ]


@pytest.mark.parametrize(
    ("bot_id", "options"),
    [
        ("not-a-guid", {}),
        (BOT_ID, {"website_url": "http://followup.example.no"}),
        (BOT_ID, {"name_short": "F" * 31}),
        (BOT_ID, {"version": "1.0"}),
        (BOT_ID, {"accent_color": "blue"}),
        (BOT_ID, {"languages": ("sv",)}),
        (BOT_ID, {"languages": ("nb", "nb")}),
        (BOT_ID, {"commands": ("help", "help")}),
    ],
)
def test_bad_arguments_are_refused(bot_id: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        teams.build_manifest(bot_id, **{"website_url": SITE, **options})


def test_zip_holds_the_manifest_icons_and_language_files_at_its_root(tmp_path: Path) -> None:
    path = teams.write_package(tmp_path / "app.zip", BOT_ID, website_url=SITE)
    assert path == tmp_path / "app.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert sorted(names) == ["color.png", "manifest.json", "nb.json", "nn.json", "outline.png"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    files = {entry["file"] for entry in manifest["localizationInfo"]["additionalLanguages"]}
    assert set(names) == {"manifest.json", *manifest["icons"].values(), *files}


def test_without_languages_the_zip_holds_exactly_three_files(tmp_path: Path) -> None:
    path = teams.write_package(tmp_path, BOT_ID, website_url=SITE, languages=())
    assert path == tmp_path / teams.PACKAGE_NAME
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
    assert "localizationInfo" not in manifest
    assert errors(manifest, "MicrosoftTeams.schema.json") == []


def test_package_bytes_are_reproducible(tmp_path: Path) -> None:
    first = teams.write_package(tmp_path / "a.zip", BOT_ID, website_url=SITE).read_bytes()
    second = teams.write_package(tmp_path / "b.zip", BOT_ID, website_url=SITE).read_bytes()
    assert first == second


def test_color_icon_is_a_full_bleed_192_png() -> None:
    width, height, colors = pixels(package()["color.png"])
    assert (width, height) == (192, 192)
    assert all(alpha == 255 for *_rgb, alpha in colors)
    accent = (0x0B, 0x53, 0x94, 255)
    corners = [colors[0], colors[191], colors[191 * 192], colors[-1]]
    assert corners == [accent] * 4
    assert (255, 255, 255, 255) in colors  # the white symbol
    # The symbol stays inside the 120×120 safe area in the middle.
    for index, color in enumerate(colors):
        x, y = index % 192, index // 192
        if not (36 <= x < 156 and 36 <= y < 156):
            assert color == accent, (x, y)


def test_outline_icon_is_white_on_transparent_32_png() -> None:
    width, height, colors = pixels(package()["outline.png"])
    assert (width, height) == (32, 32)
    # Every pixel is white; only its opacity draws the symbol (Teams tints the outline icon).
    assert {(r, g, b) for r, g, b, _alpha in colors} == {(255, 255, 255)}
    alphas = {alpha for *_rgb, alpha in colors}
    assert 0 in alphas and 255 in alphas
    assert colors[0][3] == 0  # outside the rounded corner: fully transparent
    assert colors[16 * 32 + 1][3] == 255  # the box's left edge: no padding


def test_png_encoder_round_trips() -> None:
    rgba = bytes(range(256))[: 4 * 4 * 4]
    data = teams.encode_png(4, 4, rgba)
    width, height, colors = pixels(data)
    assert (width, height) == (4, 4)
    assert bytes(value for color in colors for value in color) == rgba
    with pytest.raises(ValueError):
        teams.encode_png(2, 2, b"\x00" * 15)


def test_the_cli_writes_the_package_and_refuses_without_an_app_id(tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app

    runner = CliRunner()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "FOLLOWUP_PUBLIC_URL": "https://f.example.no",
    }
    refused = runner.invoke(app, ["teams", "manifest", "--output", str(tmp_path)], env=env)
    assert refused.exit_code == 1 and "MicrosoftAppId" in refused.output
    env |= {
        "MicrosoftAppId": "11111111-2222-3333-4444-555555555555",
        "MicrosoftAppTenantId": "99999999-8888-7777-6666-555555555555",
    }
    written = runner.invoke(
        app,
        ["teams", "manifest", "--output", str(tmp_path / "app.zip"), "--version", "1.2.3"],
        env=env,
    )
    assert written.exit_code == 0, written.output
    with zipfile.ZipFile(tmp_path / "app.zip") as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["version"] == "1.2.3"
    assert manifest["bots"][0]["botId"] == "11111111-2222-3333-4444-555555555555"

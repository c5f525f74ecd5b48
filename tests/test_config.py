"""Config contract (DESIGN.md): TOML defaults, --config/TINBAO_CONFIG, TINBAO_<SECTION>_<KEY>."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import get_origin, get_type_hints

import pytest

from gateway.config import DEFAULT_CONFIG, KIND_TYPES, SCHEMA, Config, load_config, section_types
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_defaults_load():
    config = load_config(env={})
    assert config.source == DEFAULT_CONFIG
    assert config.gateway.timezone == "Asia/Ho_Chi_Minh"
    assert config.modem.port == "emulator"
    assert config.zalo.api_base == "https://openapi.zalo.me"
    assert config.zalo.oauth_base == "https://oauth.zaloapp.com"


def test_sections_are_typed_dataclasses_with_exactly_the_schema_keys():
    """A key added to SCHEMA and not to its section's dataclass (or the other way) fails here."""
    sections = section_types()
    assert list(sections) == list(SCHEMA)
    for name, cls in sections.items():
        hints = get_type_hints(cls)
        assert [f.name for f in dataclasses.fields(cls)] == list(SCHEMA[name]), name
        for key, spec in SCHEMA[name].items():
            assert hints[key] == KIND_TYPES[spec.kind], f"{name}.{key}: {hints[key]} is not a {spec.kind}"


def test_config_is_frozen_and_each_value_has_its_type():
    config = load_config(env={})
    assert isinstance(config, Config)
    for name, cls in section_types().items():
        section = getattr(config, name)
        assert isinstance(section, cls)
        for key, spec in SCHEMA[name].items():
            kind = KIND_TYPES[spec.kind]
            assert isinstance(getattr(section, key), get_origin(kind) or kind), f"{name}.{key}"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.web.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.web.no_such_key  # noqa: B018


def test_secrets_stay_out_of_the_repr():
    config = load_config(env={"TINBAO_WEB_SECRET_KEY": "s3cret-web", "TINBAO_ZALO_REFRESH_TOKEN": "s3cret-zalo",
                              "TINBAO_HUB_TOKEN": "s3cret-hub", "TINBAO_HUB_GATEWAYS": "cl:s3cret-gw"})
    assert "s3cret" not in repr(config)


def test_environment_overrides_every_kind_of_key(tmp_path):
    config = load_config(env={
        "TINBAO_MODEM_PORT": "/dev/ttyUSB2",
        "TINBAO_WEB_PORT": "8099",
        "TINBAO_STORAGE_PATH": str(tmp_path / "x.db"),
        "TINBAO_ZALO_ENABLED": "true",
        "TINBAO_ZALO_OFFICER_IDS": "111, 222",
        "TINBAO_HUB_GATEWAYS": "cl:token1,bh:token2",
        "TINBAO_MODEM_DRAIN_INTERVAL": "5.5",
    })
    assert config.modem.port == "/dev/ttyUSB2"
    assert config.web.port == 8099
    assert config.storage_path == tmp_path / "x.db"
    assert config.zalo.enabled is True
    assert config.zalo.officer_ids == ["111", "222"]
    assert config.hub.gateways == {"cl": "token1", "bh": "token2"}
    assert config.modem.drain_interval == 5.5


def test_config_file_from_argument_and_from_environment(tmp_path):
    path = tmp_path / "commune.toml"
    path.write_text('[gateway]\nid = "bh"\nname = "Công an xã Bản Phố"\n[web]\nport = 9000\n', encoding="utf-8")
    assert load_config(path, env={}).gateway.id == "bh"
    config = load_config(env={"TINBAO_CONFIG": str(path), "TINBAO_WEB_PORT": "9001"})
    assert config.gateway.name == "Công an xã Bản Phố"
    assert config.web.port == 9001  # the environment beats the file


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TINBAO_WEB_PORT": "eighty"}, "web.port"),
        ({"TINBAO_WEB_PORT": "70000"}, "web.port"),
        ({"TINBAO_GATEWAY_TIMEZONE": "Asia/Hanoi_City"}, "gateway.timezone"),
        ({"TINBAO_GATEWAY_ID": "công an"}, "gateway.id"),
        ({"TINBAO_MODEM_PIN": "12"}, "modem.pin"),
        ({"TINBAO_ZALO_ENABLED": "maybe"}, "zalo.enabled"),
        ({"TINBAO_DISTRICT_URL": "ftp://hub"}, "district.url"),
        ({"TINBAO_HUB_GATEWAYS": "cl"}, "hub.gateways"),
        ({"TINBAO_MODEM_BAUDRATE": "fast"}, "modem.baudrate"),
    ],
)
def test_bad_values_name_the_key(env, named):
    with pytest.raises(ConfigError) as caught:
        load_config(env=env)
    message = str(caught.value)
    assert named in message and "\n" not in message


def test_bad_file_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[modem]\nbaudrat = 9600\n")
    with pytest.raises(ConfigError, match=r"modem\.baudrat"):
        load_config(path, env={})
    path.write_text("[modem]\nport = 5\nbaudrate = 'x'\n")
    with pytest.raises(ConfigError, match=r"modem\.baudrate"):
        load_config(path, env={})
    path.write_text("[modem\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})


def test_shipped_file_lists_every_key():
    """The defaults file is the documentation officers read: it names every key."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    from gateway.config import LEGACY_SECTIONS

    for section, keys in SCHEMA.items():
        if section in LEGACY_SECTIONS:
            continue  # older names, still read from older files (test below), never shipped
        assert f"[{section}]" in text
        for key in keys:
            assert f"\n{key} = " in text, f"{section}.{key} missing from gateway.toml"


def test_app_refuses_a_bad_value_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={"TINBAO_WEB_PORT": "abc", "PATH": "/usr/bin:/bin", "TINBAO_STORAGE_PATH": str(tmp_path / "t.db")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tinbao: config key web.port (from TINBAO_WEB_PORT): 'abc' is not a whole number"
    ]


# --- one declaration per key (issue 18): SCHEMA, the README table and gateway.toml from the fields ---


def test_the_readme_table_and_the_shipped_file_are_written_from_the_fields():
    """Change a key in gateway/config.py, then ``python -m gateway.config_docs update``; stale files fail here."""
    from gateway.config_docs import stale

    assert stale(ROOT) == [], "run: python -m gateway.config_docs update"


def test_the_shipped_file_sets_what_each_field_declares():
    import tomllib

    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config = load_config(env={})
    from gateway.config import LEGACY_SECTIONS

    for section, keys in SCHEMA.items():
        if section in LEGACY_SECTIONS:
            assert section not in data
            continue
        assert list(data[section]) == list(keys), section
        for name, spec in keys.items():
            assert getattr(getattr(config, section), name) == spec.shipped_value, f"{section}.{name}"
            assert spec.env == f"TINBAO_{section.upper()}_{name.upper()}" and spec.what


def test_a_key_is_one_field_with_its_help_and_check():
    """What an engineer adding a key writes: one field; its kind, environment name and check follow."""
    from dataclasses import dataclass, field

    from gateway.config import _keys_of, between, key

    @dataclass(frozen=True)
    class Calls:
        on_missed: str = key("menu", "what a missed call gets")
        per_hour: int = key(6, "most call-backs an hour", check=between(0, 60), secret=True)

    keys = _keys_of("calls", Calls)
    assert keys["on_missed"].kind == "str" and keys["on_missed"].env == "TINBAO_CALLS_ON_MISSED"
    assert keys["per_hour"].kind == "int" and keys["per_hour"].check(61) and keys["per_hour"].secret
    assert "per_hour" not in repr(Calls())

    @dataclass(frozen=True)
    class Undocumented:
        port: int = field(default=1)

    with pytest.raises(TypeError, match=r"x\.port must be declared with key"):
        _keys_of("x", Undocumented)


def test_shipped_files_are_found_through_the_package_not_the_working_directory(tmp_path):
    """The installed program has no checkout: the shipped folder is found from the ``gateway`` package."""
    from gateway.config import SHIPPED, data_folder

    assert (SHIPPED / "gateway.toml").is_file() and (SHIPPED / "menus" / "vi.toml").is_file()
    assert (SHIPPED / "modem_profiles.toml").is_file() and (SHIPPED / "warnings" / "_messages.toml").is_file()
    assert data_folder("firmware_config/menus") == SHIPPED / "menus"
    assert data_folder("menus") == Path("menus")  # any other relative path: the working directory's
    assert data_folder(str(tmp_path)) == tmp_path
    result = subprocess.run([sys.executable, "-c", "from gateway.config import load_config as l;"
                             " c = l(env={}); print(c.menus_path, c.warnings_path, c.source)"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.stdout.split() == [str(SHIPPED / "menus"), str(SHIPPED / "warnings"), str(DEFAULT_CONFIG)]


def test_the_older_district_keys_still_work_with_one_notice_each(tmp_path):
    old = load_config(env={"TINBAO_DISTRICT_URL": "http://hub.example", "TINBAO_DISTRICT_TOKEN": "t-old"})
    assert (old.hub.url, old.hub.token) == ("http://hub.example", "t-old")
    assert len(old.notices) == 2 and all("older name of hub." in line for line in old.notices)
    assert all("\n" not in line for line in old.notices)
    both = load_config(env={"TINBAO_DISTRICT_TOKEN": "t-old", "TINBAO_HUB_TOKEN": "t-new"})
    assert both.hub.token == "t-new" and "ignored" in both.notices[0]
    assert load_config(env={"TINBAO_HUB_TOKEN": "t-new"}).notices == ()
    # A file written for an older gateway, [district] and all, starts the same way.
    path = tmp_path / "old.toml"
    path.write_text('[district]\nurl = "http://hub.example"\ntoken = "t-file"\n', encoding="utf-8")
    from_file = load_config(path, env={})
    assert from_file.hub.token == "t-file" and from_file.hub.url == "http://hub.example"


def test_the_shipped_file_names_the_hub_keys_not_the_older_ones():
    from gateway.config import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    assert "[district]" not in text and "\nurl = " in text.split("[hub]")[1]


def test_the_hub_names_a_gateway_from_its_own_config():
    config = load_config(env={"TINBAO_HUB_NAMES": "cl:Cốc Lầu"})
    assert config.hub.gateway_name("cl") == "Cốc Lầu" and config.hub.gateway_name("bh") == "BH"

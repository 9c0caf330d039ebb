"""The TUI's config file: TOML at `core.paths.config_file()`, with environment overrides.

```toml
theme = "textual-dark"        # any Textual theme name
refresh_interval = 10         # seconds between automatic refreshes; 0 turns auto-refresh off
read_only = false             # refuse every mutating action (like --read-only)
timeout = 30                  # read timeout of deployer calls, seconds; or "CONNECT,READ,LONG" (--timeout)

[keymap]                      # binding id -> keys (comma-separated for several)
"main.filter" = "slash,f"

[profiles.prod]               # named connections; --profile prod picks one
url = "https://dss.example.com"
api_key_env = "PROD_DSS_KEY"  # read the key from this env var (or api_key = "..." in a 0600 file)
insecure = false
ca_bundle = "/etc/ssl/dss.pem"
production = true             # guard it as production (false: never, whatever its stages); unset: from its stages
color = "red"                 # the header's colour while this context is shown as production
read_only = true              # refuse every change in this context only

[contexts.design]             # the same three keys for an instance of ~/.dataiku/config.json, or "local"
production = false
```

`[contexts.NAME]` and the three keys of a profile are read by core/contexts.py (docs/contexts.md); a
`[contexts.NAME]` naming no instance is reported there, where the instances are known.

Environment overrides: DEPLOYER_TUI_THEME, DEPLOYER_TUI_REFRESH, DEPLOYER_TUI_READ_ONLY, DEPLOYER_TUI_TIMEOUT;
the command line's --timeout wins over both (`timeouts_for`).
A missing file is not an error (defaults apply); a malformed one raises ConfigError naming the
file, the line and what is wrong.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer_tui.core import paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_THEME = "textual-dark"
DEFAULT_REFRESH = 10.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """The config file (or an override) is malformed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: `connect` for a connection, `read` for an answer, `long_read` for the calls that
    may rightly take long (version imports and downloads, test queries and run-queries: a cold endpoint).
    A heavy status with an unreachable node waits for the deployer's own node timeout: `read` should
    stay above it."""

    connect: float = 10.0
    read: float = 30.0
    long_read: float = 300.0

    @classmethod
    def parse(cls, text: str | float, where: str = "--timeout") -> Timeouts:
        """"READ" or "CONNECT,READ" or "CONNECT,READ,LONG" (seconds, > 0); raises ValueError naming `where`.
        A longer READ than the default LONG raises LONG with it."""
        try:
            values = [float(part) for part in str(text).split(",")]
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not a number of seconds (READ or CONNECT,READ[,LONG])") from None
        if not 1 <= len(values) <= 3 or any(not v > 0 for v in values):
            raise ValueError(f"{where}: {text!r} must be 1 to 3 numbers of seconds > 0 (READ or CONNECT,READ[,LONG])")
        if len(values) == 1:
            return cls(min(cls.connect, values[0]), values[0], max(cls.long_read, values[0]))
        if len(values) == 2:
            return cls(values[0], values[1], max(cls.long_read, values[1]))
        return cls(*values)


@dataclass
class Profile:
    name: str
    url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    insecure: bool = False
    ca_bundle: str | None = None
    production: bool | None = None
    color: str | None = None
    read_only: bool = False
    where: str = ""  # "FILE (line N)" of its table, for messages about it

    def resolved_api_key(self, env: Mapping[str, str] = os.environ) -> str | None:
        if self.api_key_env:
            return env.get(self.api_key_env)
        return self.api_key


@dataclass(frozen=True)
class ContextSettings:
    """`[contexts.NAME]`: how to guard a context that is not a profile of this file (an instance of
    ~/.dataiku/config.json, or "local"). `where` is "FILE (line N)" of the table, for messages."""

    name: str
    production: bool | None = None
    color: str | None = None
    read_only: bool = False
    where: str = ""


@dataclass
class Config:
    path: Path | None = None
    theme: str = DEFAULT_THEME
    refresh_interval: float = DEFAULT_REFRESH
    read_only: bool = False
    keymap: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    contexts: dict[str, ContextSettings] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)


def timeouts_for(config: Config, flag: str | None = None) -> Timeouts:
    """The timeouts to use: the command line's --timeout when given, else the config's (file, then env)."""
    if flag is None or not str(flag).strip():
        return config.timeouts
    try:
        return Timeouts.parse(flag, "--timeout")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def resolve_with_config(config: Config, *, url: str | None, api_key: str | None, profile: str | None,
                        insecure: bool = False, ca_bundle: str | None = None) -> Any:
    """Where to connect, as the console and its headless commands both decide: the flags, then a
    profile of this config file for what they did not give, then core.profiles (environment,
    ~/.dataiku/config.json, else the embedded local deployer). Returns a core.profiles.Connection;
    its `source` names the config profile when the key came from there."""
    from dataclasses import replace

    from deployer_tui.core.profiles import resolve_connection

    origin = None
    if profile and profile in config.profiles:
        own = config.profiles[profile]
        if not api_key:
            via = f" (env var {own.api_key_env})" if own.api_key_env else ""
            origin = f"config:profile {profile!r} of {config.path}{via}"
        url = url or own.url
        api_key = api_key or own.resolved_api_key()
        insecure = insecure or own.insecure
        ca_bundle = ca_bundle or own.ca_bundle
        if not url:
            raise ConfigError(f"{config.path}: profiles.{profile}: no url")
        if not api_key:
            where = f"env var {own.api_key_env}" if own.api_key_env else "api_key"
            raise ConfigError(f"{config.path}: profiles.{profile}: no API key ({where} is empty)")
        profile = None
    connection = resolve_connection(url=url, api_key=api_key, profile=profile, insecure=insecure, ca_bundle=ca_bundle)
    return replace(connection, source=origin) if origin else connection


def load_config(path: Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Read the config file (absent = defaults), then apply the environment overrides."""
    path = path or paths.config_file()
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            # tomllib's message already ends with "(at line N, column M)".
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
    config = _from_dict(raw, path, path.read_text(encoding="utf-8") if raw else "")
    _apply_env(config, env)
    return config


def _line_of(text: str, dotted: str, name: str | None = None) -> str:
    """' (line N)' for the line that sets `name` (default: the last part of a dotted key), best effort.
    For a key of a `[table.NAME]` (profiles, contexts) the search starts at that table's header, so the
    same key in two tables is found in the right one."""
    name = name or dotted.rsplit(".", 1)[-1]
    lines = text.splitlines()
    parts = dotted.split(".")
    if len(parts) >= 2 and parts[0] in ("profiles", "contexts"):
        table, own = re.escape(parts[0]), re.escape(parts[1])
        header = re.compile(rf'^\s*\[\s*{table}\s*\.\s*(?:"{own}"|{own})\s*\]')
        key = re.compile(rf'^\s*(?:"{re.escape(parts[-1])}"|{re.escape(parts[-1])})\s*=')
        for start, line in enumerate(lines):
            if header.search(line):
                if len(parts) == 2:
                    return f" (line {start + 1})"
                for number in range(start + 1, len(lines)):
                    if lines[number].lstrip().startswith("["):
                        break
                    if key.search(lines[number]):
                        return f" (line {number + 1})"
                return f" (line {start + 1})"
    pattern = re.compile(rf'^\s*(?:"{re.escape(name)}"|{re.escape(name)})\s*=|^\s*\[[^\]]*\b{re.escape(name)}\]')
    for number, line in enumerate(lines, start=1):
        if pattern.search(line):
            return f" (line {number})"
    return ""


def _from_dict(raw: dict[str, Any], path: Path, text: str = "") -> Config:
    def fail(key: str, why: str, name: str | None = None) -> ConfigError:
        return ConfigError(f"{path}{_line_of(text, key, name)}: {key}: {why}")

    known = {"theme", "refresh_interval", "read_only", "keymap", "profiles", "contexts", "timeout"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise fail(unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")
    config = Config(path=path)
    if "theme" in raw:
        if not isinstance(raw["theme"], str) or not raw["theme"]:
            raise fail("theme", "must be a non-empty string")
        config.theme = raw["theme"]
    if "refresh_interval" in raw:
        value = raw["refresh_interval"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise fail("refresh_interval", "must be a number of seconds >= 0 (0 = off)")
        config.refresh_interval = float(value)
    if "read_only" in raw:
        if not isinstance(raw["read_only"], bool):
            raise fail("read_only", "must be true or false")
        config.read_only = raw["read_only"]
    if "timeout" in raw:
        value = raw["timeout"]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise fail("timeout", "must be a number of seconds, or \"CONNECT,READ,LONG\"")
        try:
            config.timeouts = Timeouts.parse(value, "timeout")
        except ValueError as exc:
            raise fail("timeout", str(exc).split(": ", 1)[1]) from None
    keymap = raw.get("keymap", {})
    if not isinstance(keymap, dict):
        raise fail("keymap", "must be a table of binding-id = \"keys\"")
    for binding_id, keys in keymap.items():
        if not isinstance(keys, str) or not keys.strip():
            raise fail(f"keymap.{binding_id}", "must be a non-empty string of keys, e.g. \"j,down\"", binding_id)
        config.keymap[binding_id] = keys
    allowed = {"url", "api_key", "api_key_env", "insecure", "ca_bundle", *_GUARD_KEYS}
    for name, body in _named_tables(raw, "profiles", allowed, fail):
        for key in ("url", "api_key", "api_key_env", "ca_bundle"):
            if key in body and not isinstance(body[key], str):
                raise fail(f"profiles.{name}.{key}", "must be a string")
        if "insecure" in body and not isinstance(body["insecure"], bool):
            raise fail(f"profiles.{name}.insecure", "must be true or false")
        _check_guard_keys(body, f"profiles.{name}", fail)
        config.profiles[name] = Profile(name=name, where=f"{path}{_line_of(text, f'profiles.{name}')}", **body)
    for name, body in _named_tables(raw, "contexts", _GUARD_KEYS, fail,
                                    "; a connection of its own is a [profiles.NAME]"):
        _check_guard_keys(body, f"contexts.{name}", fail)
        config.contexts[name] = ContextSettings(name=name, where=f"{path}{_line_of(text, f'contexts.{name}')}",
                                                **body)
    return config


_GUARD_KEYS = {"production", "color", "read_only"}
# A colour name ("red", "dark_orange") or "#rrggbb"/"#rgb": what a header style accepts, checked without
# importing the UI (core/ stays free of Textual).
_COLOR = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]*|#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})$")


def _named_tables(raw: dict[str, Any], section: str, allowed: set[str], fail: Callable[..., ConfigError],
                  hint: str = "") -> list[tuple[str, dict[str, Any]]]:
    """The `[section.NAME]` tables, each checked to be a table with only `allowed` keys."""
    tables = raw.get(section, {})
    if not isinstance(tables, dict):
        raise fail(section, f"must be a table of [{section}.NAME] tables")
    for name, body in tables.items():
        if not isinstance(body, dict):
            raise fail(f"{section}.{name}", "must be a table")
        extra = sorted(set(body) - allowed)
        if extra:
            raise fail(f"{section}.{name}.{extra[0]}", f"unknown key (known: {', '.join(sorted(allowed))}){hint}")
    return list(tables.items())


def _check_guard_keys(body: dict[str, Any], table: str, fail: Callable[..., ConfigError]) -> None:
    for key in ("production", "read_only"):
        if key in body and not isinstance(body[key], bool):
            raise fail(f"{table}.{key}", "must be true or false")
    if "color" in body and (not isinstance(body["color"], str) or not _COLOR.match(body["color"])):
        raise fail(f"{table}.color", "must be a colour name like \"red\" or \"#rrggbb\"")


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    theme = env.get("DEPLOYER_TUI_THEME")
    if theme:
        config.theme = theme
    refresh = env.get("DEPLOYER_TUI_REFRESH")
    if refresh is not None and refresh.strip():
        try:
            value = float(refresh)
        except ValueError:
            raise ConfigError(f"DEPLOYER_TUI_REFRESH={refresh!r}: must be a number of seconds") from None
        if value < 0:
            raise ConfigError(f"DEPLOYER_TUI_REFRESH={refresh!r}: must be >= 0 (0 = off)")
        config.refresh_interval = value
    timeout = env.get("DEPLOYER_TUI_TIMEOUT")
    if timeout is not None and timeout.strip():
        try:
            config.timeouts = Timeouts.parse(timeout, f"DEPLOYER_TUI_TIMEOUT={timeout!r}")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    read_only = env.get("DEPLOYER_TUI_READ_ONLY")
    if read_only is not None:
        lowered = read_only.strip().lower()
        if lowered in _TRUE:
            config.read_only = True
        elif lowered not in _FALSE:
            raise ConfigError(f"DEPLOYER_TUI_READ_ONLY={read_only!r}: must be true or false")

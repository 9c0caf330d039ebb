"""Where to connect (the README's command line): flags, then env DKU_DSS_URL/DKU_API_KEY, then ~/.dataiku/config.json,
else the embedded local deployer.

`~/.dataiku/config.json` is the file the `dataiku` package reads:
`{"dss_instances": {"NAME": {"url", "api_key", "no_check_certificate"?}}, "default_instance": "NAME"}`.
`--profile NAME` picks an instance; it is a flag, so it wins over the environment. As Dataiku's own tools
read that file: with no `default_instance` and exactly one instance, that one is used (and `note` says so
for the header); `no_check_certificate` may be true/false or "true"/"1"/"yes" and "false"/"0"/"no"; the
environment variable DKU_NO_CHECK_CERTIFICATE turns certificate checks off for the environment's and the
file's instances. Every problem found in that file is a ProfileError naming the file and the key; keys
never appear in messages or reprs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class ProfileError(Exception):
    """The connection cannot be resolved: a malformed config file, a missing key, an unknown profile."""


@dataclass(frozen=True)
class Connection:
    """Where to connect. url None means: start and use the embedded local deployer."""

    url: str | None
    api_key: str | None = field(repr=False)
    verify: bool | str = True
    source: str = "local"  # "flags" | "env" | "profile:NAME" | "config:<where in our config file>" | "local"
    note: str = ""  # how it was chosen when that is not obvious, for the header ("the only instance in …")

    @property
    def is_local(self) -> bool:
        return self.url is None

    def key_origin(self, dataiku_config: Path | None = None) -> str:
        """Where the API key came from, in words for a message (never the key itself)."""
        if self.source == "flags":
            return "the --api-key flag"
        if self.source == "env":
            return "the DKU_API_KEY environment variable"
        if self.source.startswith("profile:"):
            path = dataiku_config if dataiku_config is not None else default_dataiku_config()
            return f"instance {self.source.removeprefix('profile:')!r} of {path}"
        if self.source.startswith("config:"):
            return self.source.removeprefix("config:")
        return "the local deployer's admin key file"


def default_dataiku_config() -> Path:
    return Path.home() / ".dataiku" / "config.json"


def check_url(url: str, where: str) -> str:
    """The URL without its trailing slash; ProfileError naming `where` unless it is http(s) with a host."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProfileError(f"{where}: URL {url!r} must start with http:// or https:// and name a host")
    return url.rstrip("/")


def _verify(insecure: bool, ca_bundle: str | os.PathLike | None, profile_insecure: bool = False) -> bool | str:
    if ca_bundle:
        path = Path(ca_bundle).expanduser()
        if not path.is_file():
            raise ProfileError(f"--ca-bundle: {path} is not a readable file")
        if insecure:
            raise ProfileError("--insecure and --ca-bundle contradict each other: give one of them")
        return str(path)
    return not (insecure or profile_insecure)


def verify_for(insecure: bool, ca_bundle: str | os.PathLike | None) -> bool | str:
    """What a client's `verify` is for these settings (a CA bundle path, or whether to check at all)."""
    return _verify(False, ca_bundle, insecure)


_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


def _flag(value: object, where: str) -> bool:
    """true/false, or one of their string spellings; a ProfileError naming `where` otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ProfileError(f"{where} must be true or false (or \"true\"/\"1\"/\"yes\", \"false\"/\"0\"/\"no\"), "
                       f"not {value!r}")


def _env_insecure(env: Mapping[str, str]) -> bool:
    value = env.get("DKU_NO_CHECK_CERTIFICATE")
    return False if value is None else _flag(value, "DKU_NO_CHECK_CERTIFICATE")


def _load_config(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a JSON object at the top level, found {type(data).__name__}")
    instances = data.get("dss_instances", {})
    if not isinstance(instances, dict):
        raise ProfileError(f"{path}: \"dss_instances\" must be an object mapping names to instances")
    return data


def _from_profile(path: Path, data: dict, name: str, insecure: bool, ca_bundle: str | None,
                  key: str = "--profile", note: str = "") -> Connection:
    instances = data.get("dss_instances") or {}
    if name not in instances:
        known = ", ".join(sorted(instances)) or "none"
        raise ProfileError(f"{path}: {key} {name!r}: no instance named {name!r} in \"dss_instances\" (known: {known})")
    inst = instances[name]
    where = f"{path}: instance {name!r}"
    if not isinstance(inst, dict):
        raise ProfileError(f"{where} must be an object with \"url\" and \"api_key\"")
    for key in ("url", "api_key"):
        if not isinstance(inst.get(key), str) or not inst[key].strip():
            raise ProfileError(f"{where} has no \"{key}\"")
    no_check = _flag(inst.get("no_check_certificate", False), f"{where}: \"no_check_certificate\"")
    return Connection(check_url(inst["url"], where), inst["api_key"].strip(),
                      _verify(insecure, ca_bundle, no_check), f"profile:{name}", note)


def resolve_connection(
    url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    insecure: bool = False,
    ca_bundle: str | os.PathLike | None = None,
    env: Mapping[str, str] = os.environ,
    dataiku_config: Path | None = None,
) -> Connection:
    """Decide where to connect; raises ProfileError with a message fit for the user."""
    path = Path(dataiku_config) if dataiku_config is not None else default_dataiku_config()
    if url or api_key:
        if profile:
            raise ProfileError("give either --url/--api-key or --profile, not both")
        if not url:
            raise ProfileError("--api-key given without --url: give both (or neither, to use "
                               "DKU_DSS_URL/DKU_API_KEY, a profile, or the local deployer)")
        if not api_key:
            raise ProfileError("--url given without --api-key: give both (or neither, to use "
                               "DKU_DSS_URL/DKU_API_KEY, a profile, or the local deployer)")
        return Connection(check_url(url, "--url"), api_key, _verify(insecure, ca_bundle), "flags")
    env_insecure = _env_insecure(env)
    if profile:
        if not path.exists():
            raise ProfileError(f"--profile {profile}: {path} does not exist")
        return _from_profile(path, _load_config(path), profile, insecure or env_insecure, ca_bundle)
    env_url, env_key = env.get("DKU_DSS_URL", "").strip(), env.get("DKU_API_KEY", "").strip()
    if env_url or env_key:
        if not env_key:
            raise ProfileError("DKU_DSS_URL is set but DKU_API_KEY is not: set both, or unset DKU_DSS_URL")
        if not env_url:
            raise ProfileError("DKU_API_KEY is set but DKU_DSS_URL is not: set both, or unset DKU_API_KEY")
        return Connection(check_url(env_url, "DKU_DSS_URL"), env_key,
                          _verify(insecure or env_insecure, ca_bundle), "env")
    if path.exists():
        data = _load_config(path)
        default = data.get("default_instance")
        instances = data.get("dss_instances") or {}
        if default is not None:
            if not isinstance(default, str) or not default:
                raise ProfileError(f"{path}: \"default_instance\" must be an instance name")
            return _from_profile(path, data, default, insecure or env_insecure, ca_bundle, "\"default_instance\"")
        if len(instances) == 1:
            only = next(iter(instances))
            return _from_profile(path, data, only, insecure or env_insecure, ca_bundle,
                                 note=f"the only instance in {path}")
        if len(instances) > 1:
            raise ProfileError(f"{path}: \"default_instance\" is not set and \"dss_instances\" has "
                               f"{len(instances)} instances ({', '.join(sorted(instances))}): set "
                               "\"default_instance\" or pick one with --profile")
    return Connection(None, None, _verify(insecure, ca_bundle), "local")


@dataclass(frozen=True)
class Instance:
    """One instance of ~/.dataiku/config.json, as the console would connect to it with `--profile NAME`:
    `connection` when it is usable, else `problem` saying why (in words, never with its key)."""

    name: str
    connection: Connection | None
    problem: str | None = None
    default: bool = False  # the file's "default_instance" (or its only instance)


def list_instances(env: Mapping[str, str] = os.environ, dataiku_config: Path | None = None) -> list[Instance]:
    """Every instance of the file, in its order, read as `resolve_connection(profile=NAME)` reads one.
    A missing file is no instance; a file that cannot be read or parsed raises ProfileError; one bad
    instance is listed with its problem and does not hide the others."""
    path = Path(dataiku_config) if dataiku_config is not None else default_dataiku_config()
    if not path.exists():
        return []
    data = _load_config(path)
    instances = data.get("dss_instances") or {}
    default = data.get("default_instance")
    if not isinstance(default, str):
        default = next(iter(instances)) if len(instances) == 1 else None
    insecure = _env_insecure(env)
    found = []
    for name in instances:
        try:
            found.append(Instance(name, _from_profile(path, data, name, insecure, None), None, name == default))
        except ProfileError as exc:
            found.append(Instance(name, None, str(exc), name == default))
    return found

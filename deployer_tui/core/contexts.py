"""The deployers the console can switch between: contexts (docs/contexts.md).

A context is every instance of ~/.dataiku/config.json (read by core/profiles.py, the one parser of that
file), every `[profiles.NAME]` of the console's config file, and `local` (the embedded deployer); plus the
connection the command line chose when it is none of these (`--url/--api-key`, DKU_DSS_URL/DKU_API_KEY).
Names are unique and stable: they come from the files, and a clash is settled by one fixed rule (below),
never by order of discovery. Keys are read from the files and the environment as core/profiles.py reads
them, are never written, and never appear in a repr, a str or a message; a context's key is only ever
given to a client of that context's URL (`Context.connection()`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from deployer_tui.core.config import Config, ConfigError
from deployer_tui.core.profiles import (
    Connection,
    ProfileError,
    check_url,
    default_dataiku_config,
    list_instances,
    verify_for,
)

LOCAL = "local"


class ContextError(Exception):
    """A context cannot be used (its instance or profile is incomplete), or no context has that name."""


@dataclass(frozen=True)
class Context:
    name: str
    url: str | None
    api_key: str | None = field(repr=False)
    verify: bool | str = True
    source: str = ""  # "dataiku:NAME" | "config:profiles.NAME" | "local" | "flags" | "env"
    production: bool | None = None  # from the config; None: decided from the stages (core/production.py)
    color: str | None = None
    read_only: bool = False
    current: bool = False  # the one the command line chose
    note: str = ""  # why the name is not the file's own name, or how it was chosen
    problem: str | None = None  # set: listed but not usable (connection() raises ContextError with it)
    where: str = ""  # the file the context comes from, for messages (never the key)

    @property
    def is_local(self) -> bool:
        return self.source == LOCAL

    def connection(self) -> Connection:
        """What the launcher and the clients take: url None means the embedded local deployer."""
        if self.problem:
            raise ContextError(f"context {self.name!r}: {self.problem}")
        if self.is_local:
            return Connection(None, None, self.verify, "local", self.note)
        if self.source.startswith("dataiku:"):
            source = "profile:" + self.source.removeprefix("dataiku:")
        elif self.source.startswith("config:"):
            source = f"config:profile {self.source.removeprefix('config:profiles.')!r} of {self.where}"
        else:
            source = self.source
        return Connection(self.url, self.api_key, self.verify, source, self.note)

    def key_origin(self) -> str:
        """Where this context's key comes from, in words (never the key)."""
        if self.is_local:
            return "the local deployer's admin key file"
        if self.source == "flags":
            return "the --api-key flag"
        if self.source == "env":
            return "the DKU_API_KEY environment variable"
        if self.source.startswith("dataiku:"):
            return f"instance {self.source.removeprefix('dataiku:')!r} of {self.where}"
        return f"profile {self.source.removeprefix('config:profiles.')!r} of {self.where}"

    def __str__(self) -> str:
        return f"{self.name} ({self.url or 'embedded local deployer'})"


def list_contexts(config: Config, *, dataiku_config: Path | None = None,
                  env: Mapping[str, str] = os.environ, initial: Connection | None = None) -> list[Context]:
    """Every context, the one `initial` names first with `current=True` (then the config file's profiles,
    the instances of ~/.dataiku/config.json, and `local`, each in file order).

    Names: a config profile keeps its name (it wins over an instance of the same name, as `--profile`
    decides); a clashing instance of ~/.dataiku/config.json becomes "NAME@dataiku"; a profile named
    "local" becomes "local@config". The command line's own `--url` or DKU_DSS_URL connection, when it is
    none of the listed contexts, is a context named "flags" or "env". Raises ConfigError for a
    `[contexts.NAME]` that names no instance (a typo there would leave a production deployer unguarded),
    ProfileError when ~/.dataiku/config.json cannot be read at all.
    """
    path = Path(dataiku_config) if dataiku_config is not None else default_dataiku_config()
    contexts: list[Context] = []
    for name, profile in config.profiles.items():
        shown = f"{name}@config" if name == LOCAL else name
        note = f"the config profile {name!r} (renamed: \"local\" is the embedded deployer)" if shown != name else ""
        problem, url, key, verify = None, None, None, True
        try:
            if not profile.url:
                raise ProfileError("no url")
            url = check_url(profile.url, f"profiles.{name}")
            key = profile.resolved_api_key(env)
            if not key:
                where = f"env var {profile.api_key_env}" if profile.api_key_env else "api_key"
                raise ProfileError(f"no API key ({where} is empty)")
            verify = verify_for(profile.insecure, profile.ca_bundle)
        except ProfileError as exc:
            problem = str(exc)
        contexts.append(Context(shown, url, key, verify, f"config:profiles.{name}", profile.production,
                                profile.color, profile.read_only, note=note, problem=problem,
                                where=profile.where or str(config.path)))
    taken = {context.name for context in contexts} | {LOCAL}
    instance_names = set()
    for instance in list_instances(env, path):
        instance_names.add(instance.name)
        shown, note = instance.name, ""
        if shown in taken:
            shown = f"{instance.name}@dataiku"
            note = (f"instance {instance.name!r} of {path} (renamed: a config profile or the embedded "
                    "deployer has its name)")
        settings = config.contexts.get(instance.name)
        conn = instance.connection
        contexts.append(Context(
            shown, conn.url if conn else None, conn.api_key if conn else None, conn.verify if conn else True,
            f"dataiku:{instance.name}", settings.production if settings else None,
            settings.color if settings else None, settings.read_only if settings else False,
            note=(note or conn.note) if conn else note, problem=instance.problem, where=str(path)))
        taken.add(shown)
    local_settings = config.contexts.get(LOCAL)
    contexts.append(Context(LOCAL, None, None, True, LOCAL,
                            local_settings.production if local_settings else None,
                            local_settings.color if local_settings else None,
                            local_settings.read_only if local_settings else False, where="the embedded deployer"))
    for name, settings in config.contexts.items():
        if name != LOCAL and name not in instance_names:
            known = ", ".join(sorted(instance_names | {LOCAL}))
            hint = f"; set these keys on [profiles.{name}] itself" if name in config.profiles else ""
            raise ConfigError(f"{settings.where}: contexts.{name}: no instance named {name!r} in {path} "
                              f"and it is not \"local\" (known: {known}){hint}")
    return _mark_initial(contexts, initial)


def _mark_initial(contexts: list[Context], initial: Connection | None) -> list[Context]:
    if initial is None:
        return contexts
    chosen = _find_initial(contexts, initial)
    if chosen is None:
        name = initial.source if initial.source in ("flags", "env") else "command line"
        taken = {context.name for context in contexts}
        shown, n = name, 2
        while shown in taken:
            shown, n = f"{name}{n}", n + 1
        note = "the --url and --api-key flags" if initial.source == "flags" else (
            "DKU_DSS_URL and DKU_API_KEY" if initial.source == "env" else initial.note)
        chosen = Context(shown, initial.url, initial.api_key, initial.verify,
                         initial.source if initial.source in ("flags", "env") else "flags", note=note)
        others = contexts
    else:
        others = [context for context in contexts if context is not chosen]
    return [replace(chosen, current=True), *others]


def _find_initial(contexts: list[Context], initial: Connection) -> Context | None:
    """The listed context the command line's connection is: by its source when it names one, else the
    one with the same URL and key (so `--url X --api-key K` equal to a profile is that profile)."""
    if initial.url is None:
        return next(context for context in contexts if context.is_local)
    if initial.source.startswith("profile:"):
        wanted = "dataiku:" + initial.source.removeprefix("profile:")
        found = next((context for context in contexts if context.source == wanted), None)
        if found is not None:
            return found
    same = [context for context in contexts if context.problem is None and context.url == initial.url
            and context.api_key == initial.api_key]
    if initial.source.startswith("config:"):
        same.sort(key=lambda context: not context.source.startswith("config:"))
    return same[0] if same else None


def find_context(contexts: list[Context], name: str) -> Context:
    """The context of that name; ContextError listing the names otherwise."""
    for context in contexts:
        if context.name == name:
            return context
    known = ", ".join(context.name for context in contexts) or "none"
    raise ContextError(f"no context named {name!r} (known: {known})")

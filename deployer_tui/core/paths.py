"""Where deployer-tui keeps things on the user's machine (XDG base directories).

The local deployer's default data dir and the TUI's config file are found here, so that
`deployer-tui serve` and the TUI's embedded deployer agree without talking to each other.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "deployer-tui"
# The local deployer keeps its generated admin key in this file of its data dir (mode 0600).
ADMIN_KEY_FILE = "admin-api-key"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def data_dir() -> Path:
    """Default data dir of the embedded local deployer: $DEPLOYER_TUI_DATA_DIR, else XDG data home."""
    override = os.environ.get("DEPLOYER_TUI_DATA_DIR")
    if override:
        return Path(override)
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def state_dir() -> Path:
    """What the console keeps between runs that is neither config nor data (its journal): XDG state home."""
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def config_file() -> Path:
    """The TUI's config file: $DEPLOYER_TUI_CONFIG, else <XDG config home>/deployer-tui/config.toml."""
    override = os.environ.get("DEPLOYER_TUI_CONFIG")
    return Path(override) if override else config_dir() / "config.toml"


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by its owner only: created 0600 from the start (never
    world-readable for an instant), fsynced, then renamed over the old file, so a reader sees the old document
    or the new one, never half of one. The temporary name carries the pid: two processes never share it."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # a umask or an existing file's mode never widens it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_secret(path: Path, text: str) -> None:
    """Write a file holding a key (write_private, its directory made when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text)

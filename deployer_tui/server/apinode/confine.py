"""Confinement of worker processes: Landlock, an unprivileged uid, and non-dumpable node processes.

Imported by the node (to decide what a worker may read) and by the worker (to apply it before any
endpoint code is imported). Standard library and ctypes only: the worker loads it before user code,
and the kernel interfaces are a handful of system calls (see docs/security.md for what they buy).

Landlock (Linux 5.13+, unprivileged) limits which files the worker can open, by hierarchy. When the
node runs as root, workers also switch to an unprivileged uid (`nobody`): they keep only
CAP_DAC_READ_SEARCH, so that they can read their version files and the Python installation even
where those sit in private folders, while Landlock still decides *which* files that is. Without
Landlock that capability reads everything: the node then says so loudly at start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import pwd
import site
import sys
from pathlib import Path
from typing import Any

# System call numbers of the Landlock API: the same on x86_64 and aarch64 (new calls share numbers).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

# Filesystem access rights, by the ABI version that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
# Rights that make sense on a file (the kernel refuses directory rights on a file rule).
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
# ABI 6 scopes: no signals to, and no abstract unix sockets of, processes outside the sandbox.
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = READ_FILE | READ_DIR
READ_EXEC = READ | EXECUTE
READ_WRITE = READ | WRITE_FILE | TRUNCATE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM \
    | MAKE_SOCK | MAKE_FIFO | REFER

# What every worker may read besides its version and the Python it runs on: shared libraries,
# certificates, name resolution, time zones, and the few device and kernel files libraries probe.
SYSTEM_READ = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/etc/ssl", "/etc/pki", "/etc/ca-certificates",
               "/etc/localtime", "/etc/ld.so.cache", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
               "/etc/host.conf", "/etc/gai.conf", "/etc/mime.types", "/proc/cpuinfo", "/proc/meminfo",
               "/proc/stat", "/sys/devices/system/cpu", "/sys/fs/cgroup/cpu.max", "/dev/urandom", "/dev/random"]
SYSTEM_READ_WRITE = ["/dev/null", "/dev/zero"]

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_KEEPCAPS = 1, 4, 8
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_DAC_READ_SEARCH = 2
_CAPABILITY_VERSION_3 = 0x20080522

_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


class ConfinementError(OSError):
    """A step of the confinement failed; the worker must not run endpoint code then."""


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise ConfinementError(errno, f"{what}: {os.strerror(errno)}")
    return result


def landlock_abi() -> int:
    """The Landlock ABI version of the running kernel; 0 when it has none (or it is disabled)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64", "arm64"):
        return 0
    try:
        version = _c().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def worker_identity() -> tuple[int, int] | None:
    """The (uid, gid) workers switch to: `nobody` when the node runs as root, else None (they keep the node's)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def status() -> dict[str, Any]:
    """What confinement this node gives its workers (for its start line, its log and the admin API)."""
    abi = landlock_abi()
    identity = worker_identity()
    return {"landlockAbi": abi, "filesystemConfined": abi > 0, "workerUid": identity[0] if identity else os.getuid(),
            "uidDropped": identity is not None, "nodeRunsAsRoot": identity is not None}


def describe(info: dict[str, Any]) -> tuple[str, bool]:
    """A one-line summary of `status()`; the flag says whether it is a warning."""
    if info["filesystemConfined"]:
        who = f"as the unprivileged uid {info['workerUid']}" if info["uidDropped"] else "as the node's own user"
        return (f"endpoint code is confined (Landlock ABI {info['landlockAbi']}: it reads only its version, "
                f"Python and a private temporary folder; workers run {who})"), False
    if info["uidDropped"]:
        return (f"WARNING: this kernel has no Landlock: endpoint code runs as uid {info['workerUid']}, which stops it "
                "writing outside its temporary folder, but it can READ every file, including the node's admin keys "
                "and, under `deployer-tui serve`, the deployer's data (see docs/security.md)"), True
    return ("WARNING: endpoint code is NOT confined: this kernel has no Landlock and the node does not run as root, "
            "so endpoint code can read everything this user can, including the node's admin keys and, under "
            "`deployer-tui serve`, the deployer's data (see docs/security.md)"), True


def python_paths() -> list[str]:
    """Where the running Python and its packages live (what a worker must read to import anything)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    with_site = [*getattr(site, "getsitepackages", list)(), getattr(site, "getusersitepackages", str)()]
    paths.update(p for p in with_site if p)
    paths.update(p for p in sys.path if p and p.endswith(("site-packages", "dist-packages", ".zip")))
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(p for p in paths if os.path.exists(p))


def read_rules(own: list[str], private: list[Path]) -> list[str]:
    """`own` paths without any that contains one of `private` (the node's or deployer's state)."""
    keep = []
    for path in own:
        resolved = Path(path).resolve()
        if any(p == resolved or resolved in p.parents for p in private):
            continue
        keep.append(str(resolved))
    return keep


def set_not_dumpable() -> None:
    """Keep other processes of this user (workers without Landlock) out of /proc/<pid>/environ, mem and fds."""
    if sys.platform == "linux":
        _c().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def die_with_parent() -> None:
    if sys.platform == "linux":
        import signal

        _c().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def apply_landlock(rules: list[tuple[str, int]], abi: int) -> None:
    """Restrict this process (and its future children) to `rules`: (path, access rights) pairs.

    Paths that do not exist are skipped. Raises ConfinementError if the kernel refuses a step.
    """
    libc = _c()
    handled = _ABI_FS[min(abi, 5)]
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8  # handled_access_fs only: this sandbox does not restrict the network
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = ctypes.sizeof(_RulesetAttr)
    ruleset = _check(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                                  ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                allowed = access & handled
                if not os.path.isdir(path):
                    allowed &= _FILE_RIGHTS
                rule = _PathBeneath(allowed_access=allowed, parent_fd=fd)
                _check(libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                    ctypes.byref(rule), ctypes.c_uint32(0)), f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_to(uid: int, gid: int, *, keep_read_search: bool) -> None:
    """Become `uid`/`gid` with no supplementary groups, keeping at most CAP_DAC_READ_SEARCH."""
    libc = _c()
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    last_cap = 63
    with contextlib.suppress(OSError, ValueError):
        last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last_cap + 1):  # executed programs never regain anything
        if cap != _CAP_DAC_READ_SEARCH or not keep_read_search:
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if keep_read_search:
        _check(libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if keep_read_search:
        header = _CapHeader(version=_CAPABILITY_VERSION_3, pid=0)
        bit = 1 << _CAP_DAC_READ_SEARCH
        data = (_CapData * 2)(_CapData(bit, bit, 0), _CapData(0, 0, 0))
        number = _SYS_CAPSET.get(platform.machine())
        if number is None:
            raise ConfinementError(0, "capset: unknown architecture")
        _check(libc.syscall(number, ctypes.byref(header), data), "capset")
        libc.prctl(_PR_SET_KEEPCAPS, 0, 0, 0, 0)
    if os.getuid() != uid or os.geteuid() != uid:
        raise ConfinementError(0, f"the worker is still uid {os.geteuid()} after switching to {uid}")


def confine_worker(plan: dict[str, Any]) -> None:
    """Apply a worker's confinement plan (built by the node: `workers.confinement_plan`)."""
    abi = int(plan.get("landlockAbi") or 0)
    if abi:
        rules = [(p, READ_EXEC) for p in plan.get("read") or []]
        rules += [(p, READ_WRITE) for p in plan.get("readWrite") or []]
        rules += [(p, READ_FILE | WRITE_FILE | TRUNCATE) for p in plan.get("devices") or []]
        # /proc/self is this process's own folder: its status, limits and maps, which libraries read.
        rules.append((f"/proc/{os.getpid()}", READ))
        apply_landlock(rules, abi)
    identity = plan.get("identity")
    if identity:
        # Without Landlock the capability reads everything, as root would; it is kept all the same,
        # since the version (in a 0700 data dir) and often Python itself are unreadable without it:
        # the uid then still stops endpoint code from writing, signalling or reconfiguring anything.
        drop_to(identity[0], identity[1], keep_read_search=True)
        die_with_parent()  # a change of uid clears the parent-death signal

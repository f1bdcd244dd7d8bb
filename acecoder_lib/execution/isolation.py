"""Kernel-level sandbox layers (namespaces, read-only mounts, rlimits, uid drop) as plain stdlib helpers.

Imported by the worker script ``worker.py`` as a top-level module (the worker runs ``python -s -B`` and imports nothing
from the package). So: stdlib only, no relative imports.

Layers, cheapest first (each one is optional and reported; see docs/execution.md):
- ``unshare_worker``: once per worker, new network + mount + PID namespaces (a user namespace first when not root).
- ``setup_mounts``: once per worker, a private read-only view of every filesystem, a fresh /proc, and the Python
  install made reachable for an unprivileged uid (it may live under a 0700 /root).
- ``mount_workdir`` / ``empty_dir``: per worker a private tmpfs on /tmp (= /dev/shm), emptied after every program.
- ``enter_sandbox``: in the forked child, rlimits then setgroups/setresgid/setresuid to the worker slot's uid.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 1, 38, 4
_FLAG_OPTS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
# Kernel-managed trees a read-only bind remount must not touch (and that an unprivileged uid cannot write anyway).
_SKIP_PREFIXES = ("/proc", "/sys", "/dev")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(ret: int, what: str) -> None:
    """Raise OSError with errno text when a libc call failed."""
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s):
    """Encode an optional str for libc."""
    return None if s is None else os.fsencode(s)


def mount(source, target, fstype, flags=0, data=None) -> None:
    """mount(2) through libc."""
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """umount2(2) through libc (lazy detach by default: busy mounts go away when the last user does)."""
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def prctl(option: int, arg: int = 0) -> None:
    """prctl(2) with one argument."""
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl {option}")


def unshare(flags: int) -> None:
    """unshare(2) (Python 3.11 has no os.unshare)."""
    _check(_libc.unshare(flags), f"unshare {flags:#x}")


def unshare_worker(want_net: bool = True, force_userns: bool = False) -> dict:
    """Enter new namespaces for this worker; returns which layers worked (keys below) and 'notes' on fallback."""
    base = CLONE_NEWNS | CLONE_NEWPID | (CLONE_NEWNET if want_net else 0)
    root = os.geteuid() == 0 and not force_userns
    info = {"root": root, "userns": False, "mountns": False, "pidns": False, "netns": False, "notes": []}
    uid, gid = os.geteuid(), os.getegid()
    attempts = [base] if root else []
    attempts += [CLONE_NEWUSER | base]  # non-root laptop: a user namespace grants the rights for the others
    for flags in attempts:
        try:
            unshare(flags)
        except OSError as e:
            info["notes"].append(str(e))
            continue
        if flags & CLONE_NEWUSER:
            # Map ourselves to uid 0 inside; only one uid exists there, so no per-slot uid drop is possible.
            try:
                for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                    with open(f"/proc/self/{name}", "w") as f:
                        f.write(text)
            except OSError as e:  # namespaces exist but we hold no rights in them: mounts will fail and say so
                info["notes"].append(f"user namespace id map: {e}")
            info["userns"] = True
        info.update(mountns=True, pidns=True, netns=bool(flags & CLONE_NEWNET))
        return info
    return info


def _mountinfo() -> list[tuple[str, int]]:
    """(mount point, MS_* flags to preserve) for every mount visible to this process."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mp = parts[4].encode().decode("unicode_escape")  # \040 for spaces
            flags = 0
            for opt in parts[5].split(","):
                flags |= _FLAG_OPTS.get(opt, 0)
            out.append((mp, flags))
    return out


WORKDIR = "/tmp"
# Trees the worker covers with tmpfs mounts of its own (its private /tmp, and /dev/shm: the staging area of
# setup_mounts, later a second view of /tmp). Anything the sandbox needs that lives below one of them (a venv or a
# checkout under /tmp, a pip --target dir, a model cache) must be carried across explicitly: see mount_workdir.
COVERED = (WORKDIR, "/dev/shm")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def shadowed(paths, roots=COVERED) -> list[str]:
    """The real paths among `paths` that a tmpfs over one of `roots` would hide (outermost only, sorted)."""
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})
    hidden = [p for p in real if any(_under(p, r) for r in roots) and p not in roots]
    return [p for p in hidden if not any(q != p and _under(p, q) for q in hidden)]


def _blocker(path: str) -> str | None:
    """The outermost ancestor of `path` that other uids cannot search (e.g. a 0700 /root), or None."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        anc = "/" + "/".join(parts[:i])
        if not os.stat(anc).st_mode & 0o001:
            return anc
    return None


def _expose(paths, stage: str) -> tuple[list[str], list[str]]:
    """Make `paths` reachable for any uid when an ancestor is not world-searchable (e.g. Python under 0700 /root).

    Binds every such path aside first, then mounts a 0755 tmpfs over each blocking ancestor, recreates the way down
    and binds the paths back (all aside before any cover: two paths under one blocker both survive). Returns
    (["path (covered ancestor)", ...], notes); a covered ancestor's other contents become invisible here."""
    done, notes, todo = [], [], []
    for p in sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)}):
        try:
            b = _blocker(p)
        except OSError as e:
            notes.append(f"expose {p}: {e}")
            continue
        if b is not None and not any(_under(p, q) for q, _, _ in todo):  # inner paths ride along with outer ones
            todo.append((p, b, os.path.join(stage, f"expose{len(todo)}")))
    for p, _b, aside in todo:
        os.makedirs(aside, exist_ok=True)
        mount(p, aside, None, MS_BIND | MS_REC)
    for b in sorted({b for _, b, _ in todo}):
        mount("tmpfs", b, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for p, b, aside in todo:
        os.makedirs(p, mode=0o755, exist_ok=True)
        mount(aside, p, None, MS_MOVE)
        done.append(f"{p} (covered {b})")
    return done, notes


def setup_mounts(expose: list[str]) -> dict:
    """Once per worker in its own mount + PID namespace: private propagation, `expose` paths made reachable,
    everything read-only, a fresh /proc that shows only this namespace's processes."""
    info = {"readonly": False, "proc": False, "exposed": [], "notes": []}
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount from here on propagates to the host
    stage = "/dev/shm"
    for p in shadowed(expose, (stage,)):  # the staging tmpfs below covers /dev/shm for good
        info["notes"].append(f"{p} is under /dev/shm, which the sandbox covers: move it elsewhere")
    mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=1m")
    try:
        info["exposed"], notes = _expose(expose, stage)
        info["notes"] += notes
    except OSError as e:
        info["notes"].append(f"expose: {e}")
    ok = True
    for mp, flags in _mountinfo():
        if mp.startswith(_SKIP_PREFIXES):
            continue
        try:
            mount(None, mp, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError as e:
            if not flags & MS_RDONLY:
                ok = False
                info["notes"].append(str(e))
    info["readonly"] = ok
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        info["proc"] = True
    except OSError as e:
        info["notes"].append(str(e))
    return info


def mount_workdir(uid: int, gid: int, size_mb: int, inodes: int = 10_000, keep=()) -> tuple[str, list[str]]:
    """Once per worker: a tmpfs on /tmp, also seen at /dev/shm; returns (/tmp, the kept paths re-mounted in it).

    `keep` are paths the sandbox must still see (the interpreter's prefix and site-packages, the repo, the model
    cache). Those below /tmp are bound aside before the tmpfs goes on and bound back, read-only, at the same path
    inside it. Then /tmp is root's with the sticky bit (mode 1777), so the sandbox uid can create files but cannot
    rename or delete the directories leading to a kept path; without keep paths it is the sandbox uid's, 0700.
    (A fresh tmpfs per program measured slower: umount costs ~1 ms; emptying the directory is ~10 us.)"""
    carried = [p for p in shadowed(keep, (WORKDIR,))]
    stage = "/dev/shm"  # setup_mounts' private 0700 tmpfs (root's), hidden again below by the bind of /tmp
    aside = []
    for i, p in enumerate(carried):
        a = os.path.join(stage, f"keep{i}")
        os.makedirs(a, exist_ok=True) if os.path.isdir(p) else open(a, "a").close()
        mount(p, a, None, MS_BIND | MS_REC)
        aside.append(a)
    if carried:
        opts = f"mode=1777,uid=0,gid=0,size={size_mb}m,nr_inodes={inodes}"
    else:
        opts = f"mode=0700,uid={uid},gid={gid},size={size_mb}m,nr_inodes={inodes}"
    mount("tmpfs", WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for p, a in zip(carried, aside):
        if os.path.isdir(a):
            os.makedirs(p, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
            open(p, "a").close()
        mount(a, p, None, MS_MOVE)
        try:  # the bind copied the read-only flag of the mount it came from (setup_mounts made it so); make sure
            mount(None, p, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError:  # a user namespace refuses to touch locked flags: the inherited read-only view stands
            pass
    mount(WORKDIR, "/dev/shm", None, MS_BIND | MS_REC)
    return WORKDIR, carried


def empty_dir(path: str, keep=()) -> None:
    """Remove everything inside `path` (not path itself) except the top-level entries named in `keep` (the way to a
    kept mount); we are root, the tree belongs to the sandbox uid."""
    import shutil
    with os.scandir(path) as it:
        entries = [e for e in it if e.name not in keep]
    for ent in entries:
        try:
            if ent.is_dir(follow_symlinks=False):
                shutil.rmtree(ent.path, ignore_errors=True)
            else:
                os.unlink(ent.path)
        except OSError:
            pass


def set_limits(memory_mb: int, cpu_s: int, nproc: int | None, fsize_mb: int, nofile: int) -> None:
    """Apply rlimits to this process (inherited by anything it forks)."""
    def lim(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(which)
            resource.setrlimit(which, (min(value, hard) if hard != resource.RLIM_INFINITY else value, hard))

    lim(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    # Soft CPU limit sends SIGXCPU, hard one SIGKILL a second later (a program that ignores SIGXCPU still dies).
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    except (ValueError, OSError):
        pass
    if nproc is not None:
        lim(resource.RLIMIT_NPROC, nproc)
    lim(resource.RLIMIT_FSIZE, fsize_mb * 1024 * 1024)
    lim(resource.RLIMIT_NOFILE, nofile)
    lim(resource.RLIMIT_CORE, 0)


def drop_privileges(uid: int, gid: int) -> None:
    """Become the slot's unprivileged uid for good (no groups, no way back, no new privileges via exec)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)

"""Directories only this user can change: the state dir and every level under it (and, later, a
per-user runtime directory for sockets, as tmux's /tmp/tmux-UID).

What ssh and tmux do: a directory that is a symbolic link, is owned by another user, or can be
written by group or others is refused with its path and the reason, because whoever can change
it can redirect what is written there. A directory is opened once (`O_NOFOLLOW`) and checked on
the open descriptor, and everything below it is created and opened relative to that descriptor,
so swapping a name in the middle of a run cannot redirect a write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
GROUP_OR_OTHER_WRITE = 0o022
GROUP_OR_OTHER_ANY = 0o077   # for a directory of sockets: nobody else may even look


class UnsafeDirectory(Exception):
    """A directory tuiflow will not use: `path` and, in words, `why` (and what to do)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def open_private_dir(path: str, *, dir_fd: int | None = None, create: bool = True,
                     exclusive: bool = False, forbid: int = GROUP_OR_OTHER_WRITE,
                     shown: str | None = None) -> int:
    """A descriptor of the directory `path` (relative to `dir_fd` when given), made 0700 if missing.

    Raises UnsafeDirectory when it is a symbolic link, not a directory, not owned by this user,
    or has any of the mode bits in `forbid`; FileExistsError when `exclusive` and it exists;
    another OSError (naming the path) when it cannot be made or opened. `shown` is the path
    named in messages (default: `path`).
    """
    shown = shown or path
    made = False
    if create or exclusive:
        try:
            os.mkdir(path, 0o700, dir_fd=dir_fd)
            made = True
        except FileExistsError:
            if exclusive:
                raise
        except OSError as exc:
            raise _named(exc, shown) from None
    try:
        fd = os.open(path, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(path, dir_fd):
            raise UnsafeDirectory(shown, "is a symbolic link: tuiflow writes only into a real "
                                  "directory (name the target itself)") from None
        if exc.errno == errno.ENOTDIR:
            raise UnsafeDirectory(shown, "is not a directory") from None
        raise _named(exc, shown) from None
    try:
        if made:
            os.fchmod(fd, 0o700)   # whatever the umask
        check_fd(fd, shown, forbid)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_tree(path: str, forbid: int = GROUP_OR_OTHER_WRITE) -> int:
    """`open_private_dir` for an absolute or relative path whose missing parents are made too.

    Parents that exist are not judged (they are the user's project folders, or /tmp); each level
    made here, and `path` itself, is.
    """
    path = os.path.abspath(path)
    missing: list[str] = []
    top = path
    while not os.path.lexists(top):
        parent = os.path.dirname(top)
        if parent == top:
            break
        missing.append(os.path.basename(top))
        top = parent
    if not missing:
        return open_private_dir(path, create=False, forbid=forbid)
    try:
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _named(exc, top) from None
    shown = top
    for name in reversed(missing):
        shown = os.path.join(shown, name)
        try:
            fd_next = open_private_dir(name, dir_fd=fd, forbid=forbid, shown=shown)
        finally:
            os.close(fd)
        fd = fd_next
    return fd


def check_private_dir(path: str, forbid: int = GROUP_OR_OTHER_WRITE) -> None:
    """Raise UnsafeDirectory (or OSError) unless `path` is a directory only this user can change."""
    os.close(open_private_dir(path, create=False, forbid=forbid))


def check_fd(fd: int, shown: str, forbid: int = GROUP_OR_OTHER_WRITE) -> None:
    """The checks of `open_private_dir` on an open directory."""
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(shown, "is not a directory")
    me = os.geteuid()
    if st.st_uid != me:
        raise UnsafeDirectory(shown, f"is owned by {_user(st.st_uid)}, not by {_user(me)} (you): "
                              "use a directory of your own")
    bad = st.st_mode & forbid
    if bad:
        who = " and ".join(w for w, bits in (("group", 0o070), ("others", 0o007)) if bad & bits)
        can = "can write to" if bad & GROUP_OR_OTHER_WRITE else "can read"
        mode = f"mode {stat.S_IMODE(st.st_mode):04o}"
        if st.st_mode & stat.S_ISVTX:   # /tmp and the like: shared on purpose
            raise UnsafeDirectory(shown, f"{who} {can} it ({mode}, a shared directory): "
                                  "use a directory of your own")
        fix = "go-w" if forbid == GROUP_OR_OTHER_WRITE else "go-rwx"
        raise UnsafeDirectory(shown, f"{who} {can} it ({mode}): `chmod {fix} {shown}`, "
                              "or use another directory")


def _user(uid: int) -> str:
    with contextlib.suppress(ImportError, KeyError):
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    return f"uid {uid}"


def _is_link(path: str, dir_fd: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _named(exc: OSError, path: str) -> OSError:
    """The same error with the path it is about, so every message can name it."""
    return type(exc)(exc.errno, exc.strerror, path)


__all__ = ["GROUP_OR_OTHER_ANY", "GROUP_OR_OTHER_WRITE", "UnsafeDirectory", "check_fd",
           "check_private_dir", "open_private_dir", "open_private_tree"]

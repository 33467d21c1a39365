"""Atomic file writes: a crash or a full disk never leaves a half-written file under the final name.

Every writer in the project goes through `atomic_path`, so the rules live here once:
- the data is written to a hidden temp file beside the target, fsync'd, then renamed over it, and the
  folder is fsync'd so the rename itself survives a power cut;
- the temp file's name carries the writer's pid (`.STEM.hzPID-RANDOM.tmp.EXT`); a temp file whose writer
  is gone (kill -9, power cut) is removed the first time this process writes into that folder;
- `exclusive=True` publishes without replacing anything (a hard link, or an exclusively created
  placeholder where links are not supported), so two processes can never claim the same name.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import threading
from pathlib import Path

from engine.errors import ImageWriteError

# mkstemp's random part is 8 characters of [a-z0-9_]; matching it exactly keeps other dotfiles safe.
_TEMP_RE = re.compile(r"^\..*\.hz(\d+)-[a-z0-9_]{8}\.tmp(\.[^.]*)?$")
_swept: set[str] = set()
_swept_lock = threading.Lock()


class NameTakenError(ImageWriteError):
    """An exclusive write found its target name already taken (by another process or an earlier run)."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would terminate the process, not probe it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def sweep_stale_temps(folder, force: bool = False) -> list[Path]:
    """Remove temp files our writers left in `folder` whose process is gone; once per folder per process
    unless `force`. Only names of our own pattern are touched, and never one whose writer still runs."""
    folder = Path(folder)
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept and not force:
            return []
        _swept.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def check_writable_folder(path, what: str | None = None) -> None:
    """Fail early, with a clear line, when `path` (a file to be written) cannot get a folder: an ancestor
    that is a file, or an existing folder without write permission. Run before any long work."""
    path = Path(path)
    what = what or str(path)
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ImageWriteError(f"cannot write {what}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ImageWriteError(f"cannot write {what}: no permission to write in {parent}")
            return


def _fsync_file(path) -> None:
    fd = os.open(path, os.O_RDWR)  # Windows can only fsync a file opened for writing
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder) -> None:
    """Make a rename in `folder` durable. Windows cannot open a folder this way (NTFS journals the rename),
    and some file systems refuse to fsync one; neither is an error."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def _publish_exclusive(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise NameTakenError(f"cannot write {path}: the name is already taken") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        # No hard links here (FAT, some network shares): claim the name with an exclusive create, then
        # move the data over the empty placeholder we own.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise NameTakenError(f"cannot write {path}: the name is already taken") from None
        os.replace(tmp, path)
    else:
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, exclusive: bool = False):
    """Yield a temporary path beside `path`; on success it replaces `path` (or, with `exclusive`, takes the
    name only if it is free, else NameTakenError), on failure it is removed.

    The temp file keeps the final suffix so writers that pick a format from the extension still work.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    check_writable_folder(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(folder)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.hz{os.getpid()}-", suffix=f".tmp{path.suffix}", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        yield Path(tmp)
        # mkstemp makes owner-only files; an exported picture should get the usual umask permissions.
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask)
        _fsync_file(tmp)
        if exclusive:
            _publish_exclusive(tmp, path)
        else:
            os.replace(tmp, path)
        _fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> None:
    try:
        with atomic_path(path, exclusive=exclusive) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc

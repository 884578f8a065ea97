"""Memory that acquisition writes and the API's processes map read-only.

An anonymous memory file (memfd on Linux, an unlinked temporary file elsewhere): it has no name
in any folder, so nothing is left behind when a process is killed, and it is not bounded by the
size of /dev/shm (64 MB in a default container). A reader gets a duplicate of the file
descriptor (handed to a child process) and maps it read-only: the API cannot write the live
view it serves.

The whole block is reserved when it is made, so a machine short of memory says so at start-up
instead of killing acquisition later with SIGBUS on the first write to a page it cannot back.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile

from loggerd.core.errors import LoggerdError


class SharedBlock:
    """`size` bytes, zero-filled, shared through a file descriptor."""

    def __init__(self, fd: int, size: int, writable: bool) -> None:
        self.fd = fd
        self.size = size
        self.writable = writable
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, prot)

    @classmethod
    def create(cls, size: int, what: str) -> SharedBlock:
        """A new block (its owner maps it read-write); `what` names it in errors."""
        size = max(size, 1)
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create(f"loggerd-{what}", os.MFD_CLOEXEC)
        else:  # pragma: no cover - not Linux
            fd, path = tempfile.mkstemp(prefix=f"loggerd-{what}-")
            os.unlink(path)
        try:
            os.ftruncate(fd, size)
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            os.close(fd)
            raise LoggerdError(
                f"the {what} needs {size / 1e6:.0f} MB of memory and the machine could not "
                f"reserve it ({exc.strerror}); lower ring_size in the configuration or free "
                "memory"
            ) from None
        return cls(fd, size, writable=True)

    @classmethod
    def attach(cls, fd: int, size: int) -> SharedBlock:
        """Map a block whose descriptor this process was handed, read-only (the block owns
        `fd` from now on)."""
        return cls(fd, size, writable=False)

    @property
    def buffer(self) -> mmap.mmap:
        return self._map

    def close(self) -> None:
        """Unmap and close. Arrays still viewing the block keep it mapped until they go."""
        # numpy views still alive keep the mapping; it goes with the last of them
        with contextlib.suppress(BufferError):
            self._map.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

"""What the result poller takes on trust from Flex's server: nothing about a response file's name
or size.

The outbound folder is the server's. A name it lists is joined into the paths the poller renames
the file to (``processing/``, ``done/``, ``error/``): a name with ``/`` or ``\\``
(``../x.response.csv`` matches ``*.response.csv``) would reach outside the folder, and one
starting with ``.`` is a hidden or temporary file. Such a file is left where it is, warned about
once while it is listed and counted as a bad response file. A file larger than a response can be
(:data:`schemas.batch.RESPONSE_MAX_BYTES`) is not read into memory: like a file that does not
parse, it goes to ``error/``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable

from consumers.sftp.client import RemoteFile, SftpClient
from schemas.batch import MAX_RECORDS, RESPONSE_MAX_BYTES, MalformedResponse

__all__ = ["UnsafeNames", "read_response", "unsafe_name"]

log = logging.getLogger(__name__)


def unsafe_name(name: str) -> bool:
    """Whether ``name`` is no plain file name of the folder it was listed in."""
    return "/" in name or "\\" in name or name.startswith(".")


class UnsafeNames:
    """Screens a folder's listing: a response file (``pattern``) of an unsafe name is warned about
    and counted (``count``) once while the server keeps listing it, and is never taken."""

    def __init__(self, pattern: str, folder: str, count: Callable[[], None]) -> None:
        self._pattern = pattern
        self._folder = folder
        self._count = count
        self._listed: set[str] = set()  # the unsafe names of the last listing

    def screen(self, listing: list[RemoteFile]) -> list[RemoteFile]:
        """The entries of ``listing`` whose name is safe."""
        unsafe = {
            e.name for e in listing if unsafe_name(e.name) and fnmatch.fnmatchcase(e.name, self._pattern)
        }
        for name in sorted(unsafe - self._listed):
            log.warning(
                "batch response %r in %s left there: a name with / or \\ or a leading . is not taken",
                name,
                self._folder,
            )
            self._count()
        self._listed = unsafe
        return [e for e in listing if not unsafe_name(e.name)]


async def read_response(sftp: SftpClient, path: str, listed_size: int) -> bytes:
    """The content of the claimed response file ``path``; MalformedResponse if it is larger than a
    response can be, by its listed size (then it is not read) or by a read of at most one byte more."""
    too_large = f"larger than a response of {MAX_RECORDS} rows can be ({RESPONSE_MAX_BYTES} bytes)"
    if listed_size > RESPONSE_MAX_BYTES:
        raise MalformedResponse(f"{listed_size} bytes listed, {too_large}; not read")
    data = await sftp.read(path, RESPONSE_MAX_BYTES)
    if len(data) > RESPONSE_MAX_BYTES:
        raise MalformedResponse(too_large)
    return data

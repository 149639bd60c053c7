"""Files read once, hashed on the way: what is stored and what its digest says are one pass."""

import hashlib
import io

__all__ = ["HashedReader"]


class HashedReader(io.RawIOBase):
    """``files`` read one after the other as one, its SHA-256 and size counted as it is read
    (hand it to a storage's ``save``; ``sha256`` and ``size`` hold once it is read)."""

    def __init__(self, files):
        self.files, self.sha256, self.size = list(files), hashlib.sha256(), 0

    def readable(self):
        return True

    def readinto(self, buffer) -> int:
        while self.files:
            count = self.files[0].readinto(buffer)
            if count:
                self.sha256.update(memoryview(buffer)[:count])
                self.size += count
                return count
            self.files.pop(0)
        return 0

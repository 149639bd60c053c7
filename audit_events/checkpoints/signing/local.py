"""Checkpoint signing with a local Ed25519 key file (the embedded default).

The key is made on first use at ``AUDIT_CHECKPOINT_KEY_FILE`` (PEM, PKCS#8, readable by the
owner only). ``rotate_checkpoint_key`` moves it aside and the next checkpoint makes a new one.
"""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from . import CheckpointSigner, key_id_of

__all__ = ["LocalSigner", "rotate_local_key"]

_RAW = {"encoding": serialization.Encoding.Raw, "format": serialization.PublicFormat.Raw}


class LocalSigner(CheckpointSigner):
    source = "local"

    def __init__(self, path: Path | None = None):
        self.path = Path(path or settings.AUDIT_CHECKPOINT_KEY_FILE)

    def _key(self) -> Ed25519PrivateKey:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            # Created readable by the owner only, and never over a key another process just made.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.path} holds no Ed25519 private key")
        return key

    def public_key(self) -> bytes:
        return self._key().public_key().public_bytes(**_RAW)

    def _signing_key(self):
        key = self._key()  # once: a rotation meanwhile must not sign under another key than named
        return key.public_key().public_bytes(**_RAW), key.sign

    def _sign(self, message: bytes) -> bytes:
        return self._key().sign(message)


def rotate_local_key(path: Path | None = None) -> Path | None:
    """Move the current key file aside (``<name>.<key id>.retired``); the next signature makes a
    new key. Returns where the old key went (None: there was none)."""
    signer = LocalSigner(path)
    if not signer.path.exists():
        return None
    retired = signer.path.with_name(f"{signer.path.name}.{key_id_of(signer.public_key())}.retired")
    signer.path.rename(retired)
    return retired

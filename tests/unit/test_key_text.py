"""Public keys are handed to auditors as text and pasted onto command lines."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lotse.api.cli import build_parser
from lotse.storage.checkpoints import key_id, load_public_key, public_key_text, raw_public_key


def a_key_whose_base64_begins_with_a_dash() -> Ed25519PublicKey:
    # About one key in 64 encodes to base64url text that starts with "-".
    while True:
        key = Ed25519PrivateKey.generate().public_key()
        if base64.urlsafe_b64encode(raw_public_key(key)).startswith(b"-"):
            return key


def test_a_public_key_text_never_reads_as_a_command_line_option() -> None:
    key = a_key_whose_base64_begins_with_a_dash()
    text = public_key_text(key)

    arguments = build_parser().parse_args(["audit", "verify-bundle", "b.zip", "--public-key", text])

    assert not text.startswith("-")
    assert key_id(load_public_key(arguments.public_key)) == key_id(key)


def test_a_bare_base64url_public_key_is_still_accepted() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    bare = base64.urlsafe_b64encode(raw_public_key(key)).decode().rstrip("=")

    assert key_id(load_public_key(bare)) == key_id(key)

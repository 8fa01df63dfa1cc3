"""Signed checkpoints of the audit chains, so that cutting events off a chain's end is found too.

A cut-off tail leaves a shorter chain that is intact link by link. A daily task signs each chain's
newest link with an Ed25519 key kept in a file outside the database (PALISADE_AUDIT_SIGNING_KEY_FILE);
verification then requires the chain to still reach, unchanged, every checkpoint signed by that key.
Whoever can write the database but not read that file cannot forge a checkpoint for a shorter chain.
"""

import datetime
import logging
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.utils import timezone

from audit.chain import Break, ChainState, verify_chain
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from imaging.crypto.key_files import load_or_create_key_file

logger = logging.getLogger(__name__)


def signing_key() -> Ed25519PrivateKey:
    seed = load_or_create_key_file(Path(settings.PALISADE_AUDIT_SIGNING_KEY_FILE), 32, "Audit signing key")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def _message(chain: str, sequence: int, last_hash: str, signed_at: datetime.datetime) -> bytes:
    return f"palisade audit checkpoint\n{chain}\n{sequence}\n{last_hash}\n{signed_at.isoformat()}".encode()


def sign_checkpoints() -> list[AuditCheckpoint]:
    """Verify what each chain gained since its last checkpoint and sign its newest link. A chain that
    does not verify is not signed; a security alert is recorded for it instead."""
    key = signing_key()
    signed = []
    for head in AuditChainHead.objects.order_by("chain"):
        last = newest_checkpoint(head.chain)
        if last is not None and last.sequence >= head.sequence:
            continue
        state = verify_chain(head.chain, after=(last.sequence, last.hash) if last else None)
        if state.first_break is not None:
            _alert(state.first_break)
            continue
        sequence = (last.sequence if last else 0) + state.events
        if sequence == 0:
            continue
        signed_at = timezone.now()
        signature = key.sign(_message(head.chain, sequence, state.last_hash, signed_at))
        signed.append(
            AuditCheckpoint.objects.create(
                chain=head.chain,
                sequence=sequence,
                hash=state.last_hash,
                signed_at=signed_at,
                public_key=public_key_hex(key),
                signature=signature.hex(),
            )
        )
    return signed


def newest_checkpoint(chain: str) -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.filter(chain=chain).order_by("-sequence", "-id").first()


def checkpoint_break(state: ChainState, checkpoints: list[AuditCheckpoint]) -> Break | None:
    """The first checkpoint of the chain that does not hold: forged, or no longer reached unchanged.
    `state` is the chain verified from its start."""
    key = signing_key().public_key()
    for checkpoint in sorted(checkpoints, key=lambda cp: cp.sequence):
        message = _message(checkpoint.chain, checkpoint.sequence, checkpoint.hash, checkpoint.signed_at)
        try:
            key.verify(bytes.fromhex(checkpoint.signature), message)
        except (InvalidSignature, ValueError):
            return Break(checkpoint.chain, checkpoint.sequence, "a checkpoint's signature does not verify")
        if checkpoint.sequence > state.events:
            return Break(
                checkpoint.chain,
                state.events + 1,
                f"the chain ends at event {state.events} but a signed checkpoint saw it reach "
                f"{checkpoint.sequence} (events were cut off its end)",
            )
        if not AuditEvent.objects.filter(
            chain=checkpoint.chain, sequence=checkpoint.sequence, hash=checkpoint.hash
        ).exists():
            return Break(
                checkpoint.chain,
                checkpoint.sequence,
                "the event differs from the one the signed checkpoint saw",
            )
    return None


def _alert(broken: Break) -> None:
    logger.error("Audit chain verification failed: %s", broken)
    # Records the security_alert event in the broken chain and alerts at once (audit.alerts).
    from audit.alerts.services import report_chain_break

    report_chain_break(broken)

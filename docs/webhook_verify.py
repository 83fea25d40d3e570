"""Verify a Deckcast webhook (docs/platform-api.md). Python 3 standard library only.

    ok = verify(secret, headers, body)   # headers: dict with lower-case names; body: raw bytes

Checks the HMAC-SHA256 signature over "<timestamp>.<body>" in constant time and refuses
timestamps more than `tolerance` seconds away from now (replays). Deduplicate deliveries by the
event id (`X-Deckcast-Event-Id`, also `id` in the body): delivery is at-least-once.
"""
import hashlib
import hmac
import time


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300, now=None) -> bool:
    signature = headers.get("x-deckcast-signature", "")
    timestamp = headers.get("x-deckcast-timestamp", "")
    if not signature.startswith("v1=") or not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature[3:], expected)

"""Secrets for tests: strong and distinct, as the settings require outside development.

`strong_secret("user-internal")` is the same on every run (a test can name it twice and get
the same value) and differs for every label, so two secrets a service knows never collide.
Tests run with `ENVIRONMENT=test`, where `ServiceSettings` refuses short, repetitive
(`"k" * 40`) and equal secrets just as it does in production.
"""

import base64
import hashlib

__all__ = ["strong_secret"]


def strong_secret(label: str) -> str:
    """A test secret for `label`: the label (readable in a failure) and 86 characters of
    SHA-512 in URL-safe base64 (well over the 16 distinct characters required)."""
    digest = hashlib.sha512(f"shop test secret: {label}".encode()).digest()
    return f"{label}-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"

"""Devices: enrollment tokens, key registration, sessions by signed nonce, revocation."""

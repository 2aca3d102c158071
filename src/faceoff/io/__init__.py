"""Low-level file helpers: atomic writes and video decoding/encoding."""

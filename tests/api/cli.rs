//! The binary itself: CLI commands, `serve` with defaults, bad settings, and secret-free logs.

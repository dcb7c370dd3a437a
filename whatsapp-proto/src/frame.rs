//! Length-prefixed frames.

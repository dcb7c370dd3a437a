//! binary tests.

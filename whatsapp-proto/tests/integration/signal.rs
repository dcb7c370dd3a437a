//! signal tests.

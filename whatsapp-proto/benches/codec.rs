//! Codec benchmark (filled in with the codec).
fn main() {}

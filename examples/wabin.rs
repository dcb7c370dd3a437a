//! wabin (filled in with the codec).
fn main() {}

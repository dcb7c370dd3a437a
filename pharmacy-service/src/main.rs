//! pharmacy-service: Khalifa Pharmacies' conversation-management system.

fn main() {}

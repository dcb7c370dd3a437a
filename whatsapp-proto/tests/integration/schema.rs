//! Protobuf schemas: round trips and hand-computed wire bytes for field numbers.

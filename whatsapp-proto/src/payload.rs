//! ClientPayload construction for registering a new device and logging in a paired one.

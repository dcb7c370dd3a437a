//! The sans-IO connection core: handshake, login, IQs, keepalive and stream events.

//! The WhatsApp adapter.

//! WhatsApp addresses.

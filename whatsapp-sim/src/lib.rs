//! A simulated WhatsApp server and phones speaking the real wire protocol on loopback.

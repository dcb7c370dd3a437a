//! WhatsApp's Noise XX handshake, its transport cipher and the server certificate chain.

//! The Signal protocol as WhatsApp uses it: X3DH, the double ratchet, sender keys and XEdDSA.

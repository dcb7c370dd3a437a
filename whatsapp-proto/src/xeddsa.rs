//! XEdDSA signatures over Curve25519 keys, as libsignal makes them.

//! Connection core scenarios: client and server cores with virtual time.

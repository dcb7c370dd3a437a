//! App-state sync (syncd) cryptography.

//! The service's threat model: one file per attack.

mod media_download;

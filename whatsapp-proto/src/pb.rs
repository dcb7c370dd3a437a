//! Protobuf types generated at build time from the schemas in `proto/`
//! (protox + prost; no system `protoc`). One module per schema package.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

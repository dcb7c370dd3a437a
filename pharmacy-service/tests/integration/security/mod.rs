//! The service's threat model, one file per attack area (issue 18, "Security I"). Each test is
//! an attack that worked against the service before it was closed: a customer on WhatsApp, an
//! agent at a shared branch PC, or a gateway on the ingest webhook reaching past their role.
//! A new attack area gets a file of its own here, with the attack spelled out in its tests.

mod media_send;
mod media_xss;

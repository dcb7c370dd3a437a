//! The latest `media_conn` answer, kept for every media transfer (`media`).

/// The latest `media_conn` answer (whatsmeow `mediaconn.go`): upload auth and media hosts.
#[derive(Clone)]
pub(crate) struct MediaConn {
    pub(crate) auth: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) expires: tokio::time::Instant,
}

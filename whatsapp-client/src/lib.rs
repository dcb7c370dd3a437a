//! Native WhatsApp Web multi-device client: the tokio shell around whatsapp-proto.

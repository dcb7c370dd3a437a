//! The HTTP API: axum routers, one [`ApiError`](error::ApiError), auth extractors, the live
//! event socket and the OpenAPI document.

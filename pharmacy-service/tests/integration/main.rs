//! Integration tests of pharmacy-service: each test gets a fresh SQLite file.

mod api_audit;
mod api_auth;
mod api_contract;
mod api_inbox;
mod api_matrix;
mod api_openapi;
mod api_support;
mod api_tickets;
mod api_ws;
mod autoreply;
mod bridge;
mod browser;
mod csat;
mod db;
mod demo;
mod import;
mod inbound;
mod kpi;
mod lifecycle;
mod ops;
mod outbox;
mod pacing;
mod records;
mod search;
mod sim_service;
mod support;

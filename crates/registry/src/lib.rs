//! The central registry: receives record envelopes over HTTP(S), verifies them with the shared
//! protocol (`enroll_protocol`), stores them exactly once and answers with signed receipts. It
//! never uses the kiosk's UI, flows or devices, and reads no clock (time comes from its caller).
//!
//! Code map: [`server`] (the axum routes, plain or TLS, metrics, admin registration),
//! [`storage`] (the `Storage` trait and its SQLite store), [`postgres`] (the PostgreSQL store),
//! [`identities`] (issued identities, tokens and status bits in either store), [`issuer`] (which
//! records become virtual IDs, token batches, status lists), [`officers`] (the officer roster
//! terminals are served), [`fleet_health`] (the terminals' latest heartbeats, stale or not).

#![forbid(unsafe_code)]

pub mod fleet_health;
pub mod holder_api;
pub mod holders;
pub mod identities;
pub mod issuer;
pub mod officers;
pub mod postgres;
pub mod server;
pub mod storage;

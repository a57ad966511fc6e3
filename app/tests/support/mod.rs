//! What the integration tests share.

#![allow(dead_code)] // Each test binary uses what it needs.

pub mod anvil;
pub mod api_engine;
pub mod claim_response;
pub mod engine_process;
pub mod http;
pub mod insurer;
pub mod log;
pub mod nats_server;
pub mod reference;
pub mod tcp_proxy;
pub mod tls_proxy;

//! Peregrine: an in-process HTTP/1.1 server engine for Linux, built on io_uring, thread-per-core,
//! with a portable epoll engine where io_uring is unavailable.
//!
//! The layers, top to bottom (see `docs/architecture.md`):
//!
//! - [`app`]: the [`Application`] contract (and the simpler [`Handler`]).
//! - [`http`]: the [`HttpContext`] an application sees, over the request [features](http::Features).
//! - [`server`]: the [`Server`] trait, options, limits, server features.
//! - [`middleware`]: applications that wrap applications: forwarded headers, host filtering.
//! - `connection` (internal): the per-connection protocol object that implements the features
//!   and runs the request loop, shared by every engine.
//! - [`proto`]: the sans-io HTTP/1.1 parser, body decoder and response encoder, and the PROXY
//!   protocol header parser.
//! - [`engine`]: the engines, which only move bytes: io_uring ([`UringServer`]), portable epoll
//!   ([`PortableServer`]), and [`HttpServer`], which picks one.
//! - [`testing`]: [`TestServer`], an in-memory server for testing applications.
//! - [`rt`]: timers, local tasks and blocking work for handlers.
//! - [`metrics`]: per-worker counters, Prometheus text, and the admin application.
//! - [`hosting`]: on top of it all, what a program gets for free: configuration layers (code,
//!   TOML file, `PEREGRINE_*` environment, flags), endpoints, signals, systemd, admin endpoints.
//!
//! `base` (internal) sits below everything: the plain types the layers share.
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod app;
mod base;
mod connection;
pub mod demo;
pub mod engine;
pub mod hosting;
pub mod http;
pub mod metrics;
pub mod middleware;
pub mod proto;
pub mod rt;
pub mod server;
pub mod testing;
pub mod tls;
pub mod websocket;

pub use app::{AppResult, Application, BoxError, Handler};
pub use engine::{EngineChoice, EngineInfo, EngineKind, HttpServer, PortableServer, UringServer};
pub use http::HttpContext;
pub use server::{
    Limits, MinDataRate, Server, ServerAddresses, ServerFeatures, ServerOptions, StartError,
    StopReport,
};
pub use testing::TestServer;

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

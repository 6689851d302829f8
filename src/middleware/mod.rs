//! Middleware: [`Application`](crate::Application)s that wrap another application and change
//! what it sees, or answer for it (ASP.NET Core's middleware of the same names).
//!
//! - [`ForwardedHeaders`]: behind a reverse proxy, shows the application the client's address,
//!   scheme and host from `Forwarded` / `X-Forwarded-*` headers sent by trusted proxies.
//! - [`HostFiltering`]: answers `400` to requests whose Host is not in an allowed list.
//!
//! Wrap in that order, so forwarded hosts are filtered too:
//!
//! ```
//! use peregrine::middleware::{ForwardedHeaders, ForwardedHeadersOptions, HostFiltering};
//! use peregrine::{AppResult, Handler, HttpContext};
//!
//! struct App;
//! impl Handler for App {
//!     async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
//!         let client = http.remote_addr();
//!         http.write(format!("{client:?} {}", http.scheme()).as_bytes());
//!         Ok(())
//!     }
//! }
//!
//! let app = HostFiltering::new(App, ["example.com", "*.example.com"]).expect("valid hosts");
//! let app = ForwardedHeaders::new(app, ForwardedHeadersOptions::default());
//! # let _ = app;
//! ```
//!
//! Neither costs anything on requests they leave alone beyond reading a few headers; they
//! allocate only to record what they change.

pub mod forwarded;
mod host;
pub mod host_filtering;
pub mod ip_network;

pub use forwarded::{
    ForwardedHeaderSet, ForwardedHeaders, ForwardedHeadersOptions, ForwardedOriginal,
};
pub use host_filtering::{HostFiltering, HostFilteringError, HostFilteringOptions};
pub use ip_network::{IpNetwork, IpNetworkError};

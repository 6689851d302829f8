//! The application contract: what a server calls for each request.
//!
//! This is the counterpart of ASP.NET Core's `IHttpApplication<TContext>`: a server parses a request,
//! exposes it as an [`HttpContext`] over its feature collection, and asks the application to
//! create a per-request context, process the request and dispose the context. Servers keep one
//! [`Application::Context`] per connection and hand the same value back for every request on it,
//! so per-request application state is reset and reused rather than reallocated (Kestrel's
//! `IHostContextContainer` pooling).
//!
//! Most applications implement the simpler [`Handler`] trait, which is an [`Application`] whose
//! context is `()`.

use std::future::Future;

use crate::http::HttpContext;

/// The error type an application returns; the server answers `500` if the response has not
/// started, and aborts the connection otherwise.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of processing one request.
pub type AppResult = Result<(), BoxError>;

/// An application a [`Server`](crate::server::Server) runs (ASP.NET Core's `IHttpApplication`).
///
/// One instance is shared by every worker thread, so it is `Send + Sync`; the futures it returns
/// run on the worker that accepted the connection and need not be `Send`.
pub trait Application: Send + Sync + 'static {
    /// Per-request application state, kept by the server per connection and reused.
    type Context: Default + 'static;

    /// Prepares `context` for a new request. `context` is either fresh (`Default`) or the value
    /// that [`dispose_context`](Application::dispose_context) left after an earlier request on the
    /// same connection.
    fn create_context(&self, context: &mut Self::Context, http: &mut HttpContext<'_>) {
        let _ = (context, http);
    }

    /// Processes one request: read what it needs from `http.request()`, write the response
    /// through `http.response_mut()` or the `HttpContext` helpers.
    fn process_request(
        &self,
        context: &mut Self::Context,
        http: &mut HttpContext<'_>,
    ) -> impl Future<Output = AppResult>;

    /// Called once the request is over (`error` is set if processing failed or panicked), so the
    /// application can clear `context` for reuse.
    fn dispose_context(&self, context: &mut Self::Context, error: Option<&BoxError>) {
        let _ = (context, error);
    }
}

/// The simple form of an application: one async function per request.
///
/// ```
/// use peregrine::{AppResult, Handler, HttpContext};
///
/// struct Hello;
/// impl Handler for Hello {
///     async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
///         http.set_header("content-type", "text/plain")?;
///         http.write(b"Hello, World!");
///         Ok(())
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(&self, http: &mut HttpContext<'_>) -> impl Future<Output = AppResult>;
}

impl<H: Handler> Application for H {
    type Context = ();

    fn process_request(
        &self,
        _context: &mut (),
        http: &mut HttpContext<'_>,
    ) -> impl Future<Output = AppResult> {
        self.handle(http)
    }
}

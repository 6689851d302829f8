//! The request loop of one connection: next head, application, response, repeat.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

use super::{Closing, Http1Connection, Next, Outcome, Transport};
use crate::app::Application;
use crate::http::HttpContext;

/// Serves requests on `conn` until the connection is to close; says how to close it.
///
/// Responses to pipelined requests that arrived in one read are encoded back to back and go out
/// in one send, when the connection next needs input.
pub(crate) async fn serve<A: Application, T: Transport>(
    conn: &mut Http1Connection<T>,
    app: &A,
    context: &mut A::Context,
) -> Closing {
    loop {
        match poll_fn(|cx| conn.poll_next_request(cx)).await {
            Next::Request => {}
            Next::Close => return Closing::Now,
            Next::Reject(reason) => {
                conn.count_request();
                conn.write_rejection(reason);
                return match poll_fn(|cx| conn.poll_send_out(cx)).await {
                    Ok(()) => conn.closing(),
                    Err(_) => Closing::Now,
                };
            }
        }
        let outcome = {
            let mut http = HttpContext::new(conn);
            app.create_context(context, &mut http);
            // Pinned where it is built and polled in place: an application future can be large
            // (a handler with a buffer on its stack), and every move of it is a memcpy.
            let result = {
                let mut request = pin!(app.process_request(context, &mut http));
                poll_fn(
                    |cx| match catch_unwind(AssertUnwindSafe(|| request.as_mut().poll(cx))) {
                        Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                        Ok(Poll::Pending) => Poll::Pending,
                        Err(_) => Poll::Ready(Err(())),
                    },
                )
                .await
            };
            let (outcome, error) = match result {
                Ok(Ok(())) => (Outcome::Ok, None),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the application failed a request");
                    (Outcome::Failed, Some(e))
                }
                Err(()) => (Outcome::Panicked, Some("the application panicked".into())),
            };
            app.dispose_context(context, error.as_ref());
            outcome
        };
        // Whatever the application left of the request body is read (and dropped) before the
        // response head is written, so the head can say whether the connection stays open.
        let body_consumed = poll_fn(|cx| conn.poll_drain_body(cx)).await;
        conn.count_request();
        conn.log_access();
        if !conn.complete_response(outcome, body_consumed) {
            return match poll_fn(|cx| conn.poll_send_out(cx)).await {
                Ok(()) => conn.closing(),
                Err(_) => Closing::Now,
            };
        }
        conn.finish_request();
    }
}

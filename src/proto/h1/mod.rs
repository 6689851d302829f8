//! The sans-I/O HTTP/1.1 server protocol core.
//!
//! Layered like hyper's `proto::h1`, one responsibility per module:
//!
//! * [`span`]: byte ranges into a caller-owned buffer;
//! * [`head`]: request head parsing (httparse plus limits, target forms,
//!   framing and persistence rules);
//! * [`body`]: request body framing (Content-Length, chunked);
//! * [`encode`]: response heads and chunked response bodies;
//! * [`static_header`]: response headers fixed when the program is built, checked then;
//! * [`date`]: the once-per-second `Date` value;
//! * [`server_headers`]: the `Server` and `Date` lines every response gets, kept formatted;
//! * [`rejection`]: every protocol error, mapped to its status code in one
//!   place (Kestrel's `RequestRejectionReason`);
//! * [`conn`]: connection-level decisions: [`decide_response`], a
//!   response's framing and whether the connection stays open after it;
//! * [`token`]: the character classes of the ABNF (tchar, qdtext, field values).
//!
//! None of it performs I/O or allocates per request: storage
//! ([`RequestHead`], [`ResponseHeaders`], the write buffer) is allocated once
//! per connection and cleared between requests.

pub mod body;
pub mod conn;
pub mod date;
pub mod encode;
pub mod head;
pub mod rejection;
pub mod server_headers;
pub mod span;
pub mod static_header;
pub mod token;

pub use body::{BodyDecoder, Decoded, DEFAULT_MAX_TRAILER_BYTES, MAX_CHUNK_EXTENSION_BYTES};
pub use conn::{connection_has_close, decide_response, ResponseDecision, ResponseParts};
pub use date::{DateCache, DATE_LEN};
pub use encode::{
    encode_chunk, encode_chunk_header, encode_head, encode_last_chunk, reason_phrase,
    status_allows_body, InvalidHeader, ResponseFraming, ResponseHeadInfo, ResponseHeaders,
    CONTINUE_100,
};
pub use head::{
    BareLineFeedPolicy, BodyKind, HeadLimits, HeadParser, Header, Method, ParseStatus, RequestHead,
    Version, HEADER_SLOTS,
};
pub use rejection::RejectReason;
pub use server_headers::ServerHeaders;
pub use span::Span;
pub use static_header::StaticHeader;

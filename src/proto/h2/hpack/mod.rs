//! HPACK (RFC 7541): header compression for HTTP/2.
//!
//! Written here rather than taken from a crate: the decoder has to enforce
//! the decoded size limits *while* decoding (the HPACK bomb defense: a block
//! of a few bytes that indexes one 4 KiB dynamic entry a thousand times must
//! stop at the limit, not after allocating 4 MiB), and the crates that exist
//! either allocate every field before handing it over or are unmaintained
//! (see `docs/http2.md`).
//!
//! * [`decoder`]: header blocks into a [`HeaderList`], bounded table and sizes;
//! * [`encoder`]: response fields, static table and literals only;
//! * [`huffman`]: the canonical Huffman code of Appendix B;
//! * [`table`]: the static table and the bounded dynamic table.

pub mod decoder;
pub mod encoder;
pub mod huffman;
mod huffman_codes;
pub mod table;

pub use decoder::{Decoder, HeaderList};

/// Why a header block could not be decoded. [`HpackError::is_size_limit`]
/// errors are the bomb defense (ENHANCE_YOUR_CALM); the others are
/// COMPRESSION_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ended inside a representation.
    Truncated,
    /// An integer that does not fit in 32 bits.
    IntegerOverflow,
    /// Index 0, or past the end of the dynamic table.
    InvalidIndex,
    /// The EOS symbol inside a Huffman string.
    HuffmanEos,
    /// A bit sequence that is no Huffman code.
    InvalidHuffman,
    /// Huffman padding longer than 7 bits or not all ones.
    InvalidPadding,
    /// A dynamic table size update above the size we advertised.
    TableSizeTooLarge,
    /// A dynamic table size update after the first field of a block.
    LateTableSizeUpdate,
    /// One field (name + value) over the field size limit.
    FieldTooLarge,
    /// The decoded list (RFC 7541 4.1 sizes) over the list size limit.
    ListTooLarge,
}

impl HpackError {
    /// Whether this is a decoded-size limit rather than malformed input.
    pub fn is_size_limit(self) -> bool {
        matches!(self, HpackError::FieldTooLarge | HpackError::ListTooLarge)
    }
}

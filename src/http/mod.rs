//! What an application sees of a request: the [`HttpContext`] and the request features behind it.

mod context;
mod features;

pub use crate::base::FeatureMap;
pub use crate::proto::h1::{Method, ResponseHeaders, StaticHeader, Version};
pub use context::{HttpContext, Upgraded};
pub use features::{
    ConnectProtocol, ConnectionFeature, Features, HttpProtocol, MaxRequestBodySize,
    MinRequestBodyDataRate, ReadOnly, RequestFeature, RequestIdentifier, RequestLifetime,
    RequestOverride, ResponseError, ResponseFeature, ResponseTrailers, TlsConnectionFeature,
    UpgradeFeature,
};

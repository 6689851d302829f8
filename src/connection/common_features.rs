//! The features every request carries whatever its protocol (an HTTP/1.x request or an HTTP/2
//! stream), and their lookup by type: one chain that both protocol objects put in front of
//! their own features.

use std::any::{Any, TypeId};
use std::net::SocketAddr;
use std::sync::Arc;

use super::WorkerContext;
use crate::base::FeatureMap;
use crate::http::{
    ConnectionFeature, MaxRequestBodySize, MinRequestBodyDataRate, RequestIdentifier,
    RequestLifetime,
};
use crate::metrics::WorkerMetrics;
use crate::proto::ws::WebSocketLimits;
use crate::server::Limits;

/// The per-request features every protocol object holds, reset in place for each request.
pub(crate) struct CommonFeatures {
    /// The connection's addresses and id (the PROXY protocol may rewrite the addresses).
    pub(crate) connection: ConnectionFeature,
    /// Whether the request was aborted.
    pub(crate) lifetime: RequestLifetime,
    /// The request's id: the connection's id and the request's number on it.
    pub(crate) request_id: RequestIdentifier,
    /// The request body limit, which the application may change before it reads.
    pub(crate) body_size: MaxRequestBodySize,
    /// The minimum request body rate, which the application may change before it reads.
    pub(crate) body_rate: MinRequestBodyDataRate,
    /// Features the application inserted for this request.
    pub(crate) extra: FeatureMap,
}

impl CommonFeatures {
    /// The features of request number `request` on `connection`, under `limits`.
    pub(crate) fn new(connection: ConnectionFeature, request: u32, limits: &Limits) -> Self {
        CommonFeatures {
            connection,
            lifetime: RequestLifetime::default(),
            request_id: RequestIdentifier::new(connection.connection_id, request),
            body_size: MaxRequestBodySize::new(limits.max_request_body_size),
            body_rate: MinRequestBodyDataRate::new(limits.min_request_body_data_rate),
            extra: FeatureMap::default(),
        }
    }

    /// Makes these the features of the connection's request number `request`: what the last
    /// request's application changed or inserted goes (the map keeps its capacity).
    pub(crate) fn begin_request(&mut self, request: u32, limits: &Limits) {
        self.body_size = MaxRequestBodySize::new(limits.max_request_body_size);
        self.body_rate = MinRequestBodyDataRate::new(limits.min_request_body_data_rate);
        self.request_id = RequestIdentifier::new(self.connection.connection_id, request);
        self.lifetime.reset();
        self.extra.clear();
    }

    /// The feature of type `type_id` if it is a common one: an inserted feature first (it
    /// overrides the server's own), then these, then the worker's (its WebSocket limits, the
    /// default of `HttpContext::accept_websocket`, and its counters). `None` leaves the lookup
    /// to the protocol's own features.
    pub(crate) fn get<'a>(
        &'a self,
        type_id: TypeId,
        worker: &'a WorkerContext,
    ) -> Option<&'a dyn Any> {
        if let Some(inserted) = self.extra.get(type_id) {
            Some(inserted)
        } else if type_id == TypeId::of::<ConnectionFeature>() {
            Some(&self.connection)
        } else if type_id == TypeId::of::<RequestLifetime>() {
            Some(&self.lifetime)
        } else if type_id == TypeId::of::<RequestIdentifier>() {
            Some(&self.request_id)
        } else if type_id == TypeId::of::<MaxRequestBodySize>() {
            Some(&self.body_size)
        } else if type_id == TypeId::of::<MinRequestBodyDataRate>() {
            Some(&self.body_rate)
        } else if type_id == TypeId::of::<WebSocketLimits>() {
            Some(&worker.limits.websocket)
        } else if type_id == TypeId::of::<Arc<WorkerMetrics>>() {
            Some(&worker.metrics)
        } else {
            None
        }
    }

    /// The client address as the application saw it, for the access log: an inserted
    /// `ConnectionFeature` (the forwarded-headers middleware's) or the connection's own. What
    /// [`CommonFeatures::get`] answers for it, without the chain of type compares.
    pub(crate) fn remote_addr(&self) -> Option<&SocketAddr> {
        match self.extra.get(TypeId::of::<ConnectionFeature>()) {
            Some(c) => c
                .downcast_ref::<ConnectionFeature>()
                .and_then(|c| c.remote_addr.as_ref()),
            None => self.connection.remote_addr.as_ref(),
        }
    }

    /// [`CommonFeatures::get`], mutably (the worker's features are not lent mutably).
    pub(crate) fn get_mut(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
        if self.extra.get(type_id).is_some() {
            self.extra.get_mut(type_id)
        } else if type_id == TypeId::of::<ConnectionFeature>() {
            Some(&mut self.connection)
        } else if type_id == TypeId::of::<RequestLifetime>() {
            Some(&mut self.lifetime)
        } else if type_id == TypeId::of::<RequestIdentifier>() {
            Some(&mut self.request_id)
        } else if type_id == TypeId::of::<MaxRequestBodySize>() {
            Some(&mut self.body_size)
        } else if type_id == TypeId::of::<MinRequestBodyDataRate>() {
            Some(&mut self.body_rate)
        } else {
            None
        }
    }
}

//! The bottom layer: plain types that the layers above share and that import nothing above
//! them (`docs/architecture.md`, "Layers"). Each is re-exported where applications meet it:
//! [`FeatureMap`] as `http::FeatureMap`, [`MinDataRate`] as `server::MinDataRate`.

mod feature_map;
mod rate;

pub use feature_map::FeatureMap;
pub use rate::MinDataRate;

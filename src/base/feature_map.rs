//! [`FeatureMap`]: features looked up by type, for requests (middleware) and servers alike.

use std::any::{Any, TypeId};
use std::fmt;

/// Features added to a request at run time (by middleware), kept in insertion order.
///
/// Servers embed one per connection and [`clear`](Self::clear) it per request; it allocates only
/// when something is inserted.
#[derive(Default)]
pub struct FeatureMap {
    items: Vec<Box<dyn Any>>,
}

impl FeatureMap {
    /// The feature of type `type_id`.
    pub fn get(&self, type_id: TypeId) -> Option<&dyn Any> {
        self.items
            .iter()
            .map(|b| &**b)
            .find(|b| id_of(*b) == type_id)
    }

    /// The feature of type `type_id`, mutably.
    pub fn get_mut(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
        self.items
            .iter_mut()
            .find(|b| id_of(&***b) == type_id)
            .map(|b| &mut **b)
    }

    /// Inserts `feature`, replacing one of the same type.
    pub fn insert(&mut self, feature: Box<dyn Any>) {
        let id = id_of(&*feature);
        match self.items.iter_mut().find(|b| id_of(&***b) == id) {
            Some(slot) => *slot = feature,
            None => self.items.push(feature),
        }
    }

    /// Removes every feature.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// The concrete type of a feature (not of the `Box` or reference around it).
fn id_of(feature: &dyn Any) -> TypeId {
    feature.type_id()
}

impl fmt::Debug for FeatureMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureMap")
            .field("len", &self.items.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_map_replaces_by_type() {
        let mut m = FeatureMap::default();
        m.insert(Box::new(1u32));
        m.insert(Box::new("x"));
        m.insert(Box::new(2u32));
        assert_eq!(
            m.get(TypeId::of::<u32>()).unwrap().downcast_ref::<u32>(),
            Some(&2)
        );
        assert!(m.get(TypeId::of::<u64>()).is_none());
        m.clear();
        assert!(m.get(TypeId::of::<u32>()).is_none());
    }
}

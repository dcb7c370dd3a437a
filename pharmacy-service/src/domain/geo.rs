//! Distances on the Earth, for routing a shared location pin to the nearest branch.

use super::ids::BranchId;
use serde::{Deserialize, Serialize};

/// A WGS-84 point in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

/// Great-circle distance in metres (haversine; ample precision within a city).
pub fn distance_m(a: GeoPoint, b: GeoPoint) -> f64 {
    const R: f64 = 6_371_000.0;
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = (b.lat - a.lat).to_radians();
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

/// The id of the branch nearest to `pin`, ties broken by the lower id.
pub fn nearest(pin: GeoPoint, branches: &[(BranchId, GeoPoint)]) -> Option<BranchId> {
    branches
        .iter()
        .map(|(id, p)| (distance_m(pin, *p), *id))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_nearest() {
        let a = GeoPoint {
            lat: 31.0409,
            lon: 31.3785,
        };
        let b = GeoPoint {
            lat: 31.0509,
            lon: 31.3785,
        };
        let d = distance_m(a, b);
        assert!((d - 1112.0).abs() < 5.0, "{d}");
        let branches = [(BranchId(1), a), (BranchId(2), b)];
        let pin = GeoPoint {
            lat: 31.049,
            lon: 31.379,
        };
        assert_eq!(nearest(pin, &branches), Some(BranchId(2)));
        assert_eq!(nearest(pin, &[]), None);
    }
}

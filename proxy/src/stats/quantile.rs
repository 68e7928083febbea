//! Quantiles from histogram bucket counts, estimated as Prometheus's `histogram_quantile` does:
//! linear interpolation inside the bucket holding the rank.

/// The `q` quantile (0–1) of a histogram with finite upper `bounds` (ascending) and `cumulative`
/// counts, one per bound plus a last one for `+Inf` (the total). `None` without observations.
/// A rank in the `+Inf` bucket gives the highest finite bound.
pub fn quantile(q: f64, bounds: &[f64], cumulative: &[u64]) -> Option<f64> {
    let total = *cumulative.last()?;
    if total == 0 || cumulative.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let i = cumulative.iter().position(|&c| c as f64 >= rank)?;
    let Some(&upper) = bounds.get(i) else {
        return bounds.last().copied();
    };
    let (lower, below) = match i.checked_sub(1) {
        Some(j) => (bounds[j], cumulative[j]),
        None => (0.0, 0),
    };
    let inside = cumulative[i].saturating_sub(below);
    if inside == 0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below as f64) / inside as f64)
}

#[cfg(test)]
mod tests {
    use super::quantile;

    const BOUNDS: [f64; 3] = [0.1, 0.5, 1.0];

    #[test]
    fn interpolates_inside_the_bucket_of_the_rank() {
        // 10 observations: 4 ≤ 0.1, 4 in (0.1, 0.5], 2 in (0.5, 1].
        let c = [4, 8, 10, 10];
        assert_eq!(quantile(0.2, &BOUNDS, &c), Some(0.05));
        let p50 = quantile(0.5, &BOUNDS, &c).unwrap_or_default();
        assert!((p50 - 0.2).abs() < 1e-9, "{p50}");
        let p99 = quantile(0.99, &BOUNDS, &c).unwrap_or_default();
        assert!((p99 - 0.975).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn no_observations_and_the_inf_bucket() {
        assert_eq!(quantile(0.5, &BOUNDS, &[0, 0, 0, 0]), None);
        assert_eq!(quantile(0.99, &BOUNDS, &[0, 0, 0, 5]), Some(1.0));
        assert_eq!(quantile(0.5, &BOUNDS, &[1, 2]), None, "malformed");
    }
}

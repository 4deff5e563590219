//! How long a failing sink waits before it tries again: doubling from a first wait to
//! a cap, with jitter, without limit on the number of tries.

use std::time::Duration;

/// The wait before the `failures`-th try again (1 for the first failure): a random
/// point in the upper half of `first · 2^(failures-1)`, capped at `cap`, so many
/// sinks failing at once do not retry in step.
pub(crate) fn delay(first: Duration, cap: Duration, failures: u64) -> Duration {
    let exponent = failures.saturating_sub(1).min(32) as u32;
    let ceiling = first.saturating_mul(1u32 << exponent.min(31)).min(cap);
    let half = ceiling / 2;
    let mut bytes = [0u8; 8];
    let jitter = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) as f64 / u64::MAX as f64,
        Err(_) => 0.5,
    };
    half + half.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let (first, cap) = (Duration::from_millis(100), Duration::from_secs(60));
        for failures in 1..100 {
            let ceiling = (first * 2u32.saturating_pow(failures as u32 - 1).min(1 << 20)).min(cap);
            let d = delay(first, cap, failures);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{failures}: {d:?} of {ceiling:?}"
            );
        }
        assert!(delay(first, cap, u64::MAX) <= cap);
    }
}

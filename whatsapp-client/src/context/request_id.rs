//! Request ids in whatsmeow's form, for the attributes that carry one besides an IQ's `id`
//! (a usync query's `sid`).

use std::sync::atomic::{AtomicU64, Ordering};

/// `"<b0>.<b1>-<n>"`: two random bytes in decimal, fixed per client, then a counter
/// (whatsmeow `request.go` `generateRequestID`, used for the usync `sid` in `user.go`).
#[derive(Debug)]
pub(crate) struct RequestIds {
    prefix: String,
    counter: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new(random: [u8; 2]) -> RequestIds {
        RequestIds {
            prefix: format!("{}.{}-", random[0], random[1]),
            counter: AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}{n}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_a_fixed_prefix_and_a_counter() {
        let ids = RequestIds::new([12, 200]);
        assert_eq!(ids.next(), "12.200-1");
        assert_eq!(ids.next(), "12.200-2");
    }
}

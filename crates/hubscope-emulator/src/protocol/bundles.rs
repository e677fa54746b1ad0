//! Deliveries handed to the engine many at a time.
//!
//! One event at a time, each delivered event would cost a command to the connection's engine and
//! a wake-up of its task: at 100,000 events/s that was most of the endpoint's CPU. So a sending
//! handler encodes up to [`BUNDLE_MAX_EVENTS`] events into one [`Bundle`], one buffer, which the
//! engine writes as that many transfers in one go.

/// Events per bundle at most: enough that fe2o3's per-delivery work is spread thin.
pub const BUNDLE_MAX_EVENTS: usize = 128;

/// Encoded bytes per bundle after which no further event is added (a bundle always takes one).
/// Bounds what one command to the engine carries.
pub const BUNDLE_MAX_BYTES: usize = 256 * 1024;

/// Encoded events to be delivered on one link, in order.
#[derive(Debug, Default)]
pub struct Bundle {
    bytes: Vec<u8>,
    /// Where each event ends in `bytes`.
    ends: Vec<usize>,
}

impl Bundle {
    /// Appends one event, encoded by `encode`; on error nothing is appended.
    ///
    /// # Errors
    /// Whatever `encode` returns.
    pub fn push_with<E>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        if let Err(e) = encode(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(e);
        }
        self.ends.push(self.bytes.len());
        Ok(())
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Event `index`, encoded.
    #[must_use]
    pub fn event(&self, index: usize) -> Option<&[u8]> {
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        self.bytes.get(start..end)
    }

    #[cfg(test)]
    pub fn events(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_as_pushed() {
        let mut bundle = Bundle::default();
        bundle
            .push_with(|out| {
                out.extend_from_slice(b"one");
                Ok::<(), ()>(())
            })
            .expect("push");
        assert!(bundle
            .push_with(|out| {
                out.extend_from_slice(b"half");
                Err(())
            })
            .is_err());
        bundle
            .push_with(|out| {
                out.extend_from_slice(b"two!");
                Ok::<(), ()>(())
            })
            .expect("push");
        let events: Vec<&[u8]> = bundle.events().collect();
        assert_eq!(events, vec![&b"one"[..], &b"two!"[..]]);
        assert_eq!(bundle.len(), 2);
        assert_eq!(bundle.byte_len(), 7);
    }
}

//! The service's partition-key → partition mapping.
//!
//! Event Hubs routes a keyed event with Jenkins lookup3 `hashlittle2` (both seeds 0), folds the two
//! 32-bit results into an `i16` and takes `|hash| % partition_count`. The .NET client's
//! `PartitionResolver` is a documented port of the service gateway's code; this is the same
//! algorithm, checked against vectors in `shared/testdata/partition-key-hash-vectors.json`.

/// The 16-bit hash the service computes for a partition key.
#[must_use]
pub fn hash(key: &str) -> i16 {
    let (b, c) = hashlittle2(key.as_bytes());
    // Truncation to 16 bits is the service's definition, not an accident.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let folded = (c ^ b) as u16 as i16;
    folded
}

/// Index (into partition ids "0".."n-1") the service picks for `key` on a hub with
/// `partition_count` partitions.
///
/// # Panics
/// Never: a zero `partition_count` maps everything to 0.
#[must_use]
pub fn partition_index(key: &str, partition_count: usize) -> usize {
    if partition_count == 0 {
        return 0;
    }
    let h = i32::from(hash(key));
    // `unsigned_abs` of an i16-sized value always fits in usize.
    (h.unsigned_abs() as usize) % partition_count
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// lookup3 `hashlittle2` with both seeds 0; returns the (b, c) pair.
fn hashlittle2(data: &[u8]) -> (u32, u32) {
    // Key lengths beyond u32 are not meaningful partition keys; the service's code truncates too.
    #[allow(clippy::cast_possible_truncation)]
    let init = 0xDEAD_BEEF_u32.wrapping_add(data.len() as u32);
    let (mut a, mut b, mut c) = (init, init, init);
    let word = |bytes: &[u8]| -> u32 {
        let mut w = [0u8; 4];
        w[..bytes.len()].copy_from_slice(bytes);
        u32::from_le_bytes(w)
    };
    let mut rest = data;
    while rest.len() > 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return (b, c);
    }
    let part = |from: usize| -> u32 {
        let end = rest.len().min(from + 4);
        if from >= rest.len() {
            0
        } else {
            word(&rest[from..end])
        }
    };
    a = a.wrapping_add(part(0));
    b = b.wrapping_add(part(4));
    c = c.wrapping_add(part(8));
    final_mix(&mut a, &mut b, &mut c);
    (b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }
    #[derive(serde::Deserialize)]
    struct Vector {
        key: String,
        hash: i16,
        partition_of_4: usize,
        partition_of_32: usize,
    }

    /// The shared vectors live beside the repository (`../shared/testdata`); a copy is kept in
    /// `tests/data` so a clone without `shared/` still checks them.
    fn vectors() -> Vectors {
        let text = include_str!("../../../../tests/data/partition-key-hash-vectors.json");
        serde_json::from_str(text).expect("vector file is valid JSON")
    }

    #[test]
    fn matches_service_vectors() {
        let v = vectors();
        assert!(v.vectors.len() >= 10);
        for vector in v.vectors {
            assert_eq!(hash(&vector.key), vector.hash, "hash of {:?}", vector.key);
            assert_eq!(partition_index(&vector.key, 4), vector.partition_of_4);
            assert_eq!(partition_index(&vector.key, 32), vector.partition_of_32);
        }
    }

    #[test]
    fn empty_key_and_zero_partitions_do_not_panic() {
        let _ = hash("");
        assert_eq!(partition_index("anything", 0), 0);
    }
}

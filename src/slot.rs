//! Key -> hash slot -> shard.
//!
//! Keys are placed exactly as Redis Cluster places them: CRC16 (XMODEM) of the key, or of the
//! part between the first `{` and the next `}` when that part is not empty (a "hash tag"), mod
//! 16384. Slots are mapped onto shards in contiguous ranges, so `{user1}:a` and `{user1}:b` always
//! live together (multi-key commands on them take no hop) and a slot range per shard is what a
//! future cluster mode will advertise.

pub const SLOTS: u16 = 16384;

/// `TABLES[k][x]`: the CRC of byte `x` followed by `k` zero bytes, from a zero state. `TABLES[0]`
/// is the classic byte-at-a-time table.
const fn crc16_tables() -> [[u16; 256]; 4] {
    let mut t = [[0u16; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            j += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 4 {
        let mut i = 0;
        while i < 256 {
            // One more zero byte after the message: shift the previous CRC through the table.
            let prev = t[k - 1][i];
            t[k][i] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static CRC16_TABLES: [[u16; 256]; 4] = crc16_tables();

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses.
///
/// Four bytes per step ("slicing by 4"): the CRC is linear, so the state XORed into the first
/// two bytes and the two bytes after them are looked up in four tables at once instead of one
/// after another. A 16-byte key takes four dependent steps instead of sixteen.
pub fn crc16(bytes: &[u8]) -> u16 {
    let t = &CRC16_TABLES;
    let mut chunks = bytes.chunks_exact(4);
    let mut crc = 0u16;
    for c in &mut chunks {
        let v = crc ^ u16::from_be_bytes([c[0], c[1]]);
        crc = t[3][(v >> 8) as usize]
            ^ t[2][(v & 0xff) as usize]
            ^ t[1][c[2] as usize]
            ^ t[0][c[3] as usize];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| {
        (crc << 8) ^ t[0][((crc >> 8) as u8 ^ b) as usize]
    })
}

/// The part of the key that is hashed: the hash tag if there is a non-empty one.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS - 1)
}

/// The shard owning `slot` when the 16384 slots are split into `shards` contiguous ranges.
#[inline]
pub fn slot_shard(slot: u16, shards: usize) -> usize {
    slot as usize * shards / SLOTS as usize
}

#[inline]
pub fn key_shard(key: &[u8], shards: usize) -> usize {
    if shards == 1 {
        0
    } else {
        slot_shard(key_slot(key), shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // An empty tag hashes the whole key; only the first '{' counts.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") & 16383);
    }

    /// The bit-at-a-time definition, to check the table-driven one against.
    fn crc16_bitwise(bytes: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in bytes {
            crc ^= (b as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn sliced_crc_matches_the_definition_at_every_length() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..80 {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                assert_eq!(crc16(&bytes), crc16_bitwise(&bytes), "{bytes:?}");
            }
        }
    }

    #[test]
    fn slots_cover_every_shard_in_ranges() {
        for shards in [1usize, 2, 3, 4, 16] {
            let mut last = 0;
            for slot in 0..SLOTS {
                let s = slot_shard(slot, shards);
                assert!(s < shards && s >= last);
                last = s;
            }
            assert_eq!(last, shards - 1);
        }
    }
}

//! WATCH: optimistic locking, kept by the shard that owns each watched key.
//!
//! A connection's WATCH registers (client, key, whether the key existed) on the key's shard. A
//! successful write to a watched key marks its watchers dirty ([`WatchTable::touch`], called
//! for every key a write command names, see `cmd::after_write`). At EXEC, while the
//! transaction holds the shard, [`WatchTable::check_and_forget`] answers whether the client
//! must abort: it was marked dirty, or a key that existed at WATCH time is gone now (it
//! expired, was evicted or flushed: writes that do not name the key). Either way its watches
//! here are forgotten, as EXEC, DISCARD and UNWATCH do in Redis.
//!
//! With nothing watched on a shard, the write path pays one `is_empty` test.

use hashbrown::{HashMap, HashSet};

#[derive(Default)]
pub struct WatchTable {
    /// Watched key -> its watchers and whether the key existed when each watched it.
    by_key: HashMap<Box<[u8]>, Vec<(u64, bool)>>,
    /// Client -> the keys it watches on this shard.
    by_client: HashMap<u64, Vec<Box<[u8]>>>,
    /// Clients one of whose keys was written since they watched it.
    dirty: HashSet<u64>,
}

impl WatchTable {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Keys watched on this shard (for tests and INFO).
    pub fn watched_keys(&self) -> usize {
        self.by_key.len()
    }

    pub fn add(&mut self, client: u64, key: &[u8], existed: bool) {
        let watchers = self.by_key.entry(key.into()).or_default();
        if watchers.iter().any(|(c, _)| *c == client) {
            return;
        }
        watchers.push((client, existed));
        self.by_client.entry(client).or_default().push(key.into());
    }

    /// A write changed `key`: its watchers will fail their EXEC.
    #[inline]
    pub fn touch(&mut self, key: &[u8]) {
        if let Some(watchers) = self.by_key.get(key) {
            self.dirty.extend(watchers.iter().map(|(c, _)| *c));
        }
    }

    /// Whether `client`'s EXEC must abort because of a key on this shard (`exists` tells
    /// whether a key exists now); forgets the client's watches here.
    pub fn check_and_forget(&mut self, client: u64, mut exists: impl FnMut(&[u8]) -> bool) -> bool {
        let mut dirty = self.dirty.contains(&client);
        if !dirty {
            if let Some(keys) = self.by_client.get(&client) {
                dirty = keys.iter().any(|k| {
                    let existed = self.by_key[k]
                        .iter()
                        .any(|&(c, existed)| c == client && existed);
                    existed && !exists(k)
                });
            }
        }
        self.forget(client);
        dirty
    }

    /// Forgets every watch of `client` on this shard.
    pub fn forget(&mut self, client: u64) {
        self.dirty.remove(&client);
        let Some(keys) = self.by_client.remove(&client) else {
            return;
        };
        for k in keys {
            if let Some(watchers) = self.by_key.get_mut(&k) {
                watchers.retain(|(c, _)| *c != client);
                if watchers.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_dirties_only_its_watchers() {
        let mut w = WatchTable::default();
        w.add(1, b"a", true);
        w.add(2, b"b", true);
        w.touch(b"a");
        w.touch(b"zzz");
        assert!(w.check_and_forget(1, |_| true));
        assert!(!w.check_and_forget(2, |_| true));
        assert!(w.is_empty());
    }

    #[test]
    fn a_vanished_key_is_a_change_a_missing_one_is_not() {
        let mut w = WatchTable::default();
        w.add(1, b"had", true);
        w.add(2, b"never", false);
        assert!(w.check_and_forget(1, |_| false));
        assert!(!w.check_and_forget(2, |_| false));
    }

    #[test]
    fn forget_clears_dirty_marks() {
        let mut w = WatchTable::default();
        w.add(1, b"a", true);
        w.touch(b"a");
        w.forget(1);
        w.add(1, b"a", true);
        assert!(!w.check_and_forget(1, |_| true));
        assert!(w.is_empty());
    }
}

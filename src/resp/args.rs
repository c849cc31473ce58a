//! Arguments of one command as the parser leaves them.
//!
//! [`Args`] is a view: byte ranges into a buffer that is either the connection's read buffer
//! (commands run on the connection's own shard, zero-copy), the data of a cross-shard message,
//! or a record of the append-only log being replayed.

#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Args { buf, ranges }
    }

    /// Argument `i` (0 is the command name). Callers index within the arity already checked.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.buf[s..e]
    }

    /// The buffer the ranges point into.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    pub fn ranges(&self) -> &'a [(usize, usize)] {
        self.ranges
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |&(s, e)| &buf[s..e])
    }

    /// The lower-case command name, for error texts.
    pub fn name_lower(&self) -> String {
        String::from_utf8_lossy(self.get(0)).to_ascii_lowercase()
    }
}

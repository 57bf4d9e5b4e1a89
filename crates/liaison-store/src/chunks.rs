//! Reading what the store keeps in chunks (large content, envelopes,
//! parts of a transfer) as a `Read`, one chunk in memory at a time.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use crate::error::StoreError;

/// `file`, rewound to its start, to read: a [`crate::Payload::File`] is
/// always read from its start.
pub fn from_start(file: &File) -> io::Result<&File> {
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// Reads bytes the store hands out in chunks: `chunk(offset)` gives the
/// bytes from `offset` on (empty at the end). A store failure ends the read
/// with an I/O error and is kept for [`ChunkReader::take_error`], so that a
/// caller can tell a failing store from bad content.
pub struct ChunkReader<F> {
    chunk: F,
    offset: u64,
    part: Vec<u8>,
    pos: usize,
    error: Option<StoreError>,
}

impl<F: FnMut(u64) -> Result<Vec<u8>, StoreError>> ChunkReader<F> {
    /// A reader from offset 0.
    pub fn new(chunk: F) -> ChunkReader<F> {
        ChunkReader {
            chunk,
            offset: 0,
            part: Vec::new(),
            pos: 0,
            error: None,
        }
    }

    /// The store failure that ended the read, if one did.
    pub fn take_error(&mut self) -> Result<(), StoreError> {
        self.error.take().map_or(Ok(()), Err)
    }
}

impl<F: FnMut(u64) -> Result<Vec<u8>, StoreError>> Read for ChunkReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.part.len() {
            match (self.chunk)(self.offset) {
                Ok(part) if !part.is_empty() => {
                    self.offset += part.len() as u64;
                    self.part = part;
                    self.pos = 0;
                }
                Ok(_) => return Ok(0),
                Err(e) => {
                    let message = e.to_string();
                    self.error = Some(e);
                    return Err(io::Error::other(message));
                }
            }
        }
        let n = buf.len().min(self.part.len() - self.pos);
        buf[..n].copy_from_slice(&self.part[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_chunk_in_order_and_keeps_a_store_failure() {
        let data: Vec<u8> = (0..=255).collect();
        let mut r = ChunkReader::new(|at: u64| {
            let at = at as usize;
            Ok(data[at..(at + 7).min(data.len())].to_vec())
        });
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(r.take_error(), Ok(()));

        let mut failing = ChunkReader::new(|at: u64| match at {
            0 => Ok(vec![1, 2, 3]),
            _ => Err(StoreError::Db("disk gone".into())),
        });
        assert!(failing.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(
            failing.take_error(),
            Err(StoreError::Db("disk gone".into()))
        );
    }
}

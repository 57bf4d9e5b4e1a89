//! Ledger verification (DESIGN §7): what an auditor recomputes.
//!
//! [`LedgerVerifier`] takes the stored rows one at a time, in sequence
//! order, so a million entries stream through in constant memory (the
//! Merkle [`Frontier`] keeps O(log n) hashes). For every row it checks the
//! sequence (no gap, no reordering), recomputes the RFC 9162 leaf hash from
//! the entry's canonical bytes, and checks that the stored columns say what
//! the signed bytes say. At each checkpoint's size it checks the
//! checkpoint's signature (by the node's key) and that its root is the root
//! of the entries so far. The first fault ends verification and names the
//! entry (or, for a consistent rewrite of several columns, the checkpoint
//! and the range of entries it covers).

use std::fmt;

use crate::checkpoint::Checkpoint;
use crate::identity::NodeId;
use crate::ledger::{leaf_hash, Entry};
use crate::merkle::{Frontier, Hash};

/// One stored ledger row, as the store holds it.
#[derive(Debug, Clone, Copy)]
pub struct StoredRow<'a> {
    /// The sequence number column.
    pub seq: u64,
    /// The time column.
    pub time: &'a str,
    /// The kind column.
    pub kind: &'a str,
    /// The actor column.
    pub actor: &'a str,
    /// The body column (parsed).
    pub body: &'a serde_json::Value,
    /// The canonical entry bytes.
    pub entry: &'a [u8],
    /// The stored leaf hash.
    pub leaf_hash: &'a Hash,
}

/// One stored checkpoint.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    /// The size column.
    pub size: u64,
    /// The root column.
    pub root: Hash,
    /// The signed note.
    pub note: String,
}

/// What is wrong with a ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerFault {
    /// A sequence number is missing (deleted) or out of place (reordered).
    Sequence {
        /// The sequence number expected next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// The stored leaf hash is not the hash of the entry bytes.
    LeafHash {
        /// The entry.
        seq: u64,
    },
    /// The entry bytes are not a canonical entry.
    Malformed {
        /// The entry.
        seq: u64,
        /// Why.
        why: String,
    },
    /// A stored column differs from the signed entry bytes.
    Column {
        /// The entry.
        seq: u64,
        /// Which column.
        column: &'static str,
    },
    /// A checkpoint's signature does not verify, or its columns disagree
    /// with its note.
    Checkpoint {
        /// Its size.
        size: u64,
        /// Why.
        why: String,
    },
    /// The entries do not hash to a checkpoint's root: some of them were
    /// rewritten after it was signed.
    Root {
        /// The checkpoint's size.
        size: u64,
        /// The first entry it covers that no earlier checkpoint vouches for.
        from: u64,
    },
    /// A checkpoint commits to more entries than the ledger holds.
    Truncated {
        /// The checkpoint's size.
        size: u64,
        /// Entries present.
        len: u64,
    },
}

impl LedgerFault {
    /// The first entry the fault concerns, if it names one.
    pub fn entry(&self) -> Option<u64> {
        match self {
            LedgerFault::Sequence { expected, .. } => Some(*expected),
            LedgerFault::LeafHash { seq }
            | LedgerFault::Malformed { seq, .. }
            | LedgerFault::Column { seq, .. } => Some(*seq),
            LedgerFault::Root { from, .. } => Some(*from),
            LedgerFault::Truncated { len, .. } => Some(*len),
            LedgerFault::Checkpoint { .. } => None,
        }
    }
}

impl fmt::Display for LedgerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerFault::Sequence { expected, found } if found > expected => write!(
                f,
                "entry {expected}: missing (the next entry stored is {found}): entries were deleted"
            ),
            LedgerFault::Sequence { expected, found } => write!(
                f,
                "entry {expected}: found entry {found} in its place: entries were reordered or duplicated"
            ),
            LedgerFault::LeafHash { seq } => write!(
                f,
                "entry {seq}: its stored leaf hash is not the hash of its bytes: the entry was changed"
            ),
            LedgerFault::Malformed { seq, why } => {
                write!(f, "entry {seq}: its bytes are not a ledger entry ({why})")
            }
            LedgerFault::Column { seq, column } => write!(
                f,
                "entry {seq}: the `{column}` column differs from the entry's signed bytes: the row was changed"
            ),
            LedgerFault::Checkpoint { size, why } => {
                write!(f, "checkpoint at size {size}: {why}")
            }
            LedgerFault::Root { size, from } => write!(
                f,
                "entries {from}..{}: they do not hash to the root signed in the checkpoint at size {size}: history was rewritten",
                size.saturating_sub(1)
            ),
            LedgerFault::Truncated { size, len } => write!(
                f,
                "entry {len}: missing: the checkpoint at size {size} commits to {size} entries but the ledger holds {len}"
            ),
        }
    }
}

/// The result of a verification that found nothing wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries verified.
    pub entries: u64,
    /// Checkpoints verified.
    pub checkpoints: usize,
    /// The root of all entries.
    pub root: Hash,
    /// Entries after the last checkpoint (not yet vouched for by a signature).
    pub unsigned_tail: u64,
}

/// Streams a node's ledger and checkpoints through every check.
pub struct LedgerVerifier {
    node: NodeId,
    frontier: Frontier,
    checkpoints: Vec<StoredCheckpoint>,
    next_checkpoint: usize,
    vouched: u64,
}

impl LedgerVerifier {
    /// A verifier for the ledger of `node`, with its stored checkpoints.
    pub fn new(node: NodeId, mut checkpoints: Vec<StoredCheckpoint>) -> LedgerVerifier {
        checkpoints.sort_by_key(|c| c.size);
        LedgerVerifier {
            node,
            frontier: Frontier::new(),
            checkpoints,
            next_checkpoint: 0,
            vouched: 0,
        }
    }

    /// The next row, in sequence order.
    pub fn push(&mut self, row: &StoredRow<'_>) -> Result<(), LedgerFault> {
        let expected = self.frontier.len();
        if row.seq != expected {
            return Err(LedgerFault::Sequence {
                expected,
                found: row.seq,
            });
        }
        let seq = row.seq;
        if leaf_hash(row.entry) != *row.leaf_hash {
            return Err(LedgerFault::LeafHash { seq });
        }
        let entry = Entry::from_bytes(row.entry).map_err(|e| LedgerFault::Malformed {
            seq,
            why: e.to_string(),
        })?;
        if entry.to_bytes() != row.entry {
            return Err(LedgerFault::Malformed {
                seq,
                why: "not in canonical form".into(),
            });
        }
        let column = if entry.seq != row.seq {
            Some("seq")
        } else if entry.time != row.time {
            Some("time")
        } else if entry.kind != row.kind {
            Some("kind")
        } else if entry.actor != row.actor {
            Some("actor")
        } else if entry.body != *row.body {
            Some("body")
        } else {
            None
        };
        if let Some(column) = column {
            return Err(LedgerFault::Column { seq, column });
        }
        self.frontier.push(*row.leaf_hash);
        self.check_checkpoints()
    }

    /// Checkpoints whose size has been reached.
    fn check_checkpoints(&mut self) -> Result<(), LedgerFault> {
        let len = self.frontier.len();
        while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.size > len {
                break;
            }
            let size = c.size;
            let signed =
                Checkpoint::verify(&c.note, &self.node).map_err(|e| LedgerFault::Checkpoint {
                    size,
                    why: format!("its signature or note does not verify: {e}"),
                })?;
            if signed.size != size || signed.root != c.root {
                return Err(LedgerFault::Checkpoint {
                    size,
                    why: "its stored size or root differs from the signed note".into(),
                });
            }
            // Only a checkpoint reached exactly can be compared (sizes are
            // unique, so `size < len` happens only for size 0 at the start).
            let root = if size == len {
                self.frontier.root()
            } else {
                crate::merkle::EMPTY_ROOT
            };
            if root != signed.root {
                return Err(LedgerFault::Root {
                    size,
                    from: self.vouched,
                });
            }
            self.vouched = size;
            self.next_checkpoint += 1;
        }
        Ok(())
    }

    /// After the last row: no checkpoint may commit to more entries.
    pub fn finish(mut self) -> Result<Report, LedgerFault> {
        self.check_checkpoints()?;
        let len = self.frontier.len();
        if let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            return Err(LedgerFault::Truncated { size: c.size, len });
        }
        Ok(Report {
            entries: len,
            checkpoints: self.checkpoints.len(),
            root: self.frontier.root(),
            unsigned_tail: len - self.vouched,
        })
    }
}

#[cfg(test)]
mod tests;

//! RFC 9162 Merkle tree hashing, inclusion and consistency proofs
//! (STANDARDS §5.1, DESIGN §7), sans IO.
//!
//! Leaves are the RFC 9162 leaf hashes `SHA-256(0x00 || entry)` computed by
//! [`crate::ledger::leaf_hash`]; this module only combines them. An interior
//! node is `SHA-256(0x01 || left || right)`, and the tree over `n > 1` leaves
//! splits at `k`, the largest power of two smaller than `n`. The empty tree's
//! root is `SHA-256("")` ([`EMPTY_ROOT`]).
//!
//! * [`root`] and [`Frontier`] compute tree heads: the first over a slice,
//!   the second streaming, with `O(log n)` state.
//! * [`inclusion_proof`] / [`verify_inclusion`]: RFC 9162 §2.1.3.
//! * [`consistency_proof`] / [`verify_consistency`]: RFC 9162 §2.1.4.
//!
//! Proof generation hashes each leaf-level subtree at most once, so it costs
//! `O(n)` hashing; verification costs `O(log n)`. The verifiers follow the
//! RFC algorithms step by step and, before running them, check the proof's
//! length against the one the tree shape requires, so a malformed proof is
//! reported as such rather than as a root mismatch.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree, `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Why a proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The two tree sizes of a consistency proof are not ordered, or the
    /// old size exceeds the leaves available.
    #[error("bad tree sizes for a consistency proof: old size {old_size} > new size {new_size}")]
    BadSizes {
        /// The older (smaller) tree size.
        old_size: u64,
        /// The newer (larger) tree size.
        new_size: u64,
    },
    /// The proof holds more or fewer hashes than the tree shape requires.
    #[error(
        "wrong proof length: the tree shape requires {expected} hashes, the proof has {actual}"
    )]
    WrongProofLength {
        /// Hashes the tree shape requires.
        expected: usize,
        /// Hashes the proof holds.
        actual: usize,
    },
    /// An inclusion proof does not lead from the leaf to the given root.
    #[error("inclusion proof does not lead to the expected root hash")]
    RootMismatch,
    /// A consistency proof does not reproduce the old tree's root.
    #[error("consistency proof does not reproduce the old root hash")]
    OldRootMismatch,
    /// A consistency proof does not reproduce the new tree's root.
    #[error("consistency proof does not reproduce the new root hash")]
    NewRootMismatch,
}

/// An interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two strictly smaller than `n`; `n` must be ≥ 2.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    // n >= 2, so n - 1 >= 1 and the shift is at most usize::BITS - 1.
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash of a run of leaf hashes (RFC 9162 MTH); the same as
/// [`root`]. Costs `n - 1` node hashes.
pub fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [leaf] => *leaf,
        _ => {
            let k = split_point(leaves.len());
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The root of a tree of leaf hashes (RFC 9162 MTH), for any size,
/// including 0 ([`EMPTY_ROOT`]).
pub fn root(leaves: &[Hash]) -> Hash {
    subtree_root(leaves)
}

/// An append-only tree builder that keeps only `O(log n)` state: the roots
/// of the perfect subtrees that make up the tree so far (a "compact range"
/// from 0, or frontier).
///
/// Push leaf hashes one at a time; [`Frontier::root`] gives the root at the
/// current size in `O(log n)`. `ledger verify` streams every entry through
/// one of these instead of holding all leaf hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves pushed.
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first: one per set
    /// bit of `size`, the subtree of `2^b` leaves for bit `b`.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Append one leaf hash. Amortized one node hash per push.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = self.size;
        // Each trailing one bit of the old size is a perfect subtree of the
        // same height as `node`: merge them, as a binary counter carries.
        while size & 1 == 1 {
            match self.peaks.pop() {
                Some(left) => node = node_hash(&left, &node),
                None => break, // unreachable: one peak per set bit
            }
            size >>= 1;
        }
        self.peaks.push(node);
        self.size = self.size.wrapping_add(1);
    }

    /// Number of leaves pushed so far.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether no leaf has been pushed.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The RFC 9162 root at the current size ([`EMPTY_ROOT`] when empty).
    pub fn root(&self) -> Hash {
        // MTH(D_n) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])) with D[0:k]
        // the largest peak, so the peaks fold from the right.
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => EMPTY_ROOT,
            Some(last) => peaks.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

impl Extend<Hash> for Frontier {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, iter: I) {
        for leaf in iter {
            self.push(leaf);
        }
    }
}

impl FromIterator<Hash> for Frontier {
    fn from_iter<I: IntoIterator<Item = Hash>>(iter: I) -> Self {
        let mut frontier = Frontier::new();
        frontier.extend(iter);
        frontier
    }
}

/// Number of bits needed to write `x` (0 for 0).
fn bit_len(x: u64) -> usize {
    (u64::BITS - x.leading_zeros()) as usize
}

/// `x >> n`, 0 once all bits are shifted out (`n >= 64`).
fn shr(x: u64, n: usize) -> u64 {
    u32::try_from(n)
        .ok()
        .and_then(|n| x.checked_shr(n))
        .unwrap_or(0)
}

/// The inclusion path length for leaf `index` of a tree of `size` leaves
/// (`index < size`): the levels below the point where the leaf's path and
/// the last leaf's path part, plus one hash per left-side perfect subtree
/// above it.
fn inclusion_path_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    // `inner` can be 64 (index 0 of a tree of more than 2^63 leaves).
    inner + shr(index, inner).count_ones() as usize
}

/// The consistency proof length between sizes `0 < old < new`.
fn consistency_proof_len(old: u64, new: u64) -> usize {
    let shift = old.trailing_zeros() as usize;
    // old < new, so the paths of leaves old-1 and new-1 part above the
    // perfect subtree of 2^shift leaves that ends at old: inner > shift.
    let inner = bit_len((old - 1) ^ (new - 1));
    let border = shr(old - 1, inner).count_ones() as usize;
    let seed = usize::from(!old.is_power_of_two());
    seed + inner.saturating_sub(shift) + border
}

/// The inclusion proof (RFC 9162 §2.1.3.1 `PATH(m, D_n)`) for leaf `index`
/// of the tree over `leaves`, ordered from the leaf's sibling up to the
/// root's child. `O(n)` hashing.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    let out_of_range = ProofError::IndexOutOfRange { index, size };
    let mut m = usize::try_from(index).map_err(|_| out_of_range.clone())?;
    if m >= leaves.len() {
        return Err(out_of_range);
    }
    // Walk down from the root, taking the sibling subtree's root at each
    // level; the siblings are disjoint, so every leaf is hashed once.
    let mut path = Vec::with_capacity(inclusion_path_len(index, size));
    let mut d = leaves;
    while d.len() > 1 {
        let k = split_point(d.len());
        if m < k {
            path.push(subtree_root(&d[k..]));
            d = &d[..k];
        } else {
            path.push(subtree_root(&d[..k]));
            d = &d[k..];
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// Verify an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf
/// `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // 1. leaf_index >= tree_size fails.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_path_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    // 2.-3.
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    // 4.
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    // 5.
    if s != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof (RFC 9162 §2.1.4.1 `PROOF(m, D_n)`) between the
/// tree of the first `old_size` leaves and the tree over all `leaves`.
///
/// `old_size` ranges over `0..=leaves.len()`. Equal sizes and an old size
/// of 0 (the empty tree is a prefix of every tree) give an empty proof,
/// which [`verify_consistency`] expects in those cases. `O(n)` hashing.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // old_size <= leaves.len(), so it fits in usize.
    let mut m =
        usize::try_from(old_size).map_err(|_| ProofError::BadSizes { old_size, new_size })?;
    let mut proof = Vec::with_capacity(consistency_proof_len(old_size, new_size));
    // SUBPROOF(m, D, b), unrolled: each step appends one sibling's root,
    // so collect top-down and reverse at the end.
    let mut d = leaves;
    let mut whole = true; // b: is D[0:m] the old tree itself?
    while m < d.len() {
        let k = split_point(d.len());
        if m <= k {
            proof.push(subtree_root(&d[k..]));
            d = &d[..k];
        } else {
            proof.push(subtree_root(&d[..k]));
            d = &d[k..];
            m -= k;
            whole = false;
        }
    }
    // Now m == d.len(): SUBPROOF(m, D_m, true) = {}, (…, false) = {MTH(D_m)}.
    if !whole {
        proof.push(subtree_root(d));
    }
    proof.reverse();
    Ok(proof)
}

/// Verify a consistency proof (RFC 9162 §2.1.4.2): that the tree of
/// `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`.
///
/// Equal sizes need an empty proof and equal roots. An old size of 0 needs
/// an empty proof and `old_root` equal to [`EMPTY_ROOT`] (the only root a
/// tree of size 0 has); it is then consistent with any new tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    let wrong_length = |expected: usize| ProofError::WrongProofLength {
        expected,
        actual: proof.len(),
    };
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(wrong_length(0));
        }
        if old_size == 0 {
            return if old_root == &EMPTY_ROOT {
                Ok(())
            } else {
                Err(ProofError::OldRootMismatch)
            };
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    let expected = consistency_proof_len(old_size, new_size);
    // 1. An empty path fails (expected is at least 1 here).
    if proof.len() != expected || proof.is_empty() {
        return Err(wrong_length(expected));
    }
    // 2. If the old size is a power of two, the old root is the seed.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => return Err(wrong_length(expected)),
        }
    };
    // 3.
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    // 4.
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // 5.
    let mut fr = *seed;
    let mut sr = *seed;
    // 6.
    for c in rest {
        if s == 0 {
            return Err(wrong_length(expected));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // 7.
    if s != 0 {
        return Err(wrong_length(expected));
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if &sr != new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

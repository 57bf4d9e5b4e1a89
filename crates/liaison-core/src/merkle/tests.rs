use super::*;
use crate::ledger::leaf_hash;
use data_encoding::HEXLOWER;
use proptest::prelude::*;

fn hex(h: &Hash) -> String {
    HEXLOWER.encode(h)
}

fn unhex(s: &str) -> Hash {
    HEXLOWER.decode(s.as_bytes()).unwrap().try_into().unwrap()
}

/// Distinct leaf hashes: the leaf hash of each index's decimal form.
fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(i.to_string().as_bytes()))
        .collect()
}

fn flip(h: &Hash, byte: usize) -> Hash {
    let mut h = *h;
    h[byte % 32] ^= 0x01;
    h
}

// ---------------------------------------------------------------------------
// A naive implementation written straight from the RFC text, independent of
// the module's code (no shared helpers): recursion on owned vectors, `k`
// found by doubling.

fn naive_k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn naive_sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn naive_mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => naive_sha(&[]),
        1 => d[0],
        n => {
            let k = naive_k(n);
            naive_sha(&[&[1u8], &naive_mth(&d[..k]), &naive_mth(&d[k..])])
        }
    }
}

fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = naive_k(n);
    if m < k {
        let mut p = naive_path(m, &d[..k]);
        p.push(naive_mth(&d[k..]));
        p
    } else {
        let mut p = naive_path(m - k, &d[k..]);
        p.push(naive_mth(&d[..k]));
        p
    }
}

fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![naive_mth(d)] };
    }
    let k = naive_k(n);
    if m <= k {
        let mut p = naive_subproof(m, &d[..k], b);
        p.push(naive_mth(&d[k..]));
        p
    } else {
        let mut p = naive_subproof(m - k, &d[k..], false);
        p.push(naive_mth(&d[..k]));
        p
    }
}

// ---------------------------------------------------------------------------
// Known vectors.

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(
        hex(&EMPTY_ROOT),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    assert_eq!(root(&[]), EMPTY_ROOT);
    assert_eq!(subtree_root(&[]), EMPTY_ROOT);
    assert_eq!(Frontier::new().root(), EMPTY_ROOT);
    assert!(Frontier::new().is_empty());
}

#[test]
fn node_hash_is_domain_separated() {
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut concat = vec![1u8];
    concat.extend_from_slice(&a);
    concat.extend_from_slice(&b);
    assert_eq!(node_hash(&a, &b), <[u8; 32]>::from(Sha256::digest(&concat)));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    // A node is not the leaf hash of the concatenated children.
    assert_ne!(node_hash(&a, &b), leaf_hash(&[a, b].concat()));
}

/// The RFC 6962 reference inputs of the Certificate Transparency test suite.
fn ct_leaves() -> Vec<Hash> {
    let inputs: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    inputs.iter().map(|d| leaf_hash(d)).collect()
}

// Every hex vector below was computed twice: by an independent Python
// implementation of RFC 9162 (hashlib) and by this module, and the 8-leaf
// root matches the CT reference value.
const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn rfc6962_reference_roots() {
    let d = ct_leaves();
    for n in 1..=8 {
        assert_eq!(hex(&root(&d[..n])), CT_ROOTS[n - 1], "root of {n} leaves");
        assert_eq!(root(&d[..n]), naive_mth(&d[..n]));
        let f: Frontier = d[..n].iter().copied().collect();
        assert_eq!(hex(&f.root()), CT_ROOTS[n - 1]);
    }
}

#[test]
fn rfc6962_reference_inclusion_proofs() {
    let d = ct_leaves();
    let cases: [(u64, usize, &[&str]); 4] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
    ];
    for (index, n, want) in cases {
        let proof = inclusion_proof(&d[..n], index).unwrap();
        let got: Vec<String> = proof.iter().map(hex).collect();
        assert_eq!(got, want, "PATH({index}, D_{n})");
        let r = unhex(CT_ROOTS[n - 1]);
        verify_inclusion(&d[index as usize], index, n as u64, &proof, &r).unwrap();
    }
}

#[test]
fn rfc6962_reference_consistency_proofs() {
    let d = ct_leaves();
    let cases: [(u64, usize, &[&str]); 5] = [
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            4,
            8,
            &["6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
        ),
        (
            3,
            7,
            &[
                "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
            ],
        ),
    ];
    for (m, n, want) in cases {
        let proof = consistency_proof(&d[..n], m).unwrap();
        let got: Vec<String> = proof.iter().map(hex).collect();
        assert_eq!(got, want, "PROOF({m}, D_{n})");
        let old = unhex(CT_ROOTS[m as usize - 1]);
        let new = unhex(CT_ROOTS[n - 1]);
        verify_consistency(m, n as u64, &old, &new, &proof).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Roots.

#[test]
fn root_matches_naive_recursion() {
    for n in 0..=130 {
        let d = leaves(n);
        assert_eq!(root(&d), naive_mth(&d), "size {n}");
    }
}

#[test]
fn small_trees_by_hand() {
    let d = leaves(8);
    let h = node_hash;
    assert_eq!(root(&d[..1]), d[0]);
    assert_eq!(root(&d[..2]), h(&d[0], &d[1]));
    assert_eq!(root(&d[..3]), h(&h(&d[0], &d[1]), &d[2]));
    let left4 = h(&h(&d[0], &d[1]), &h(&d[2], &d[3]));
    assert_eq!(root(&d[..4]), left4);
    assert_eq!(root(&d[..5]), h(&left4, &d[4]));
    assert_eq!(root(&d[..6]), h(&left4, &h(&d[4], &d[5])));
    assert_eq!(root(&d[..7]), h(&left4, &h(&h(&d[4], &d[5]), &d[6])));
    let right4 = h(&h(&d[4], &d[5]), &h(&d[6], &d[7]));
    assert_eq!(root(&d[..8]), h(&left4, &right4));
}

#[test]
fn frontier_root_equals_root_at_every_size() {
    let d = leaves(300);
    let mut f = Frontier::new();
    assert_eq!(f.root(), root(&[]));
    for (i, leaf) in d.iter().enumerate() {
        f.push(*leaf);
        assert_eq!(f.len(), i as u64 + 1);
        assert!(!f.is_empty());
        assert_eq!(f.root(), root(&d[..=i]), "size {}", i + 1);
        // State stays logarithmic: one peak per set bit of the size.
        assert_eq!(f.peaks.len(), f.len().count_ones() as usize);
    }
    let collected: Frontier = d.iter().copied().collect();
    assert_eq!(collected, f);
    let mut extended = Frontier::new();
    extended.extend(d[..100].iter().copied());
    extended.extend(d[100..].iter().copied());
    assert_eq!(extended.root(), f.root());
}

// ---------------------------------------------------------------------------
// Inclusion proofs.

#[test]
fn inclusion_proofs_match_naive_and_length_formula() {
    for n in 1..=64u64 {
        let d = leaves(n);
        for i in 0..n {
            let proof = inclusion_proof(&d, i).unwrap();
            assert_eq!(proof, naive_path(i as usize, &d), "PATH({i}, D_{n})");
            assert_eq!(proof.len(), inclusion_path_len(i, n));
            assert!(proof.len() <= bit_len(n - 1));
        }
    }
}

#[test]
fn inclusion_proofs_verify_and_every_tamper_fails() {
    let big = leaves(72);
    let big_roots: Vec<Hash> = (0..=big.len()).map(|m| root(&big[..m])).collect();
    let big_paths: Vec<Vec<Vec<Hash>>> = (0..=big.len())
        .map(|m| {
            (0..m as u64)
                .map(|i| inclusion_proof(&big[..m], i).unwrap())
                .collect()
        })
        .collect();
    for n in 1..=64u64 {
        let d = leaves(n);
        let r = root(&d);
        for i in 0..n {
            let leaf = d[i as usize];
            let proof = inclusion_proof(&d, i).unwrap();
            assert_eq!(verify_inclusion(&leaf, i, n, &proof, &r), Ok(()));

            // A flipped bit anywhere in the leaf, each proof hash, or the root.
            for byte in [0, 13, 31] {
                assert_eq!(
                    verify_inclusion(&flip(&leaf, byte), i, n, &proof, &r),
                    Err(ProofError::RootMismatch)
                );
                assert_eq!(
                    verify_inclusion(&leaf, i, n, &proof, &flip(&r, byte)),
                    Err(ProofError::RootMismatch)
                );
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], byte);
                    assert_eq!(
                        verify_inclusion(&leaf, i, n, &bad, &r),
                        Err(ProofError::RootMismatch)
                    );
                }
            }
            // Another leaf of the same tree.
            if n > 1 {
                let other = d[((i + 1) % n) as usize];
                assert!(verify_inclusion(&other, i, n, &proof, &r).is_err());
            }

            // Any other index, in range or not.
            for j in 0..n + 2 {
                if j != i {
                    assert!(
                        verify_inclusion(&leaf, j, n, &proof, &r).is_err(),
                        "leaf {i} of {n} verified at index {j}"
                    );
                }
            }
            assert!(verify_inclusion(&leaf, u64::MAX, n, &proof, &r).is_err());

            // Any other size, with that size's true root (a tree head of
            // another size of the same log): the proof for (i, n) must not
            // serve unless it is also the canonical proof there.
            for m in 0..n + 8 {
                if m == n {
                    continue;
                }
                let rm = &big_roots[m as usize];
                let canonical = big_paths[m as usize].get(i as usize);
                if canonical != Some(&proof) {
                    assert!(
                        verify_inclusion(&leaf, i, m, &proof, rm).is_err(),
                        "leaf {i} of {n} verified at size {m}"
                    );
                }
            }
            assert!(verify_inclusion(&leaf, i, u64::MAX, &proof, &r).is_err());

            // Truncated or extended paths.
            if !proof.is_empty() {
                assert!(matches!(
                    verify_inclusion(&leaf, i, n, &proof[..proof.len() - 1], &r),
                    Err(ProofError::WrongProofLength { .. })
                ));
                assert!(verify_inclusion(&leaf, i, n, &proof[1..], &r).is_err());
                let mut reversed = proof.clone();
                reversed.reverse();
                if reversed != proof {
                    assert!(verify_inclusion(&leaf, i, n, &reversed, &r).is_err());
                }
            }
            for extra in [r, EMPTY_ROOT, leaf] {
                let mut longer = proof.clone();
                longer.push(extra);
                assert_eq!(
                    verify_inclusion(&leaf, i, n, &longer, &r),
                    Err(ProofError::WrongProofLength {
                        expected: proof.len(),
                        actual: proof.len() + 1
                    })
                );
                let mut front = vec![extra];
                front.extend_from_slice(&proof);
                assert!(verify_inclusion(&leaf, i, n, &front, &r).is_err());
            }
        }
    }
}

#[test]
fn interior_node_does_not_pass_as_a_leaf() {
    // The node over leaves 0 and 1, with the rest of leaf 0's path, is a
    // valid "inclusion" in a tree of half the size; the size in the tree
    // head pins the shape, so it fails at the true size.
    let d = leaves(8);
    let r = root(&d);
    let proof = inclusion_proof(&d, 0).unwrap();
    let node = node_hash(&d[0], &d[1]);
    assert!(verify_inclusion(&node, 0, 8, &proof[1..], &r).is_err());
    assert!(verify_inclusion(&node, 0, 8, &proof, &r).is_err());
}

#[test]
fn tree_size_is_bound_by_the_signed_tree_head() {
    // RFC 9162 proofs authenticate a leaf against a (size, root) pair that
    // the verifier takes from a signed checkpoint; the proof alone does not
    // pin the size. Here leaf 0's path in a tree of 5 also "verifies" with
    // a claimed size of 6 and the size-5 root, because both shapes put leaf
    // 0 on the same path. Such a (6, root of 5) pair is never signed, and
    // with the real root of 6 the proof fails.
    let d = leaves(6);
    let proof = inclusion_proof(&d[..5], 0).unwrap();
    verify_inclusion(&d[0], 0, 5, &proof, &root(&d[..5])).unwrap();
    verify_inclusion(&d[0], 0, 6, &proof, &root(&d[..5])).unwrap();
    assert_eq!(
        verify_inclusion(&d[0], 0, 6, &proof, &root(&d)),
        Err(ProofError::RootMismatch)
    );
}

#[test]
fn inclusion_bad_inputs() {
    let d = leaves(5);
    assert_eq!(
        inclusion_proof(&d, 5),
        Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
    );
    assert_eq!(
        inclusion_proof(&d, u64::MAX),
        Err(ProofError::IndexOutOfRange {
            index: u64::MAX,
            size: 5
        })
    );
    assert_eq!(
        inclusion_proof(&[], 0),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        verify_inclusion(&d[0], 0, 0, &[], &EMPTY_ROOT),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    // A huge claimed size: the required path is long, the proof is not.
    assert!(matches!(
        verify_inclusion(&d[0], 0, u64::MAX, &[], &d[0]),
        Err(ProofError::WrongProofLength {
            expected: 64,
            actual: 0
        })
    ));
    // Single leaf tree: the leaf is the root, the path is empty.
    verify_inclusion(&d[0], 0, 1, &[], &d[0]).unwrap();
    assert_eq!(
        verify_inclusion(&d[0], 0, 1, &[], &d[1]),
        Err(ProofError::RootMismatch)
    );
}

// ---------------------------------------------------------------------------
// Consistency proofs.

#[test]
fn consistency_proofs_match_naive_and_length_formula() {
    for n in 1..=64u64 {
        let d = leaves(n);
        for m in 1..=n {
            let proof = consistency_proof(&d, m).unwrap();
            assert_eq!(
                proof,
                naive_subproof(m as usize, &d, true),
                "PROOF({m}, D_{n})"
            );
            if m < n {
                assert_eq!(proof.len(), consistency_proof_len(m, n));
                assert!(proof.len() <= bit_len(n - 1) + 1);
            } else {
                assert!(proof.is_empty());
            }
        }
    }
}

#[test]
fn consistency_proofs_verify_and_every_tamper_fails() {
    let big = leaves(68);
    let big_roots: Vec<Hash> = (0..=big.len()).map(|m| root(&big[..m])).collect();
    // big_cons[n][m] = PROOF(m, D_n) (empty for m = 0 and m = n).
    let big_cons: Vec<Vec<Vec<Hash>>> = (0..=big.len())
        .map(|n| {
            (0..=n as u64)
                .map(|m| consistency_proof(&big[..n], m).unwrap())
                .collect()
        })
        .collect();
    for n in 1..=64u64 {
        let d = leaves(n);
        let new = root(&d);
        for m in 1..=n {
            let old = root(&d[..m as usize]);
            let proof = consistency_proof(&d, m).unwrap();
            assert_eq!(verify_consistency(m, n, &old, &new, &proof), Ok(()));

            for byte in [0, 17, 31] {
                assert!(verify_consistency(m, n, &flip(&old, byte), &new, &proof).is_err());
                assert!(verify_consistency(m, n, &old, &flip(&new, byte), &proof).is_err());
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], byte);
                    assert!(
                        verify_consistency(m, n, &old, &new, &bad).is_err(),
                        "PROOF({m}, D_{n}) with hash {k} altered verified"
                    );
                }
            }
            // Roots swapped (m < n), or the new root of another tree.
            if m < n {
                assert!(verify_consistency(m, n, &new, &old, &proof).is_err());
            }
            let other = root(&leaves(n + 1)[1..]);
            assert!(verify_consistency(m, n, &old, &other, &proof).is_err());

            // Truncated, shifted, reversed, extended.
            if !proof.is_empty() {
                assert!(matches!(
                    verify_consistency(m, n, &old, &new, &proof[..proof.len() - 1]),
                    Err(ProofError::WrongProofLength { .. })
                ));
                assert!(verify_consistency(m, n, &old, &new, &proof[1..]).is_err());
                let mut reversed = proof.clone();
                reversed.reverse();
                if reversed != proof {
                    assert!(verify_consistency(m, n, &old, &new, &reversed).is_err());
                }
            }
            for extra in [old, new, EMPTY_ROOT] {
                let mut longer = proof.clone();
                longer.push(extra);
                assert!(matches!(
                    verify_consistency(m, n, &old, &new, &longer),
                    Err(ProofError::WrongProofLength { .. })
                ));
                let mut front = vec![extra];
                front.extend_from_slice(&proof);
                assert!(verify_consistency(m, n, &old, &new, &front).is_err());
            }

            // Other sizes, with those sizes' true roots: the proof for
            // (m, n) must not serve unless it is also canonical there.
            let near = |x: u64| x.saturating_sub(1)..=x + 1;
            let rows = (0..=n + 4).flat_map(|mm| near(n).map(move |nn| (mm, nn)));
            let cols = near(m).flat_map(|mm| (0..=n + 4).map(move |nn| (mm, nn)));
            for (mm, nn) in rows.chain(cols) {
                if (mm, nn) == (m, n) || mm > nn {
                    continue;
                }
                let canonical = &big_cons[nn as usize][mm as usize];
                if canonical != &proof {
                    let (o, w) = (&big_roots[mm as usize], &big_roots[nn as usize]);
                    assert!(
                        verify_consistency(mm, nn, o, w, &proof).is_err(),
                        "PROOF({m}, D_{n}) verified as ({mm}, {nn})"
                    );
                }
            }
            // Old size after the new size.
            assert!(matches!(
                verify_consistency(n + 1, n, &old, &new, &proof),
                Err(ProofError::BadSizes { .. })
            ));

            // A proof for another old size does not serve this one.
            if m > 1 {
                let p2 = consistency_proof(&d, m - 1).unwrap();
                if p2 != proof {
                    assert!(verify_consistency(m, n, &old, &new, &p2).is_err());
                }
            }
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let d = leaves(10);
    let r = root(&d);
    // Old size larger than the tree.
    assert_eq!(
        consistency_proof(&d, 11),
        Err(ProofError::BadSizes {
            old_size: 11,
            new_size: 10
        })
    );
    assert_eq!(
        verify_consistency(11, 10, &r, &r, &[]),
        Err(ProofError::BadSizes {
            old_size: 11,
            new_size: 10
        })
    );
    // Equal sizes: empty proof, equal roots.
    assert_eq!(consistency_proof(&d, 10), Ok(vec![]));
    assert_eq!(verify_consistency(10, 10, &r, &r, &[]), Ok(()));
    assert_eq!(
        verify_consistency(10, 10, &r, &flip(&r, 0), &[]),
        Err(ProofError::NewRootMismatch)
    );
    assert!(matches!(
        verify_consistency(10, 10, &r, &r, &[r]),
        Err(ProofError::WrongProofLength {
            expected: 0,
            actual: 1
        })
    ));
    // From the empty tree: empty proof, the empty root, any new tree.
    assert_eq!(consistency_proof(&d, 0), Ok(vec![]));
    assert_eq!(verify_consistency(0, 10, &EMPTY_ROOT, &r, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(0, 10, &r, &r, &[]),
        Err(ProofError::OldRootMismatch)
    );
    assert!(matches!(
        verify_consistency(0, 10, &EMPTY_ROOT, &r, &[r]),
        Err(ProofError::WrongProofLength { .. })
    ));
    // An empty proof between different sizes fails (RFC step 1).
    let old = root(&d[..4]);
    assert!(matches!(
        verify_consistency(4, 10, &old, &r, &[]),
        Err(ProofError::WrongProofLength { actual: 0, .. })
    ));
    // Huge sizes do not overflow or panic.
    assert!(verify_consistency(1, u64::MAX, &d[0], &r, &[r; 3]).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &r, &r, &[r; 3]).is_err());
    assert!(verify_consistency(u64::MAX, u64::MAX, &r, &r, &[]).is_ok());
}

#[test]
fn error_messages_are_clear() {
    assert_eq!(
        ProofError::IndexOutOfRange { index: 7, size: 3 }.to_string(),
        "leaf index 7 is out of range for a tree of size 3"
    );
    assert_eq!(
        ProofError::WrongProofLength {
            expected: 3,
            actual: 4
        }
        .to_string(),
        "wrong proof length: the tree shape requires 3 hashes, the proof has 4"
    );
}

// ---------------------------------------------------------------------------
// Random trees.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_trees(n in 1u64..=2000, a in any::<u64>(), b in any::<u64>(), salt in any::<u64>(), byte in 0usize..32) {
        let all: Vec<Hash> = (0..=n).map(|i| leaf_hash(format!("{salt}/{i}").as_bytes())).collect();
        let d = &all[..n as usize];
        let r = root(d);
        let f: Frontier = d.iter().copied().collect();
        prop_assert_eq!(f.root(), r);

        let i = a % n;
        let leaf = d[i as usize];
        let proof = inclusion_proof(d, i).unwrap();
        prop_assert_eq!(verify_inclusion(&leaf, i, n, &proof, &r), Ok(()));
        prop_assert!(verify_inclusion(&flip(&leaf, byte), i, n, &proof, &r).is_err());
        prop_assert!(verify_inclusion(&leaf, i, n, &proof, &flip(&r, byte)).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let k = (b as usize) % bad.len();
            bad[k] = flip(&bad[k], byte);
            prop_assert!(verify_inclusion(&leaf, i, n, &bad, &r).is_err());
        }
        prop_assert!(verify_inclusion(&leaf, (i + 1) % n, n, &proof, &r).is_err() || n == 1);
        // One entry later: the next tree head's size and root.
        let r_next = root(&all);
        if inclusion_proof(&all, i).unwrap() != proof {
            prop_assert!(verify_inclusion(&leaf, i, n + 1, &proof, &r_next).is_err());
        }

        let m = 1 + b % n;
        let old = root(&d[..m as usize]);
        let mut old_frontier: Frontier = d[..m as usize].iter().copied().collect();
        prop_assert_eq!(old_frontier.root(), old);
        old_frontier.extend(d[m as usize..].iter().copied());
        prop_assert_eq!(old_frontier.root(), r);

        let cproof = consistency_proof(d, m).unwrap();
        prop_assert_eq!(verify_consistency(m, n, &old, &r, &cproof), Ok(()));
        prop_assert!(verify_consistency(m, n, &flip(&old, byte), &r, &cproof).is_err());
        prop_assert!(verify_consistency(m, n, &old, &flip(&r, byte), &cproof).is_err());
        if !cproof.is_empty() {
            let mut bad = cproof.clone();
            let k = (a as usize) % bad.len();
            bad[k] = flip(&bad[k], byte);
            prop_assert!(verify_consistency(m, n, &old, &r, &bad).is_err());
            prop_assert!(verify_consistency(m, n, &old, &r, &cproof[..cproof.len() - 1]).is_err());
        }
        let mut longer = cproof.clone();
        longer.push(r);
        prop_assert!(verify_consistency(m, n, &old, &r, &longer).is_err());
    }
}

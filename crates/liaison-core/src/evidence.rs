//! Evidence archives (DESIGN §7): everything an auditor needs to check,
//! offline and without trusting the node, what a node released, under
//! which agreement, who approved it, when it was sent and what each
//! recipient signed for it.
//!
//! An archive is a tar file (built and read in memory, sans IO) holding:
//!
//! | path | what |
//! | --- | --- |
//! | `evidence.json` | the [`Index`]: node, scope, and the SHA-256 of every other file |
//! | `evidence.json.sig` | a DSSE envelope ([`EVIDENCE_TYPE`]) over the exact bytes of `evidence.json`, by the node key |
//! | `ledger/entries.jsonl` | the exported ledger entries ([`EntryLine`]) |
//! | `ledger/checkpoint.txt` | the latest signed checkpoint note (C2SP) |
//! | `ledger/checkpoints.jsonl` | every signed checkpoint ([`CheckpointLine`]), smallest first |
//! | `ledger/proofs.jsonl` | per exported entry, its RFC 9162 inclusion path to the latest checkpoint ([`ProofLine`]) |
//! | `ledger/consistency.jsonl` | consistency proofs between consecutive checkpoints ([`ConsistencyLine`]) |
//! | `releases/<share id>.json` | per released share: the signed manifest, envelope hashes, receipt paths, approvals ([`ReleaseFile`]) |
//! | `receipts/<share id>/<node id>.json` | each recipient's signed receipt, byte for byte as stored |
//! | `agreements/<id>-v<version>.json` | each agreement a release names, with both signatures |
//!
//! [`build`] writes an archive from values the node gathered from its
//! store; [`verify`] checks one against nothing but the node's id (its
//! public key) and returns an [`EvidenceReport`], or the first
//! [`EvidenceError`], which names the file at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::SignedAgreement;
use crate::audit::StoredCheckpoint;
use crate::checkpoint::Checkpoint;
use crate::dsse::{DsseError, Envelope};
use crate::identity::{NodeId, NodeKeys};
use crate::ledger::{kinds, leaf_hash, Entry};
use crate::manifest::{sha256_hex, Manifest, MANIFEST_TYPE};
use crate::merkle::{self, Hash};
use crate::receipt::{Outcome, SignedReceipt};
use crate::{Kind, Tlp};

/// DSSE payload type of the signature over `evidence.json` (version 1).
pub const EVIDENCE_TYPE: &str = "application/vnd.liaison.evidence+json;v=1";
/// The archive format version this build writes and reads.
pub const EVIDENCE_VERSION: u32 = 1;

/// The index: what the archive holds, signed by the node.
pub const INDEX: &str = "evidence.json";
/// The node's DSSE signature over the index.
pub const INDEX_SIG: &str = "evidence.json.sig";
/// The exported ledger entries.
pub const ENTRIES: &str = "ledger/entries.jsonl";
/// The latest signed checkpoint note.
pub const CHECKPOINT: &str = "ledger/checkpoint.txt";
/// Every signed checkpoint.
pub const CHECKPOINTS: &str = "ledger/checkpoints.jsonl";
/// The inclusion proofs of the exported entries.
pub const PROOFS: &str = "ledger/proofs.jsonl";
/// The consistency proofs between consecutive checkpoints.
pub const CONSISTENCY: &str = "ledger/consistency.jsonl";
/// The name used in errors about the archive as a whole.
pub const ARCHIVE: &str = "(archive)";
/// Most files an archive may hold; larger archives are refused.
pub const MAX_FILES: usize = 1 << 20;

/// The path of a release's file.
pub fn release_path(share: Uuid) -> String {
    format!("releases/{share}.json")
}

/// The path of a recipient's signed receipt for a release.
pub fn receipt_path(share: Uuid, recipient: &NodeId) -> String {
    format!("receipts/{share}/{recipient}.json")
}

/// The path of one version of an agreement.
pub fn agreement_path(id: Uuid, version: u32) -> String {
    format!("agreements/{id}-v{version}.json")
}

/// What went wrong, and in which file of the archive ([`ARCHIVE`] for
/// the archive as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct EvidenceError {
    /// The file at fault (its path inside the archive).
    pub file: String,
    /// What is wrong with it.
    pub problem: String,
}

fn fault(file: impl Into<String>, problem: impl Into<String>) -> EvidenceError {
    EvidenceError {
        file: file.into(),
        problem: problem.into(),
    }
}

/// What an export covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// One share: the entries that name it, its release and the
    /// agreements it was released under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<Uuid>,
    /// The entries appended at or after this time, and the releases among
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// One file listed in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Its path inside the archive.
    pub path: String,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
}

/// `evidence.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Format version (1).
    pub v: u32,
    /// The node that exported (and signed) the archive.
    pub node_id: NodeId,
    /// Its organization.
    pub org: String,
    /// When it was exported.
    pub created: DateTime<Utc>,
    /// What the export covers.
    pub scope: Scope,
    /// Ledger entries appended after the latest checkpoint: no signed tree
    /// head covers them yet, so they are left out.
    #[serde(default)]
    pub not_covered: u64,
    /// Every other file, with its SHA-256.
    pub files: Vec<FileDigest>,
}

/// One line of `ledger/entries.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine {
    /// Sequence number.
    pub seq: u64,
    /// The entry's canonical bytes (standard base64).
    pub entry: String,
    /// Its RFC 9162 leaf hash (hex).
    pub leaf_hash: String,
}

/// One line of `ledger/checkpoints.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    /// Tree size.
    pub size: u64,
    /// Root hash (hex).
    pub root: String,
    /// The signed note.
    pub note: String,
}

/// One line of `ledger/proofs.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofLine {
    /// The entry.
    pub seq: u64,
    /// RFC 9162 inclusion path to the latest checkpoint (hex, leaf side first).
    pub path: Vec<String>,
}

/// One line of `ledger/consistency.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyLine {
    /// The older checkpoint's size.
    pub old: u64,
    /// The newer checkpoint's size.
    pub new: u64,
    /// RFC 9162 consistency path (hex).
    pub path: Vec<String>,
}

/// A release decision, as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approved the release.
    Approve,
    /// Rejected it.
    Reject,
}

/// One recorded release decision, as the node's store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalEvidence {
    /// The deciding user's id.
    pub approver: String,
    /// Their login name.
    pub name: String,
    /// Approve or reject.
    pub decision: Decision,
    /// Their comment.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The ledger entry recording the decision.
    pub ledger_seq: u64,
    /// SHA-256 (hex) of that entry's canonical bytes.
    pub decision_sha256: String,
}

/// One recipient of a release, in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientFile {
    /// The recipient.
    pub node_id: NodeId,
    /// SHA-256 (hex) of the ciphertext sent to it.
    pub envelope_sha256: String,
    /// The path of its signed receipt in the archive, once it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// `releases/<share id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFile {
    /// Format version (1).
    pub v: u32,
    /// The share (bundle id).
    pub share_id: Uuid,
    /// The signed manifest as sent (DSSE).
    pub manifest: Envelope,
    /// Per recipient: envelope hash and receipt.
    pub recipients: Vec<RecipientFile>,
    /// Every recorded decision on its release.
    #[serde(default)]
    pub approvals: Vec<ApprovalEvidence>,
}

/// One recipient of a release to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientInput {
    /// The recipient.
    pub node_id: NodeId,
    /// SHA-256 (hex) of the ciphertext sent to it.
    pub envelope_sha256: String,
    /// Its signed receipt (DSSE JSON), byte for byte as stored, if any.
    pub receipt: Option<Vec<u8>>,
}

/// One release to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInput {
    /// The share (bundle id).
    pub share_id: Uuid,
    /// The DSSE envelope (JSON) over the manifest, as stored.
    pub manifest_dsse: Vec<u8>,
    /// Per recipient.
    pub recipients: Vec<RecipientInput>,
    /// Every recorded decision.
    pub approvals: Vec<ApprovalEvidence>,
}

/// One agreement version to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementInput {
    /// Agreement id.
    pub id: Uuid,
    /// Version.
    pub version: u32,
    /// The signed document (DSSE JSON with both signatures).
    pub document: Vec<u8>,
}

/// Everything [`build`] needs, gathered from the node's store.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// The node's organization.
    pub org: String,
    /// When the export is made.
    pub created: DateTime<Utc>,
    /// What it covers.
    pub scope: Scope,
    /// Every signed checkpoint.
    pub checkpoints: Vec<StoredCheckpoint>,
    /// The leaf hashes of entries `0..` the latest checkpoint's size.
    pub leaves: Vec<Hash>,
    /// The entries to export: sequence number and canonical bytes, each
    /// covered by the latest checkpoint.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// The releases to export.
    pub releases: Vec<ReleaseInput>,
    /// The agreements they name.
    pub agreements: Vec<AgreementInput>,
    /// Entries appended after the latest checkpoint (left out).
    pub not_covered: u64,
}

fn hex(h: &[u8]) -> String {
    HEXLOWER.encode(h)
}

fn unhex(s: &str) -> Option<Hash> {
    HEXLOWER
        .decode(s.as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
}

fn json_line<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // The line types hold strings and numbers only: they always serialize.
    out.extend(serde_json::to_vec(value).unwrap_or_default());
    out.push(b'\n');
}

fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    let mut k = 1usize;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// A Merkle tree over all leaves with every perfect, aligned subtree's
/// root precomputed, so that each inclusion or consistency proof costs
/// `O(log² n)` hashing instead of `O(n)` (an export proves many entries).
struct Tree {
    /// `levels[h][i]`: the root of leaves `i·2^h .. (i+1)·2^h`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    fn new(leaves: &[Hash]) -> Tree {
        let mut levels = vec![leaves.to_vec()];
        while let Some(last) = levels.last() {
            if last.len() < 2 {
                break;
            }
            let next = last
                .chunks_exact(2)
                .map(|p| merkle::node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Tree { levels }
    }

    /// RFC 9162 MTH of leaves `start..end`.
    fn root(&self, start: usize, end: usize) -> Hash {
        let len = end - start;
        if len == 0 {
            return merkle::EMPTY_ROOT;
        }
        if len.is_power_of_two() && start % len == 0 {
            let h = len.trailing_zeros() as usize;
            if let Some(node) = self.levels.get(h).and_then(|l| l.get(start / len)) {
                return *node;
            }
        }
        let k = split_point(len);
        merkle::node_hash(&self.root(start, start + k), &self.root(start + k, end))
    }

    /// RFC 9162 `PATH(index, D[0:size])`, as [`merkle::inclusion_proof`].
    fn inclusion(&self, index: usize, size: usize) -> Vec<Hash> {
        let mut path = Vec::new();
        let (mut lo, mut hi) = (0usize, size);
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if index < lo + k {
                path.push(self.root(lo + k, hi));
                hi = lo + k;
            } else {
                path.push(self.root(lo, lo + k));
                lo += k;
            }
        }
        path.reverse();
        path
    }

    /// RFC 9162 `PROOF(old, D[0:new])`, as [`merkle::consistency_proof`].
    fn consistency(&self, old: usize, new: usize) -> Vec<Hash> {
        if old == 0 || old >= new {
            return Vec::new();
        }
        let mut proof = Vec::new();
        let (mut lo, mut hi, mut m) = (0usize, new, old);
        let mut whole = true;
        while m < hi - lo {
            let k = split_point(hi - lo);
            if m <= k {
                proof.push(self.root(lo + k, hi));
                hi = lo + k;
            } else {
                proof.push(self.root(lo, lo + k));
                lo += k;
                m -= k;
                whole = false;
            }
        }
        if !whole {
            proof.push(self.root(lo, hi));
        }
        proof.reverse();
        proof
    }
}

/// Write the archive for `export`, signing its index with `keys`.
///
/// Fails (naming the file it was writing) when the inputs cannot make a
/// verifiable archive: no checkpoint, fewer leaves than the latest
/// checkpoint covers, an entry it does not cover, a malformed manifest
/// envelope. The node should still [`verify`] the result before handing
/// it out: a store tampered with yields proofs that do not verify.
pub fn build(keys: &NodeKeys, export: &Export) -> Result<Vec<u8>, EvidenceError> {
    let mut checkpoints = export.checkpoints.clone();
    checkpoints.sort_by_key(|c| c.size);
    checkpoints.dedup_by_key(|c| c.size);
    let latest = checkpoints
        .last()
        .ok_or_else(|| fault(CHECKPOINT, "no checkpoint has been signed yet"))?;
    let size = usize::try_from(latest.size)
        .map_err(|_| fault(CHECKPOINT, "the checkpoint is too large"))?;
    if export.leaves.len() < size {
        return Err(fault(
            PROOFS,
            format!(
                "{} leaf hashes given, the latest checkpoint covers {size}",
                export.leaves.len()
            ),
        ));
    }
    let tree = Tree::new(&export.leaves[..size]);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();

    // The ledger.
    let mut entries = export.entries.clone();
    entries.sort_by_key(|(seq, _)| *seq);
    entries.dedup_by_key(|(seq, _)| *seq);
    let (mut entry_lines, mut proof_lines) = (Vec::new(), Vec::new());
    for (seq, bytes) in &entries {
        let index = usize::try_from(*seq)
            .ok()
            .filter(|i| *i < size)
            .ok_or_else(|| {
                fault(
                    ENTRIES,
                    format!("entry {seq} is not covered by the checkpoint at size {size}"),
                )
            })?;
        json_line(
            &mut entry_lines,
            &EntryLine {
                seq: *seq,
                entry: STANDARD.encode(bytes),
                leaf_hash: hex(&leaf_hash(bytes)),
            },
        );
        json_line(
            &mut proof_lines,
            &ProofLine {
                seq: *seq,
                path: tree.inclusion(index, size).iter().map(|h| hex(h)).collect(),
            },
        );
    }
    let (mut checkpoint_lines, mut consistency_lines) = (Vec::new(), Vec::new());
    for c in &checkpoints {
        json_line(
            &mut checkpoint_lines,
            &CheckpointLine {
                size: c.size,
                root: hex(&c.root),
                note: c.note.clone(),
            },
        );
    }
    for pair in checkpoints.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        // Sizes are at most the latest size, which fits in usize.
        let path = tree.consistency(old.size as usize, new.size as usize);
        json_line(
            &mut consistency_lines,
            &ConsistencyLine {
                old: old.size,
                new: new.size,
                path: path.iter().map(|h| hex(h)).collect(),
            },
        );
    }
    files.push((ENTRIES.into(), entry_lines));
    files.push((CHECKPOINT.into(), latest.note.clone().into_bytes()));
    files.push((CHECKPOINTS.into(), checkpoint_lines));
    files.push((PROOFS.into(), proof_lines));
    files.push((CONSISTENCY.into(), consistency_lines));

    // Agreements, releases and receipts.
    let mut agreements: BTreeMap<String, &[u8]> = BTreeMap::new();
    for a in &export.agreements {
        agreements.insert(agreement_path(a.id, a.version), &a.document);
    }
    files.extend(agreements.into_iter().map(|(p, d)| (p, d.to_vec())));
    let mut releases = export.releases.iter().collect::<Vec<_>>();
    releases.sort_by_key(|r| r.share_id);
    for r in releases {
        let path = release_path(r.share_id);
        let manifest = Envelope::from_json(&r.manifest_dsse)
            .map_err(|e| fault(&path, format!("the stored manifest envelope: {e}")))?;
        let mut recipients = Vec::new();
        for d in &r.recipients {
            let receipt = d.receipt.as_ref().map(|json| {
                let p = receipt_path(r.share_id, &d.node_id);
                files.push((p.clone(), json.clone()));
                p
            });
            recipients.push(RecipientFile {
                node_id: d.node_id,
                envelope_sha256: d.envelope_sha256.clone(),
                receipt,
            });
        }
        let file = ReleaseFile {
            v: EVIDENCE_VERSION,
            share_id: r.share_id,
            manifest,
            recipients,
            approvals: r.approvals.clone(),
        };
        files.push((path, pretty(&file)));
    }

    // The index, and its signature.
    let index = Index {
        v: EVIDENCE_VERSION,
        node_id: keys.node_id(),
        org: export.org.clone(),
        created: export.created,
        scope: export.scope.clone(),
        not_covered: export.not_covered,
        files: files
            .iter()
            .map(|(path, bytes)| FileDigest {
                path: path.clone(),
                sha256: sha256_hex(bytes),
            })
            .collect(),
    };
    let index_bytes = pretty(&index);
    let sig = Envelope::sign(
        EVIDENCE_TYPE,
        &index_bytes,
        keys.signing_key(),
        &keys.node_id().to_string(),
    )
    .to_json();
    let mut all = vec![
        (INDEX.to_string(), index_bytes),
        (INDEX_SIG.to_string(), sig),
    ];
    all.extend(files);
    let mtime = u64::try_from(export.created.timestamp()).unwrap_or(0);
    write_archive(&all, mtime)
}

/// A tar archive of regular files, in order.
fn write_archive(files: &[(String, Vec<u8>)], mtime: u64) -> Result<Vec<u8>, EvidenceError> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, path, data.as_slice())
            .map_err(|e| fault(path, format!("cannot add it to the archive: {e}")))?;
    }
    builder
        .into_inner()
        .map_err(|e| fault(ARCHIVE, format!("cannot finish the archive: {e}")))
}

/// Every file of a tar archive, by path. Only regular files are allowed,
/// each path once.
fn read_archive(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, EvidenceError> {
    let mut tar = tar::Archive::new(Cursor::new(archive));
    let entries = tar
        .entries()
        .map_err(|e| fault(ARCHIVE, format!("not a tar archive: {e}")))?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let mut entry =
            entry.map_err(|e| fault(ARCHIVE, format!("not a valid tar archive: {e}")))?;
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| fault(ARCHIVE, "a file name is not UTF-8"))?;
        if !entry.header().entry_type().is_file() {
            return Err(fault(&path, "is not a regular file"));
        }
        let cap = usize::try_from(entry.size())
            .unwrap_or(usize::MAX)
            .min(archive.len());
        let mut data = Vec::with_capacity(cap);
        entry
            .read_to_end(&mut data)
            .map_err(|e| fault(&path, format!("cannot be read from the archive: {e}")))?;
        if files.len() >= MAX_FILES {
            return Err(fault(ARCHIVE, format!("more than {MAX_FILES} files")));
        }
        if files.insert(path.clone(), data).is_some() {
            return Err(fault(&path, "appears twice in the archive"));
        }
    }
    Ok(files)
}

/// The index of an archive, **without** checking anything: to show what
/// an archive claims to hold (e.g. which node id to verify it under).
pub fn read_index(archive: &[u8]) -> Result<Index, EvidenceError> {
    let files = read_archive(archive)?;
    let bytes = files
        .get(INDEX)
        .ok_or_else(|| fault(INDEX, "missing from the archive"))?;
    parse_index(bytes)
}

fn parse_index(bytes: &[u8]) -> Result<Index, EvidenceError> {
    let version = crate::format_version(bytes)
        .map_err(|e| fault(INDEX, format!("not an evidence index: {e}")))?;
    if version != EVIDENCE_VERSION {
        return Err(fault(
            INDEX,
            format!("format version {version}, this build reads {EVIDENCE_VERSION}"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| fault(INDEX, format!("not an evidence index: {e}")))
}

/// The verified result: what the archive proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceReport {
    /// The node that exported and signed it.
    pub node_id: NodeId,
    /// Its organization (as it states).
    pub org: String,
    /// When it was exported.
    pub created: DateTime<Utc>,
    /// What the export covers.
    pub scope: Scope,
    /// Entries newer than the latest checkpoint, left out.
    pub not_covered: u64,
    /// The latest checkpoint's size.
    pub checkpoint_size: u64,
    /// The latest checkpoint's root (hex).
    pub checkpoint_root: String,
    /// Per release, in share id order.
    pub releases: Vec<ReleaseReport>,
    /// Counts.
    pub totals: Totals,
}

/// Counts over a verified archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Files, the index and its signature included.
    pub files: usize,
    /// Ledger entries, each with a verified inclusion proof.
    pub entries: usize,
    /// Signed checkpoints, each consistent with the previous one.
    pub checkpoints: usize,
    /// Releases.
    pub releases: usize,
    /// Recipients over all releases.
    pub recipients: usize,
    /// Receipts accepting the bundle.
    pub accepted: usize,
    /// Receipts refusing it.
    pub rejected: usize,
    /// Recipients that had not answered at export time.
    pub pending: usize,
    /// Approvals over all releases.
    pub approvals: usize,
    /// Agreements.
    pub agreements: usize,
}

/// One verified release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    /// The share (bundle id).
    pub share_id: Uuid,
    /// Its TLP label.
    pub tlp: Tlp,
    /// What the content is.
    pub kind: Kind,
    /// When it was sent: the time of its `share.released` (or
    /// `share.forwarded`) ledger entry.
    pub sent_at: DateTime<Utc>,
    /// That entry.
    pub sent_seq: u64,
    /// Whether it re-shares another node's bundle.
    pub forwarded: bool,
    /// SHA-256 (hex) of the signed manifest.
    pub manifest_sha256: String,
    /// Who approved the release.
    pub approvers: Vec<ApproverReport>,
    /// Per recipient.
    pub recipients: Vec<RecipientReport>,
}

/// One approval of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApproverReport {
    /// The user's id.
    pub approver: String,
    /// Their name.
    pub name: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Their comment.
    pub comment: String,
    /// The ledger entry recording it.
    pub ledger_seq: u64,
}

/// One recipient of a verified release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientReport {
    /// The recipient.
    pub node_id: NodeId,
    /// Its organization, as the manifest names it.
    pub org: String,
    /// The agreement the release was made under, if the manifest names one.
    pub agreement: Option<AgreementReport>,
    /// SHA-256 (hex) of the ciphertext sent.
    pub envelope_sha256: String,
    /// Its signed receipt, if it had answered.
    pub receipt: Option<ReceiptReport>,
}

/// The agreement in force for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgreementReport {
    /// Agreement id.
    pub id: Uuid,
    /// Version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// SHA-256 (hex) of the countersigned bytes.
    pub sha256: String,
    /// Start of its validity window.
    pub valid_from: DateTime<Utc>,
    /// End of its validity window.
    pub valid_until: DateTime<Utc>,
}

/// A recipient's verified receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptReport {
    /// Accepted or rejected (with the reason).
    pub outcome: Outcome,
    /// When the recipient says it received the delivery.
    pub received_at: DateTime<Utc>,
}

/// A parsed, verified ledger entry of the archive.
struct Exported {
    entry: Entry,
    bytes: Vec<u8>,
}

impl Exported {
    fn names_share(&self, share: Uuid) -> bool {
        self.entry.body.get("share_id").and_then(|v| v.as_str()) == Some(&share.to_string())
    }
}

/// The ledger part of a verified archive.
struct Ledger {
    latest: Checkpoint,
    checkpoints: usize,
    entries: BTreeMap<u64, Exported>,
}

/// The lines of a JSONL file, parsed; `file` names it in errors.
fn jsonl<T: serde::de::DeserializeOwned>(
    file: &str,
    bytes: &[u8],
) -> Result<Vec<T>, EvidenceError> {
    let text = std::str::from_utf8(bytes).map_err(|_| fault(file, "is not UTF-8"))?;
    let body = match text.strip_suffix('\n') {
        Some(b) => b,
        None if text.is_empty() => return Ok(Vec::new()),
        None => return Err(fault(file, "does not end with a newline")),
    };
    body.split('\n')
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| fault(file, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

fn hashes(file: &str, what: &str, path: &[String]) -> Result<Vec<Hash>, EvidenceError> {
    path.iter()
        .map(|h| {
            unhex(h).ok_or_else(|| fault(file, format!("{what}: `{h}` is not a 32-byte hex hash")))
        })
        .collect()
}

fn required<'a>(
    files: &'a BTreeMap<String, Vec<u8>>,
    path: &str,
) -> Result<&'a [u8], EvidenceError> {
    files
        .get(path)
        .map(Vec::as_slice)
        .ok_or_else(|| fault(path, "missing from the archive"))
}

/// The node's signature over the index, checked strictly: one signature,
/// tagged with the node id, in the canonical form this module writes (so
/// that no byte of the file can change unnoticed).
fn check_signature(sig: &[u8], index: &[u8], node: &NodeId) -> Result<(), EvidenceError> {
    let envelope = Envelope::from_json(sig)
        .map_err(|e| fault(INDEX_SIG, format!("not a DSSE envelope: {e}")))?;
    if envelope.to_json() != sig {
        return Err(fault(
            INDEX_SIG,
            "is not in the canonical form a node writes (it was edited)",
        ));
    }
    let node_str = node.to_string();
    match envelope.signatures.as_slice() {
        [one] if one.keyid.as_deref() == Some(node_str.as_str()) => {}
        [one] => {
            return Err(fault(
                INDEX_SIG,
                format!(
                    "is signed by key `{}`, not by node {node}",
                    one.keyid.as_deref().unwrap_or("(none)")
                ),
            ))
        }
        more => {
            return Err(fault(
                INDEX_SIG,
                format!("holds {} signatures, expected one by the node", more.len()),
            ))
        }
    }
    let signed = envelope
        .verify(EVIDENCE_TYPE, &node.verifying_key())
        .map_err(|e| match e {
            DsseError::BadSignature => fault(
                INDEX_SIG,
                format!("the signature does not verify under the key of node {node}"),
            ),
            other => fault(INDEX_SIG, other.to_string()),
        })?;
    if signed != index {
        return Err(fault(
            INDEX,
            format!("differs from the bytes the node signed in {INDEX_SIG}"),
        ));
    }
    Ok(())
}

/// Checkpoints, consistency and inclusion proofs, entries.
fn verify_ledger(
    files: &BTreeMap<String, Vec<u8>>,
    node: &NodeId,
) -> Result<Ledger, EvidenceError> {
    // Every checkpoint verifies, sizes strictly grow.
    let lines: Vec<CheckpointLine> = jsonl(CHECKPOINTS, required(files, CHECKPOINTS)?)?;
    let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let c = Checkpoint::verify_node(&line.note, node).map_err(|e| {
            fault(
                CHECKPOINTS,
                format!("line {n}: the checkpoint does not verify under node {node}: {e}"),
            )
        })?;
        if c.size != line.size || unhex(&line.root) != Some(c.root) {
            return Err(fault(
                CHECKPOINTS,
                format!("line {n}: its size or root differs from its signed note"),
            ));
        }
        if let Some(prev) = checkpoints.last() {
            if c.size <= prev.size {
                return Err(fault(
                    CHECKPOINTS,
                    format!(
                        "line {n}: sizes must grow (size {} after {})",
                        c.size, prev.size
                    ),
                ));
            }
        }
        checkpoints.push(c);
    }
    let latest_note = std::str::from_utf8(required(files, CHECKPOINT)?)
        .map_err(|_| fault(CHECKPOINT, "is not UTF-8"))?;
    let latest = Checkpoint::verify_node(latest_note, node).map_err(|e| {
        fault(
            CHECKPOINT,
            format!("does not verify under node {node}: {e}"),
        )
    })?;
    if lines.last().map(|l| l.note.as_str()) != Some(latest_note) {
        return Err(fault(
            CHECKPOINT,
            format!("is not the last checkpoint of {CHECKPOINTS}"),
        ));
    }

    // Each checkpoint extends the one before.
    let proofs: Vec<ConsistencyLine> = jsonl(CONSISTENCY, required(files, CONSISTENCY)?)?;
    let expected = checkpoints.len().saturating_sub(1);
    if proofs.len() != expected {
        return Err(fault(
            CONSISTENCY,
            format!(
                "holds {} proofs, expected {expected} (one per consecutive pair of checkpoints)",
                proofs.len()
            ),
        ));
    }
    for (i, (p, pair)) in proofs.iter().zip(checkpoints.windows(2)).enumerate() {
        let n = i + 1;
        let (old, new) = (&pair[0], &pair[1]);
        if p.old != old.size || p.new != new.size {
            return Err(fault(
                CONSISTENCY,
                format!(
                    "line {n}: is for sizes {}→{}, expected {}→{}",
                    p.old, p.new, old.size, new.size
                ),
            ));
        }
        let path = hashes(CONSISTENCY, &format!("line {n}"), &p.path)?;
        merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &path).map_err(
            |e| {
                fault(
                    CONSISTENCY,
                    format!(
                    "line {n}: the checkpoint at size {} does not extend the one at size {}: {e}",
                    new.size, old.size
                ),
                )
            },
        )?;
    }

    // Entries: bytes, leaf hashes, canonical form, and inclusion.
    let entry_lines: Vec<EntryLine> = jsonl(ENTRIES, required(files, ENTRIES)?)?;
    let proof_lines: Vec<ProofLine> = jsonl(PROOFS, required(files, PROOFS)?)?;
    if proof_lines.len() != entry_lines.len() {
        return Err(fault(
            PROOFS,
            format!(
                "holds {} proofs for {} entries",
                proof_lines.len(),
                entry_lines.len()
            ),
        ));
    }
    let mut entries = BTreeMap::new();
    for (i, (line, proof)) in entry_lines.iter().zip(&proof_lines).enumerate() {
        let n = i + 1;
        let seq = line.seq;
        let bad = |why: String| fault(ENTRIES, format!("line {n} (entry {seq}): {why}"));
        if let Some((&last, _)) = entries.last_key_value() {
            if seq <= last {
                return Err(bad(format!(
                    "entries must be in order (after entry {last})"
                )));
            }
        }
        if seq >= latest.size {
            return Err(bad(format!(
                "not covered by the latest checkpoint (size {})",
                latest.size
            )));
        }
        let bytes = STANDARD
            .decode(&line.entry)
            .map_err(|_| bad("its bytes are not base64".into()))?;
        let leaf = leaf_hash(&bytes);
        if unhex(&line.leaf_hash) != Some(leaf) {
            return Err(bad("its leaf hash is not the hash of its bytes".into()));
        }
        let entry =
            Entry::from_bytes(&bytes).map_err(|e| bad(format!("not a ledger entry: {e}")))?;
        if entry.to_bytes() != bytes {
            return Err(bad("not in canonical form".into()));
        }
        if entry.seq != seq {
            return Err(bad(format!("its bytes say entry {}", entry.seq)));
        }
        if DateTime::parse_from_rfc3339(&entry.time).is_err() {
            return Err(bad(format!("its time `{}` is not RFC 3339", entry.time)));
        }
        if proof.seq != seq {
            return Err(fault(
                PROOFS,
                format!("line {n}: is for entry {}, expected entry {seq}", proof.seq),
            ));
        }
        let path = hashes(PROOFS, &format!("line {n}"), &proof.path)?;
        merkle::verify_inclusion(&leaf, seq, latest.size, &path, &latest.root).map_err(|e| {
            fault(
                PROOFS,
                format!(
                    "line {n}: entry {seq} is not proven in the checkpoint at size {}: {e}",
                    latest.size
                ),
            )
        })?;
        entries.insert(seq, Exported { entry, bytes });
    }
    Ok(Ledger {
        latest,
        checkpoints: checkpoints.len(),
        entries,
    })
}

/// What kind of file a path is.
enum FileKind {
    Fixed,
    Agreement(Uuid, u32),
    Release(Uuid),
    Receipt(Uuid, NodeId),
}

fn classify(path: &str) -> Option<FileKind> {
    if [
        INDEX,
        INDEX_SIG,
        ENTRIES,
        CHECKPOINT,
        CHECKPOINTS,
        PROOFS,
        CONSISTENCY,
    ]
    .contains(&path)
    {
        return Some(FileKind::Fixed);
    }
    if let Some(rest) = path
        .strip_prefix("agreements/")
        .and_then(|p| p.strip_suffix(".json"))
    {
        let (id, version) = rest.rsplit_once("-v")?;
        let (id, version): (Uuid, u32) = (id.parse().ok()?, version.parse().ok()?);
        return (agreement_path(id, version) == path).then_some(FileKind::Agreement(id, version));
    }
    if let Some(rest) = path
        .strip_prefix("releases/")
        .and_then(|p| p.strip_suffix(".json"))
    {
        let id: Uuid = rest.parse().ok()?;
        return (release_path(id) == path).then_some(FileKind::Release(id));
    }
    if let Some(rest) = path
        .strip_prefix("receipts/")
        .and_then(|p| p.strip_suffix(".json"))
    {
        let (share, node) = rest.split_once('/')?;
        let (share, node): (Uuid, NodeId) = (share.parse().ok()?, node.parse().ok()?);
        return (receipt_path(share, &node) == path).then_some(FileKind::Receipt(share, node));
    }
    None
}

/// Verify an evidence archive offline against the node id of the node
/// that exported it (its Ed25519 public key), and report what it proves.
///
/// Checks, in order: the node's signature over `evidence.json` (exact
/// bytes); that every file is listed there with its SHA-256 and every
/// listed file is present; every checkpoint's signature, the consistency
/// of consecutive checkpoints, each entry's leaf hash and its inclusion in
/// the latest checkpoint; each agreement's two signatures; and per
/// release: the manifest's signature, its ledgered release entry, the
/// envelope hashes, the agreement each recipient's share was released
/// under, each receipt's signature by its recipient, and each approval's
/// ledger entry and its place in the signed manifest. The first failure
/// is returned, naming its file.
pub fn verify(archive: &[u8], node: &NodeId) -> Result<EvidenceReport, EvidenceError> {
    let files = read_archive(archive)?;
    let index_bytes = required(&files, INDEX)?;
    let sig = required(&files, INDEX_SIG)?;
    check_signature(sig, index_bytes, node)?;
    let index = parse_index(index_bytes)?;
    if index.node_id != *node {
        return Err(fault(
            INDEX,
            format!("names node {}, not {node}", index.node_id),
        ));
    }

    // Exactly the listed files, each with its digest.
    let mut listed = BTreeSet::new();
    for f in &index.files {
        if f.path == INDEX || f.path == INDEX_SIG {
            return Err(fault(INDEX, format!("lists `{}`, which it cannot", f.path)));
        }
        if !listed.insert(f.path.as_str()) {
            return Err(fault(INDEX, format!("lists `{}` twice", f.path)));
        }
        let bytes = files.get(&f.path).ok_or_else(|| {
            fault(
                &f.path,
                format!("listed in {INDEX} but missing from the archive"),
            )
        })?;
        if sha256_hex(bytes) != f.sha256 {
            return Err(fault(
                &f.path,
                format!("its content differs from the SHA-256 signed in {INDEX}"),
            ));
        }
    }
    let mut agreements_files = BTreeMap::new();
    let mut release_files = BTreeMap::new();
    let mut receipt_files = BTreeMap::new();
    for (path, bytes) in &files {
        if path != INDEX && path != INDEX_SIG && !listed.contains(path.as_str()) {
            return Err(fault(path, format!("is not listed in {INDEX}")));
        }
        match classify(path) {
            Some(FileKind::Fixed) => {}
            Some(FileKind::Agreement(id, version)) => {
                agreements_files.insert((id, version), (path.as_str(), bytes.as_slice()));
            }
            Some(FileKind::Release(id)) => {
                release_files.insert(id, (path.as_str(), bytes.as_slice()));
            }
            Some(FileKind::Receipt(share, recipient)) => {
                receipt_files.insert((share, recipient), (path.as_str(), bytes.as_slice()));
            }
            None => return Err(fault(path, "is not a file an evidence archive holds")),
        }
    }

    let ledger = verify_ledger(&files, node)?;

    let mut agreements = BTreeMap::new();
    for (&(id, version), &(path, bytes)) in &agreements_files {
        let signed = SignedAgreement::from_json(bytes)
            .map_err(|e| fault(path, format!("not a valid signed agreement: {e}")))?;
        if signed.agreement.id != id || signed.agreement.version != version {
            return Err(fault(
                path,
                format!(
                    "holds agreement {} v{}",
                    signed.agreement.id, signed.agreement.version
                ),
            ));
        }
        if !signed.is_countersigned() {
            return Err(fault(path, "is not signed by both parties"));
        }
        if !signed.agreement.is_party(node) {
            return Err(fault(path, format!("node {node} is not a party to it")));
        }
        agreements.insert((id, version), (path, signed));
    }

    let mut totals = Totals {
        files: files.len(),
        entries: ledger.entries.len(),
        checkpoints: ledger.checkpoints,
        agreements: agreements.len(),
        ..Totals::default()
    };
    let mut used_agreements = BTreeSet::new();
    let mut used_receipts = BTreeSet::new();
    let mut releases = Vec::new();
    for (&share, &(path, bytes)) in &release_files {
        if index.scope.share.is_some_and(|s| s != share) {
            return Err(fault(path, "is outside the export's scope"));
        }
        let ctx = ReleaseCtx {
            node,
            share,
            path,
            ledger: &ledger,
            agreements: &agreements,
            receipts: &receipt_files,
        };
        let report = ctx.verify(bytes, &mut used_agreements, &mut used_receipts)?;
        totals.releases += 1;
        totals.recipients += report.recipients.len();
        totals.approvals += report.approvers.len();
        for r in &report.recipients {
            match r.receipt.as_ref().map(|x| x.outcome.is_accepted()) {
                Some(true) => totals.accepted += 1,
                Some(false) => totals.rejected += 1,
                None => totals.pending += 1,
            }
        }
        releases.push(report);
    }
    for (key, (path, _)) in &agreements {
        if !used_agreements.contains(key) {
            return Err(fault(*path, "is not named by any release in the archive"));
        }
    }
    for (key, (path, _)) in &receipt_files {
        if !used_receipts.contains(key) {
            return Err(fault(*path, "is not named by any release in the archive"));
        }
    }
    Ok(EvidenceReport {
        node_id: index.node_id,
        org: index.org,
        created: index.created,
        scope: index.scope,
        not_covered: index.not_covered,
        checkpoint_size: ledger.latest.size,
        checkpoint_root: hex(&ledger.latest.root),
        releases,
        totals,
    })
}

/// What one release is checked against.
struct ReleaseCtx<'a> {
    node: &'a NodeId,
    share: Uuid,
    path: &'a str,
    ledger: &'a Ledger,
    agreements: &'a BTreeMap<(Uuid, u32), (&'a str, SignedAgreement)>,
    receipts: &'a BTreeMap<(Uuid, NodeId), (&'a str, &'a [u8])>,
}

impl ReleaseCtx<'_> {
    fn bad(&self, problem: impl Into<String>) -> EvidenceError {
        fault(self.path, problem)
    }

    /// The exported entry of `kind` naming this share and, if given, a
    /// body field `peer` equal to `peer`.
    fn entry_of(&self, kinds: &[&str], peer: Option<&NodeId>) -> Option<&Exported> {
        self.ledger.entries.values().find(|e| {
            kinds.contains(&e.entry.kind.as_str())
                && e.names_share(self.share)
                && peer.is_none_or(|p| {
                    e.entry.body.get("peer").and_then(|v| v.as_str()) == Some(&p.to_string())
                })
        })
    }

    fn verify(
        &self,
        bytes: &[u8],
        used_agreements: &mut BTreeSet<(Uuid, u32)>,
        used_receipts: &mut BTreeSet<(Uuid, NodeId)>,
    ) -> Result<ReleaseReport, EvidenceError> {
        let (node, share) = (self.node, self.share);
        let file: ReleaseFile = serde_json::from_slice(bytes)
            .map_err(|e| self.bad(format!("not a release file: {e}")))?;
        if file.v != EVIDENCE_VERSION {
            return Err(self.bad(format!("format version {}", file.v)));
        }
        if file.share_id != share {
            return Err(self.bad(format!("is about share {}", file.share_id)));
        }

        // The manifest, as the node signed it.
        let manifest_bytes = file
            .manifest
            .verify(MANIFEST_TYPE, &node.verifying_key())
            .map_err(|e| {
                self.bad(format!(
                    "the manifest does not verify under node {node}: {e}"
                ))
            })?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| self.bad(format!("the signed manifest does not parse: {e}")))?;
        if manifest.bundle_id != share {
            return Err(self.bad(format!("the manifest is for bundle {}", manifest.bundle_id)));
        }
        if manifest.sender.node_id != *node {
            return Err(self.bad(format!(
                "the manifest names sender {}, not {node}",
                manifest.sender.node_id
            )));
        }
        let manifest_sha256 = sha256_hex(&manifest_bytes);

        // Its release, in the ledger.
        let sent = self
            .entry_of(&[kinds::SHARE_RELEASED, kinds::SHARE_FORWARDED], None)
            .ok_or_else(|| self.bad("its `share.released` ledger entry is not in the archive"))?;
        let body = &sent.entry.body;
        if body.get("manifest_sha256").and_then(|v| v.as_str()) != Some(manifest_sha256.as_str()) {
            return Err(self.bad(format!(
                "the manifest differs from the one ledgered at entry {}",
                sent.entry.seq
            )));
        }
        let sent_at = DateTime::parse_from_rfc3339(&sent.entry.time)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| self.bad("its release entry's time is not RFC 3339"))?;
        let ledgered: Vec<&serde_json::Value> = body
            .get("recipients")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default();

        // Approvals: each one ledgered, and the approvals signed in the
        // manifest are exactly the recorded approvals.
        let mut approvers = Vec::new();
        for a in &file.approvals {
            let who = &a.name;
            let e = self.ledger.entries.get(&a.ledger_seq).ok_or_else(|| {
                self.bad(format!(
                    "the decision of {who}: its ledger entry {} is not in the archive",
                    a.ledger_seq
                ))
            })?;
            if sha256_hex(&e.bytes) != a.decision_sha256 {
                return Err(self.bad(format!(
                    "the decision of {who}: `decision_sha256` is not the SHA-256 of ledger entry {}",
                    a.ledger_seq
                )));
            }
            let kind = match a.decision {
                Decision::Approve => kinds::SHARE_APPROVED,
                Decision::Reject => kinds::SHARE_REJECTED,
            };
            let approver = e.entry.body.get("approver").and_then(|v| v.as_str());
            if e.entry.kind != kind
                || !e.names_share(share)
                || approver != Some(a.approver.as_str())
            {
                return Err(self.bad(format!(
                    "the decision of {who}: ledger entry {} is not a `{kind}` of this share by {}",
                    a.ledger_seq, a.approver
                )));
            }
            if a.decision == Decision::Approve {
                approvers.push(ApproverReport {
                    approver: a.approver.clone(),
                    name: a.name.clone(),
                    at: a.at,
                    comment: a.comment.clone(),
                    ledger_seq: a.ledger_seq,
                });
            }
        }
        let mut recorded: Vec<_> = file
            .approvals
            .iter()
            .filter(|a| a.decision == Decision::Approve)
            .map(|a| (&a.approver, &a.name, a.at, &a.decision_sha256))
            .collect();
        let mut signed: Vec<_> = manifest
            .approvals
            .iter()
            .map(|a| (&a.approver, &a.name, a.at, &a.decision_sha256))
            .collect();
        recorded.sort();
        signed.sort();
        if recorded != signed {
            return Err(self.bad(format!(
                "the approvals recorded ({}) differ from those signed in the manifest ({})",
                recorded.len(),
                signed.len()
            )));
        }

        // Recipients: the signed audience, each with its envelope, its
        // agreement and its receipt.
        let audience: BTreeSet<NodeId> = manifest.recipients.iter().map(|r| r.node_id).collect();
        let listed: BTreeSet<NodeId> = file.recipients.iter().map(|r| r.node_id).collect();
        if audience != listed || listed.len() != file.recipients.len() {
            return Err(self.bad("its recipients are not the manifest's signed audience"));
        }
        let mut recipients = Vec::new();
        for m in &manifest.recipients {
            let peer = m.node_id;
            let Some(r) = file.recipients.iter().find(|r| r.node_id == peer) else {
                return Err(self.bad(format!("recipient {peer} is missing")));
            };
            let ledgered_one = ledgered
                .iter()
                .find(|v| v.get("node_id").and_then(|x| x.as_str()) == Some(&peer.to_string()));
            let envelope = ledgered_one
                .and_then(|v| v.get("envelope_sha256"))
                .and_then(|v| v.as_str());
            if envelope != Some(r.envelope_sha256.as_str()) {
                return Err(self.bad(format!(
                    "the envelope hash for {peer} differs from the one ledgered at entry {}",
                    sent.entry.seq
                )));
            }
            let agreement = match &m.agreement {
                None => None,
                Some(reference) => {
                    let key = (reference.id, reference.version);
                    let (apath, signed) = self.agreements.get(&key).ok_or_else(|| {
                        self.bad(format!(
                            "the manifest names agreement {} v{} for {peer}, which is not in the archive",
                            reference.id, reference.version
                        ))
                    })?;
                    used_agreements.insert(key);
                    if signed.sha256() != reference.sha256 {
                        return Err(fault(
                            *apath,
                            format!(
                                "is not the agreement (SHA-256 {}) the manifest of share {share} names",
                                reference.sha256
                            ),
                        ));
                    }
                    if !signed.agreement.is_party(&peer) {
                        return Err(fault(
                            *apath,
                            format!("recipient {peer} is not a party to it"),
                        ));
                    }
                    let in_ledger = ledgered_one.and_then(|v| v.get("agreement")).and_then(|v| {
                        serde_json::from_value::<crate::manifest::AgreementRef>(v.clone()).ok()
                    });
                    if in_ledger.as_ref() != Some(reference) {
                        return Err(self.bad(format!(
                            "the agreement for {peer} differs from the one ledgered at entry {}",
                            sent.entry.seq
                        )));
                    }
                    let a = &signed.agreement;
                    if !a.is_valid_at(manifest.created) {
                        return Err(self.bad(format!(
                            "sealed at {} outside the validity window of agreement {} v{}",
                            manifest.created.to_rfc3339(),
                            a.id,
                            a.version
                        )));
                    }
                    let needed = a
                        .flow(node, &peer)
                        .map(|t| t.approval.needed(manifest.tlp))
                        .ok_or_else(|| {
                            self.bad(format!(
                                "agreement {} v{} lets nothing flow from {node} to {peer}",
                                a.id, a.version
                            ))
                        })?;
                    if (manifest.approvals.len() as u64) < u64::from(needed) {
                        return Err(self.bad(format!(
                            "agreement {} v{} needs {needed} approval(s) at {}, the manifest carries {}",
                            a.id,
                            a.version,
                            manifest.tlp,
                            manifest.approvals.len()
                        )));
                    }
                    Some(AgreementReport {
                        id: a.id,
                        version: a.version,
                        title: a.title.clone(),
                        sha256: reference.sha256.clone(),
                        valid_from: a.valid_from,
                        valid_until: a.valid_until,
                    })
                }
            };
            let stored_entry = self.entry_of(&[kinds::RECEIPT_STORED], Some(&peer));
            let receipt = match &r.receipt {
                None => {
                    if let Some(e) = stored_entry {
                        return Err(self.bad(format!(
                            "omits the receipt of {peer} ledgered at entry {}",
                            e.entry.seq
                        )));
                    }
                    None
                }
                Some(rpath) => {
                    let key = (share, peer);
                    let (rpath_found, rbytes) = self
                        .receipts
                        .get(&key)
                        .filter(|(p, _)| p == rpath)
                        .ok_or_else(|| {
                            self.bad(format!(
                                "names receipt `{rpath}`, which is not in the archive"
                            ))
                        })?;
                    used_receipts.insert(key);
                    let rfile = *rpath_found;
                    let signed = SignedReceipt::verify(rbytes, &peer).map_err(|e| {
                        fault(rfile, format!("not a receipt signed by {peer}: {e}"))
                    })?;
                    signed
                        .check_answers(node, share, &r.envelope_sha256)
                        .map_err(|e| fault(rfile, e.to_string()))?;
                    let rc = &signed.receipt;
                    if rc.envelope_sha256 != r.envelope_sha256 {
                        return Err(fault(
                            rfile,
                            format!(
                                "answers ciphertext {}, not the envelope sent",
                                rc.envelope_sha256
                            ),
                        ));
                    }
                    if rc
                        .manifest_sha256
                        .as_ref()
                        .is_some_and(|m| *m != manifest_sha256)
                    {
                        return Err(fault(rfile, "names another manifest than the one sent"));
                    }
                    if let Some(e) = stored_entry {
                        let ledgered_sha =
                            e.entry.body.get("receipt_sha256").and_then(|v| v.as_str());
                        if ledgered_sha != Some(sha256_hex(rbytes).as_str()) {
                            return Err(fault(
                                rfile,
                                format!(
                                    "differs from the receipt ledgered at entry {}",
                                    e.entry.seq
                                ),
                            ));
                        }
                    }
                    Some(ReceiptReport {
                        outcome: rc.outcome.clone(),
                        received_at: rc.received_at,
                    })
                }
            };
            recipients.push(RecipientReport {
                node_id: peer,
                org: m.org.clone(),
                agreement,
                envelope_sha256: r.envelope_sha256.clone(),
                receipt,
            });
        }
        Ok(ReleaseReport {
            share_id: share,
            tlp: manifest.tlp,
            kind: manifest.kind,
            sent_at,
            sent_seq: sent.entry.seq,
            forwarded: sent.entry.kind == kinds::SHARE_FORWARDED,
            manifest_sha256,
            approvers,
            recipients,
        })
    }
}

#[cfg(test)]
mod tests;

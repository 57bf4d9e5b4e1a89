//! The tamper-evident ledger (DESIGN §7), for auditors: entries, signed
//! checkpoints, inclusion and consistency proofs, and a full verification.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use data_encoding::HEXLOWER;
use liaison_core::audit::{LedgerFault, LedgerVerifier, StoredCheckpoint, StoredRow};
use liaison_core::merkle::{self, Hash};
use liaison_store::{CheckpointRecord, Role, Store, User};
use serde::{Deserialize, Serialize};

use crate::auth::require_role;
use crate::views::LedgerView;
use crate::{blocking, ApiError, AppState};

/// Rows read per query while streaming the ledger.
const PAGE: u32 = 10_000;

#[derive(Debug, Deserialize)]
pub(crate) struct LedgerQuery {
    #[serde(default)]
    pub since: u64,
    #[serde(default = "default_ledger_limit")]
    pub limit: u32,
}

fn default_ledger_limit() -> u32 {
    1000
}

/// `GET /api/ledger`: entries from `since`, at most `limit`.
pub(crate) async fn entries(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<Vec<LedgerView>>, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let Query(q) = q?;
    let store = state.store.clone();
    let rows = blocking(move || Ok(store.ledger(q.since, q.limit.min(100_000))?)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| LedgerView {
                seq: r.seq,
                time: r.time,
                kind: r.kind,
                actor: r.actor,
                body: r.body,
                leaf_hash: HEXLOWER.encode(&r.leaf_hash),
            })
            .collect(),
    ))
}

/// A signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointView {
    /// Tree size.
    pub size: u64,
    /// Root hash (hex).
    pub root: String,
    /// The signed note (C2SP tlog-checkpoint).
    pub note: String,
    /// When it was signed.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn checkpoint_view(c: &CheckpointRecord) -> CheckpointView {
    CheckpointView {
        size: c.size,
        root: HEXLOWER.encode(&c.root_hash),
        note: c.note.clone(),
        created_at: c.created_at,
    }
}

/// `GET /api/ledger/checkpoints`.
pub(crate) async fn checkpoints(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<CheckpointView>>, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let store = state.store.clone();
    let all = blocking(move || Ok(store.checkpoints()?)).await?;
    Ok(Json(all.iter().map(checkpoint_view).collect()))
}

/// The outcome of `GET /api/ledger/verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyView {
    /// Whether everything verified.
    pub ok: bool,
    /// Entries verified (up to the fault, if any).
    pub entries: u64,
    /// Checkpoints in the store.
    pub checkpoints: usize,
    /// The root of all entries (hex), when everything verified.
    pub root: Option<String>,
    /// Entries not yet covered by a checkpoint.
    pub unsigned_tail: u64,
    /// The first entry at fault, when it names one.
    pub bad_entry: Option<u64>,
    /// What is wrong, in words.
    pub fault: Option<String>,
}

/// Verify the whole ledger: every leaf, the sequence, every column, the
/// tree and every checkpoint signature (the node's own key).
pub fn verify_store(
    store: &dyn Store,
    node: &liaison_core::identity::NodeId,
) -> Result<VerifyView, liaison_store::StoreError> {
    let checkpoints: Vec<StoredCheckpoint> = store
        .checkpoints()?
        .into_iter()
        .map(|c| StoredCheckpoint {
            size: c.size,
            root: c.root_hash,
            note: c.note,
        })
        .collect();
    let n_checkpoints = checkpoints.len();
    let mut verifier = LedgerVerifier::new(*node, checkpoints);
    let mut next = 0u64;
    let fault = |f: LedgerFault, entries: u64| VerifyView {
        ok: false,
        entries,
        checkpoints: n_checkpoints,
        root: None,
        unsigned_tail: 0,
        bad_entry: f.entry(),
        fault: Some(f.to_string()),
    };
    loop {
        let rows = match store.ledger(next, PAGE) {
            Ok(rows) => rows,
            // A row the store cannot even read is a fault of that row.
            Err(liaison_store::StoreError::Corrupt(m)) => {
                return Ok(fault(LedgerFault::Malformed { seq: next, why: m }, next))
            }
            Err(e) => return Err(e),
        };
        let Some(last) = rows.last().map(|r| r.seq) else {
            break;
        };
        for r in &rows {
            let row = StoredRow {
                seq: r.seq,
                time: &r.time,
                kind: &r.kind,
                actor: &r.actor,
                body: &r.body,
                entry: &r.entry,
                leaf_hash: &r.leaf_hash,
            };
            if let Err(f) = verifier.push(&row) {
                return Ok(fault(f, r.seq));
            }
        }
        next = last.saturating_add(1);
    }
    Ok(match verifier.finish() {
        Ok(report) => VerifyView {
            ok: true,
            entries: report.entries,
            checkpoints: report.checkpoints,
            root: Some(HEXLOWER.encode(&report.root)),
            unsigned_tail: report.unsigned_tail,
            bad_entry: None,
            fault: None,
        },
        Err(f) => fault(f, next),
    })
}

/// `GET /api/ledger/verify`.
pub(crate) async fn verify(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<VerifyView>, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let store = state.store.clone();
    let node = state.keys.node_id();
    let view = blocking(move || Ok(verify_store(store.as_ref(), &node)?)).await?;
    Ok(Json(view))
}

/// Every stored leaf hash up to `size` (a checkpoint's size); an error if
/// the ledger holds fewer.
pub(crate) fn leaves_upto(store: &dyn Store, size: u64) -> Result<Vec<Hash>, ApiError> {
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 24));
    while (out.len() as u64) < size {
        let want = u32::try_from(size - out.len() as u64)
            .unwrap_or(PAGE)
            .min(PAGE);
        let got = store.leaf_hashes(out.len() as u64, want)?;
        if got.is_empty() {
            break;
        }
        out.extend(got);
    }
    if (out.len() as u64) < size {
        return Err(ApiError::unprocessable(
            "ledger_truncated",
            format!(
                "the ledger holds {} entries, fewer than the checkpoint at size {size}: run `liaison ledger verify`",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn checkpoint_at(store: &dyn Store, size: Option<u64>) -> Result<CheckpointRecord, ApiError> {
    let all = store.checkpoints()?;
    match size {
        None => all
            .into_iter()
            .last()
            .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet")),
        Some(s) => all
            .into_iter()
            .find(|c| c.size == s)
            .ok_or_else(|| ApiError::not_found(format!("no checkpoint at size {s}"))),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProofQuery {
    /// The checkpoint's size (default: the latest).
    size: Option<u64>,
}

/// An inclusion proof of one entry in a signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InclusionView {
    /// The entry.
    pub seq: u64,
    /// Its canonical bytes (base64).
    pub entry: String,
    /// Its leaf hash (hex).
    pub leaf_hash: String,
    /// The checkpoint it is proven against.
    pub checkpoint: CheckpointView,
    /// RFC 9162 inclusion path (hex hashes, leaf side first).
    pub path: Vec<String>,
}

/// `GET /api/ledger/proof/{seq}?size=N`.
pub(crate) async fn inclusion(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(seq): Path<u64>,
    q: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Json<InclusionView>, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let Query(q) = q?;
    let store = state.store.clone();
    blocking(move || {
        let c = checkpoint_at(store.as_ref(), q.size)?;
        if seq >= c.size {
            return Err(ApiError::unprocessable(
                "not_in_checkpoint",
                format!(
                    "entry {seq} is not covered by the checkpoint at size {} (wait for the next one)",
                    c.size
                ),
            ));
        }
        let leaves = leaves_upto(store.as_ref(), c.size)?;
        let path = merkle::inclusion_proof(&leaves, seq)
            .map_err(|e| ApiError::unprocessable("proof", e.to_string()))?;
        let row = store
            .ledger(seq, 1)?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found(format!("no ledger entry {seq}")))?;
        use base64::Engine as _;
        Ok(Json(InclusionView {
            seq,
            entry: base64::engine::general_purpose::STANDARD.encode(&row.entry),
            leaf_hash: HEXLOWER.encode(&row.leaf_hash),
            checkpoint: checkpoint_view(&c),
            path: path.iter().map(|h| HEXLOWER.encode(h)).collect(),
        }))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsistencyQuery {
    old: u64,
    new: Option<u64>,
}

/// A consistency proof between two signed checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsistencyView {
    /// The older checkpoint.
    pub old: CheckpointView,
    /// The newer checkpoint.
    pub new: CheckpointView,
    /// RFC 9162 consistency path (hex hashes).
    pub path: Vec<String>,
}

/// `GET /api/ledger/consistency?old=M&new=N` (new: the latest).
pub(crate) async fn consistency(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<ConsistencyView>, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let Query(q) = q?;
    let store = state.store.clone();
    blocking(move || {
        let old = checkpoint_at(store.as_ref(), Some(q.old))?;
        let new = checkpoint_at(store.as_ref(), q.new)?;
        if old.size > new.size {
            return Err(ApiError::bad_request(
                "invalid_sizes",
                "`old` must not be larger than `new`",
            ));
        }
        let leaves = leaves_upto(store.as_ref(), new.size)?;
        let path = if old.size == 0 {
            Vec::new()
        } else {
            merkle::consistency_proof(&leaves, old.size)
                .map_err(|e| ApiError::unprocessable("proof", e.to_string()))?
        };
        Ok(Json(ConsistencyView {
            old: checkpoint_view(&old),
            new: checkpoint_view(&new),
            path: path.iter().map(|h| HEXLOWER.encode(h)).collect(),
        }))
    })
    .await
}

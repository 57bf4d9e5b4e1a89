//! `liaison ledger …`: the tamper-evident ledger, for auditors. Proofs
//! fetched from the node are verified here, against the node's key from
//! its identity card, not taken on the node's word.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use data_encoding::HEXLOWER;
use liaison_api::ledger::{verify_store, ConsistencyView, InclusionView, VerifyView};
use liaison_api::views::LedgerView;
use liaison_core::checkpoint::Checkpoint;
use liaison_core::identity::NodeId;
use liaison_core::ledger::leaf_hash;
use liaison_core::merkle::{self, Hash};
use liaison_store::SqliteStore;
use serde_json::Value;

use crate::client::Client;
use crate::home::Home;
use crate::remote::{decode, emit, pretty, table};

/// `ledger show [--since N] [--limit N]`.
pub fn show(client: &Client, since: u64, limit: u32, json: bool) -> Result<()> {
    let path = format!("/api/ledger?since={since}&limit={limit}");
    let answer: Value = client.get_json(&path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let rows: Vec<LedgerView> = decode(&path, answer)?;
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.time.clone(),
                r.kind.clone(),
                r.actor.clone(),
                summary(&r.body),
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(&["SEQ", "TIME", "KIND", "ACTOR", "DETAILS"], &rows))
}

/// A one-line summary of an entry body.
fn summary(body: &Value) -> String {
    let s = body.to_string();
    match s.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

/// `ledger verify`: through the node's API, or with `--offline` straight
/// from the node home's database (the node may be running).
pub fn verify(home: &Home, client: Option<&Client>, json: bool) -> Result<()> {
    let view: VerifyView = match client {
        Some(c) => decode("/api/ledger/verify", c.get_json("/api/ledger/verify")?)?,
        None => {
            let path = home.db_path();
            if !path.exists() {
                bail!("no store at {}", path.display());
            }
            let node = home.card()?.node_id();
            let store = SqliteStore::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            verify_store(&store, &node)?
        }
    };
    if json {
        emit(&pretty(&serde_json::to_value(&view)?)?)?;
    } else if view.ok {
        emit(&format!(
            "ledger verified: {} entries, {} signed checkpoint(s), root {}{}\n",
            view.entries,
            view.checkpoints,
            view.root.as_deref().unwrap_or("?"),
            if view.unsigned_tail > 0 {
                format!(
                    "; the last {} entries are not yet covered by a checkpoint",
                    view.unsigned_tail
                )
            } else {
                String::new()
            }
        ))?;
    }
    if !view.ok {
        bail!(
            "LEDGER VERIFICATION FAILED: {}",
            view.fault.as_deref().unwrap_or("unknown fault")
        );
    }
    Ok(())
}

fn hash(hex: &str) -> Result<Hash> {
    HEXLOWER
        .decode(hex.as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("`{hex}` is not a 32-byte hex hash"))
}

/// `ledger proof SEQ [--size N]`: fetch the inclusion proof and verify it.
pub fn proof(
    client: &Client,
    node: &NodeId,
    seq: u64,
    size: Option<u64>,
    json: bool,
) -> Result<()> {
    let path = match size {
        Some(s) => format!("/api/ledger/proof/{seq}?size={s}"),
        None => format!("/api/ledger/proof/{seq}"),
    };
    let answer: Value = client.get_json(&path)?;
    let p: InclusionView = decode(&path, answer.clone())?;
    let checkpoint = Checkpoint::verify_node(&p.checkpoint.note, node)
        .map_err(|e| anyhow!("the checkpoint does not verify under the node's key: {e}"))?;
    let entry = base64::engine::general_purpose::STANDARD
        .decode(&p.entry)
        .context("the entry is not base64")?;
    let leaf = leaf_hash(&entry);
    if HEXLOWER.encode(&leaf) != p.leaf_hash {
        bail!("the entry's bytes do not hash to the leaf hash given");
    }
    let path_hashes = p.path.iter().map(|h| hash(h)).collect::<Result<Vec<_>>>()?;
    merkle::verify_inclusion(&leaf, seq, checkpoint.size, &path_hashes, &checkpoint.root)
        .map_err(|e| anyhow!("the inclusion proof does not verify: {e}"))?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let mut out = format!(
        "entry {seq} is included in the checkpoint at size {} (signature and proof verified)\n",
        checkpoint.size
    );
    out += &format!("entry:      {}\n", String::from_utf8_lossy(&entry));
    out += &format!("leaf hash:  {}\n", p.leaf_hash);
    out += &format!("root:       {}\n", HEXLOWER.encode(&checkpoint.root));
    out += &format!("path ({} hashes):\n", p.path.len());
    for h in &p.path {
        out += &format!("  {h}\n");
    }
    out += "checkpoint:\n";
    for line in p.checkpoint.note.lines() {
        out += &format!("  {line}\n");
    }
    emit(&out)
}

/// `ledger consistency OLD [NEW] [--trusted FILE]`: fetch the proof and
/// verify it; with `trusted`, against the auditor's own copy of the old
/// checkpoint rather than the one the node serves now.
pub fn consistency(
    client: &Client,
    node: &NodeId,
    old: u64,
    new: Option<u64>,
    trusted: Option<&std::path::Path>,
    json: bool,
) -> Result<()> {
    let path = match new {
        Some(n) => format!("/api/ledger/consistency?old={old}&new={n}"),
        None => format!("/api/ledger/consistency?old={old}"),
    };
    let answer: Value = client.get_json(&path)?;
    let p: ConsistencyView = decode(&path, answer.clone())?;
    let old_note = match trusted {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => p.old.note.clone(),
    };
    let a = Checkpoint::verify_node(&old_note, node)
        .map_err(|e| anyhow!("the old checkpoint does not verify: {e}"))?;
    if a.size != old {
        bail!("the trusted checkpoint is at size {}, not {old}", a.size);
    }
    let b = Checkpoint::verify_node(&p.new.note, node)
        .map_err(|e| anyhow!("the new checkpoint does not verify: {e}"))?;
    let hashes = p.path.iter().map(|h| hash(h)).collect::<Result<Vec<_>>>()?;
    merkle::verify_consistency(a.size, b.size, &a.root, &b.root, &hashes).map_err(|e| {
        anyhow!(
            "the ledger at size {} is NOT an extension of the ledger at size {}: {e}",
            b.size,
            a.size
        )
    })?;
    if json {
        return emit(&pretty(&answer)?);
    }
    emit(&format!(
        "the checkpoint at size {} extends the one at size {} (both signatures and the {}-hash proof verified)\n",
        b.size,
        a.size,
        hashes.len()
    ))
}

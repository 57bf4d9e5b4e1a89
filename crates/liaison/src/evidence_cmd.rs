//! `liaison evidence …`: signed evidence archives for auditors. `export`
//! downloads one from the running node; `verify` checks one offline,
//! against nothing but the exporting node's id, and says per release
//! which agreement it was made under, who approved it, when it was sent
//! and what each recipient signed for it.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use liaison_core::evidence::{self, EvidenceReport, ReleaseReport};
use liaison_core::identity::NodeId;
use liaison_core::receipt::Outcome;

use crate::client::{path_segment, Client};
use crate::remote::{emit, when};

/// Largest archive `verify` reads (the API hands out at most 1 GiB).
const MAX_ARCHIVE: u64 = 1 << 30;

/// `evidence export [--share ID | --since DATE] -o FILE`.
pub fn export(client: &Client, share: Option<&str>, since: Option<&str>, out: &Path) -> Result<()> {
    let path = match (share, since) {
        (Some(_), Some(_)) => bail!("give --share or --since, not both"),
        (Some(id), None) => format!("/api/evidence?share={}", path_segment(id.trim())),
        (None, Some(date)) => format!("/api/evidence?since={}", path_segment(date.trim())),
        (None, None) => "/api/evidence".to_string(),
    };
    let archive = client.get_bytes(&path)?;
    // What the node says it signed, checked against the node id it names:
    // a download that does not verify is not written at all.
    let index = evidence::read_index(&archive)
        .map_err(|e| anyhow!("the node's answer is not an evidence archive: {e}"))?;
    let report = evidence::verify(&archive, &index.node_id)
        .map_err(|e| anyhow!("the node's archive does not verify: {e}"))?;
    write_private(out, &archive)?;
    let t = &report.totals;
    let mut text = format!(
        "wrote {} ({} bytes, {} files)\n",
        out.display(),
        archive.len(),
        t.files
    );
    text += &format!("scope:       {}\n", scope(&report));
    text += &format!(
        "ledger:      {} entries with inclusion proofs, {} signed checkpoint(s) up to size {}\n",
        t.entries, t.checkpoints, report.checkpoint_size
    );
    if report.not_covered > 0 {
        text += &format!(
            "             {} newer entries are not covered by a checkpoint yet and were left out\n",
            report.not_covered
        );
    }
    text += &format!(
        "releases:    {} ({} recipient(s), {} receipt(s), {} approval(s), {} agreement(s))\n",
        t.releases,
        t.recipients,
        t.accepted + t.rejected,
        t.approvals,
        t.agreements
    );
    text += &format!("signed by:   node {} ({})\n", report.node_id, report.org);
    text += &format!(
        "check it:    liaison evidence verify {} --node-id {}\n",
        out.display(),
        report.node_id
    );
    text += "             (compare the node id with the one the node's operator gives you)\n";
    emit(&text)
}

/// Write `bytes` to `path`, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: tighten it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `evidence verify FILE --node-id ID`: offline, no node, no token.
pub fn verify(file: &Path, node_id: &str) -> Result<()> {
    let node: NodeId = node_id.trim().parse()?;
    let size = fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_ARCHIVE {
        bail!("{} is larger than {MAX_ARCHIVE} bytes", file.display());
    }
    let archive = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = evidence::verify(&archive, &node)
        .map_err(|e| anyhow!("EVIDENCE VERIFICATION FAILED: {e}"))?;
    emit(&render(&report))
}

fn scope(report: &EvidenceReport) -> String {
    match (&report.scope.share, &report.scope.since) {
        (Some(id), _) => format!("share {id}"),
        (None, Some(t)) => format!("entries since {}", when(t)),
        (None, None) => "the whole ledger".to_string(),
    }
}

fn render(report: &EvidenceReport) -> String {
    let t = &report.totals;
    let mut out = format!(
        "evidence verified: signed by node {} ({}), exported {}\n",
        report.node_id,
        report.org,
        when(&report.created)
    );
    out += &format!("scope: {}\n", scope(report));
    out += &format!(
        "ledger: {} entries, each proven in the checkpoint at size {} (root {}); {} checkpoint(s), each consistent with the one before\n",
        t.entries, report.checkpoint_size, report.checkpoint_root, t.checkpoints
    );
    if report.not_covered > 0 {
        out += &format!(
            "  ({} newer entries were not yet covered by a checkpoint and are not in the archive)\n",
            report.not_covered
        );
    }
    for r in &report.releases {
        out += &release(r);
    }
    out += &format!(
        "totals: {} release(s), {} recipient(s): {} accepted, {} rejected, {} without receipt; {} approval(s); {} agreement(s)\n",
        t.releases, t.recipients, t.accepted, t.rejected, t.pending, t.approvals, t.agreements
    );
    out
}

fn release(r: &ReleaseReport) -> String {
    let mut out = format!(
        "\nrelease {} ({}, {}){}\n",
        r.share_id,
        r.tlp,
        r.kind,
        if r.forwarded { ", a re-share" } else { "" }
    );
    out += &format!(
        "  sent:      {} (ledger entry {})\n",
        when(&r.sent_at),
        r.sent_seq
    );
    out += &format!(
        "  manifest:  sha256 {} (signature verified)\n",
        r.manifest_sha256
    );
    if r.approvers.is_empty() {
        out += "  approved:  no approval was needed\n";
    }
    for a in &r.approvers {
        let comment = if a.comment.is_empty() {
            String::new()
        } else {
            format!(": \"{}\"", a.comment)
        };
        out += &format!(
            "  approved:  by {} at {} (ledger entry {}){comment}\n",
            a.name,
            when(&a.at),
            a.ledger_seq
        );
    }
    for p in &r.recipients {
        out += &format!("  to {} ({}):\n", p.org, p.node_id);
        match &p.agreement {
            Some(a) => {
                let title = if a.title.is_empty() {
                    String::new()
                } else {
                    format!(" \"{}\"", a.title)
                };
                out += &format!(
                    "    agreement: {} v{}{title}, signed by both, in force {} – {} (sha256 {})\n",
                    a.id,
                    a.version,
                    when(&a.valid_from),
                    when(&a.valid_until),
                    a.sha256
                );
            }
            None => out += "    agreement: none named in the manifest\n",
        }
        out += &format!("    envelope:  sha256 {}\n", p.envelope_sha256);
        match &p.receipt {
            Some(rc) => {
                let outcome = match &rc.outcome {
                    Outcome::Accepted => "accepted".to_string(),
                    Outcome::Rejected { reason, detail } => {
                        format!("rejected ({}: {detail})", reason.code())
                    }
                };
                out += &format!(
                    "    receipt:   {outcome}, received {} (signed by the recipient, verified)\n",
                    when(&rc.received_at)
                );
            }
            None => out += "    receipt:   none yet (not answered when exported)\n",
        }
    }
    out
}

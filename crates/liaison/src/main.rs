//! `liaison`: one binary for the node, its operators and its demo.

mod agreement_cmd;
mod approval_cmd;
mod bench;
mod client;
mod demo;
mod evidence_cmd;
mod home;
mod incident_cmd;
mod ledger_cmd;
mod offline;
mod remote;
mod revise_cmd;
mod serve;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use liaison_core::import::Format;
use liaison_core::{Kind, Tlp};

use crate::home::Home;

/// Liaison: signed, encrypted TLP 2.0 sharing between organizations.
///
/// Each organization runs a node. Nodes sign (Ed25519) and encrypt (age)
/// TLP-labelled STIX 2.1 and CSAF 2.0 bundles for pinned partners.
#[derive(Debug, Parser)]
#[command(name = "liaison", version, propagate_version = true)]
struct Cli {
    /// The node home directory.
    #[arg(
        long,
        global = true,
        env = "LIAISON_HOME",
        default_value = "./liaison-home"
    )]
    home: PathBuf,

    /// Bearer token for the running node's local API, used by `peer`,
    /// `share` and `inbox` (the admin token `init` printed, or another).
    #[arg(long, global = true, env = "LIAISON_TOKEN", hide_env_values = true)]
    token: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node home: fresh keys (mode 0600), identity card, config,
    /// store, and an admin token printed once as `admin token: TOKEN`.
    Init {
        /// Organization name, as partners will see it.
        #[arg(long)]
        org: String,
        /// QUIC listen address, published on the identity card.
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: String,
        /// Local HTTP API address (loopback by default).
        #[arg(long, default_value = "127.0.0.1:7080")]
        api: String,
    },
    /// Print this node's identity card and fingerprint.
    Id {
        /// Print the signed card as JSON (the file to give partners).
        #[arg(long)]
        json: bool,
    },
    /// Validate content, sign it and encrypt it for one or more nodes.
    Seal {
        /// TLP 2.0 label (clear, green, amber, amber+strict, red).
        #[arg(long)]
        tlp: Tlp,
        /// A recipient's identity card file; repeat for several recipients.
        #[arg(long = "to", value_name = "CARD", required = true)]
        to: Vec<PathBuf>,
        /// Content kind; detected from the content when omitted.
        #[arg(long)]
        kind: Option<Kind>,
        /// The content to seal (STIX 2.1 bundle, CSAF 2.0 advisory or text note).
        input: PathBuf,
        /// Where to write the envelope (binary age file).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Decrypt an envelope, verify its originator and audience, write the content.
    Open {
        /// The envelope to open.
        input: PathBuf,
        /// The originator's identity card (pinned for this check).
        #[arg(long = "from", value_name = "CARD", required = true)]
        from: Vec<PathBuf>,
        /// Where to write the verified content.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Convert a MISP event, a plain IOC list or CSV to a STIX 2.1 bundle
    /// (offline) and print what was converted, what was skipped and why.
    Import {
        /// The input (MISP event JSON, one IOC per line, or CSV with
        /// `type` and `value` columns).
        file: PathBuf,
        /// Input format: auto, misp, list or csv (auto detects it).
        #[arg(long, default_value = "auto")]
        format: Format,
        /// Convert MISP attributes and CSV rows whose `to_ids` is false too.
        #[arg(long)]
        include_non_ids: bool,
        /// Refuse inputs larger than this many MiB, before parsing.
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        max_size: usize,
        /// Where to write the STIX bundle.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run the node: QUIC listener for pinned peers, delivery worker and
    /// the local HTTP API, until SIGTERM or Ctrl-C.
    Serve,
    /// Run a self-contained demonstration with several organizations.
    Demo,
    /// Measure this machine's limits (Ed25519, age, SHA-256, QUIC, SQLite
    /// commits) and Liaison against them (end-to-end delivery, a large
    /// bundle, the ledger, an idle node), beside GnuPG and a TAXII server
    /// when installed; prints one table. Uses temporary homes on
    /// 127.0.0.1 only; ignores `--home`.
    Bench {
        /// A shorter run (under a minute).
        #[arg(long, conflicts_with = "smoke")]
        quick: bool,
        /// A few iterations of each scenario, for tests (no large bundle).
        #[arg(long)]
        smoke: bool,
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Supply-chain incidents: open one, link shares to it, follow each
    /// peer's receipt and acknowledgement against deadlines, and export
    /// the coordination report.
    Incident {
        #[command(subcommand)]
        cmd: IncidentCmd,
    },
    /// Pin, list and unpin partner nodes (through the running node).
    Peer {
        #[command(subcommand)]
        cmd: PeerCmd,
    },
    /// Share content with pinned peers and follow its delivery (through the
    /// running node).
    Share {
        #[command(subcommand)]
        cmd: ShareCmd,
    },
    /// Negotiate sharing agreements with peers (through the running node):
    /// nothing flows between two nodes without one signed by both.
    Agreement {
        #[command(subcommand)]
        cmd: AgreementCmd,
    },
    /// Local users and their roles (admin only): `user add NAME --role ROLE`
    /// prints the user's token once.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Shares waiting for release approval, with their policy decision and
    /// redaction (approvers); `approvals show ID` shows what would be sent.
    Approvals {
        #[command(subcommand)]
        cmd: Option<ApprovalsCmd>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve the release of a share (approvers only, never your own).
    Approve {
        /// Share id.
        id: String,
        /// A comment for the record.
        #[arg(long, default_value = "")]
        comment: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject the release of a share (approvers only): it ends there.
    Reject {
        /// Share id.
        id: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// The tamper-evident ledger (auditors): show entries, verify everything,
    /// and fetch and check inclusion and consistency proofs.
    Ledger {
        #[command(subcommand)]
        cmd: LedgerCmd,
    },
    /// Evidence archives for auditors: `export` one from the running node
    /// (the ledger entries, checkpoints, proofs, agreements, approvals,
    /// envelope hashes and signed receipts, signed by the node); `verify`
    /// one offline against the node's id.
    Evidence {
        #[command(subcommand)]
        cmd: EvidenceCmd,
    },
    /// Bundles this node received and accepted (through the running node);
    /// without a subcommand, list them.
    Inbox {
        #[command(subcommand)]
        cmd: Option<InboxCmd>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum IncidentCmd {
    /// Open an incident; prints `incident: ID` (link shares with
    /// `share create --incident ID`).
    Open {
        /// A short title.
        #[arg(long)]
        title: String,
        /// low, medium, high or critical (sets the deadlines).
        #[arg(long)]
        severity: String,
        /// What makes it a supply-chain event: third_party_implicated,
        /// upstream_dependency_suspected, shared_service_impact or
        /// remediation_needs_third_party. Without it the incident is not
        /// flagged as a supply-chain event.
        #[arg(long)]
        trigger: Option<String>,
        /// An implicated peer (repeat, or comma-separated).
        #[arg(long = "peer", value_delimiter = ',')]
        peers: Vec<String>,
        /// An implicated package or product, `name@version` (repeat).
        #[arg(long = "dependency")]
        dependencies: Vec<String>,
        /// An exercise: labelled as such everywhere.
        #[arg(long)]
        exercise: bool,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List incidents.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// One incident: per peer when it was notified, received and
    /// acknowledged, the deadlines, and the escalations.
    Show {
        /// Incident id.
        id: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// The coordination report (Markdown, or JSON with --json): every
    /// line names the ledger entry that records it.
    Report {
        /// Incident id.
        id: String,
        /// JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
    /// Close an incident (ledgered); no more shares can be linked to it.
    Close {
        /// Incident id.
        id: String,
    },
    /// Record a joint action item (ledgered); share the list with
    /// `incident share`. Prints `item: ID`.
    Action {
        /// Incident id.
        id: String,
        /// What is to be done.
        text: String,
        /// The organization that owns it (default: this one).
        #[arg(long)]
        owner: Option<String>,
        /// Due date, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
    },
    /// Record a decision in the incident's joint log (ledgered). Prints
    /// `item: ID`.
    Decide {
        /// Incident id.
        id: String,
        /// What was decided.
        text: String,
    },
    /// Revise a joint action or decision: a new revision, ledgered.
    Update {
        /// Incident id.
        id: String,
        /// Item id.
        item: String,
        /// open, in_progress, done, cancelled (actions); recorded,
        /// withdrawn (decisions).
        #[arg(long)]
        status: Option<String>,
        /// New text.
        #[arg(long)]
        text: Option<String>,
        /// New owner organization.
        #[arg(long)]
        owner: Option<String>,
        /// New due date, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
    },
    /// Share the joint actions and decisions with the incident's peers (or,
    /// for another node's incident, with its originator): a bundle of kind
    /// `coordination`, under the agreements and approvals of any share.
    Share {
        /// Incident id.
        id: String,
        /// TLP label of the bundle.
        #[arg(long, default_value = "amber")]
        tlp: String,
    },
}

#[derive(Debug, Subcommand)]
enum PeerCmd {
    /// Pin a partner's signed identity card; its node may then exchange
    /// bundles with this one. Compare the printed fingerprint out of band.
    Add {
        /// The partner's identity card file (`liaison id --json` output).
        card: PathBuf,
        /// Local name for the peer; defaults to its organization.
        #[arg(long)]
        name: Option<String>,
        /// Tier: 1 critical, 2 important, 3 other (the default).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        tier: Option<u8>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the pinned peers.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Unpin a peer (by local name or node id); its connections are closed.
    Remove {
        /// Local name or node id.
        peer: String,
    },
    /// Check the contact path now: a signed ping over QUIC, answered by a
    /// signed pong; recorded (and ledgered) like the scheduled checks.
    /// Exits non-zero if any check fails.
    Check {
        /// Local name or node id; every pinned peer when absent.
        peer: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or set a peer's tier and incident-response roster. Setting
    /// replaces the whole roster with what is given (ledgered).
    Roster {
        /// Local name or node id.
        peer: String,
        /// Tier: 1 critical, 2 important, 3 other.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        tier: Option<u8>,
        /// The 24×7 security contact (free text: name, phone, e-mail).
        #[arg(long)]
        contact: Option<String>,
        /// A backup contact (repeat, in the order to try them).
        #[arg(long = "backup")]
        backups: Vec<String>,
        /// A step of the escalation path (repeat, in order).
        #[arg(long = "escalation")]
        escalation: Vec<String>,
        /// The out-of-band channel if the node cannot be reached.
        #[arg(long)]
        fallback: Option<String>,
        /// A contract reference (repeat).
        #[arg(long = "contract")]
        contracts: Vec<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ShareCmd {
    /// Validate, sign and encrypt content for pinned peers and queue its
    /// delivery; prints `share: ID`.
    Create {
        /// TLP 2.0 label (clear, green, amber, amber+strict, red).
        #[arg(long)]
        tlp: Tlp,
        /// Recipients: local peer names or node ids, comma-separated or
        /// repeated.
        #[arg(
            long = "to",
            value_name = "PEER",
            required = true,
            value_delimiter = ','
        )]
        to: Vec<String>,
        /// Content kind; detected from the content when omitted.
        #[arg(long)]
        kind: Option<Kind>,
        /// Input format: auto, stix, csaf, misp, list or csv. MISP events,
        /// IOC lists and CSV are converted to a STIX bundle before sending
        /// (the import report goes to stderr); auto detects the format,
        /// and other text is sent as a note.
        #[arg(long, default_value = "auto")]
        format: Format,
        /// Named individuals at the recipients it is for (required for
        /// TLP:RED); comma-separated or repeated.
        #[arg(long = "individual", value_name = "NAME", value_delimiter = ',')]
        individuals: Vec<String>,
        /// Link the share to this incident (`liaison incident open`): its
        /// recipients' receipts and acknowledgements are then tracked
        /// against the incident's deadlines.
        #[arg(long, value_name = "INCIDENT_ID")]
        incident: Option<String>,
        /// Expiry: an RFC 3339 time, or `+30m`, `+12h`, `+7d` from now.
        /// After it, recipients treat the bundle as recalled.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
        /// The content to share (STIX 2.1 bundle, CSAF 2.0 advisory, text
        /// note or log excerpt).
        file: PathBuf,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revise a released share: a new version that names the one it
    /// supersedes, through policy and approval like any share, to the same
    /// recipients (plus any added with --to); prints `share: ID`.
    Revise {
        /// The share to revise (its latest version).
        id: String,
        /// The new content.
        file: PathBuf,
        /// TLP label (default: the share's).
        #[arg(long)]
        tlp: Option<Tlp>,
        /// Recipients to add, comma-separated or repeated.
        #[arg(long = "to", value_name = "PEER", value_delimiter = ',')]
        to: Vec<String>,
        /// Content kind (default: the share's).
        #[arg(long)]
        kind: Option<Kind>,
        /// Input format, as for `share create`.
        #[arg(long, default_value = "auto")]
        format: Format,
        /// Expiry, as for `share create`.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recall a released share: a signed recall to every recipient, store
    /// and forward; each withholds the content and answers with a signed
    /// receipt (see `share show`).
    Recall {
        /// Share id.
        id: String,
        /// Why (the recipients see it).
        #[arg(long)]
        reason: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// What `share create` would do with the same arguments, per recipient:
    /// the policy decision with every reason, and what redaction removes.
    /// Nothing is stored or sent.
    Preview {
        /// TLP 2.0 label (clear, green, amber, amber+strict, red).
        #[arg(long)]
        tlp: Tlp,
        /// Recipients: local peer names or node ids.
        #[arg(
            long = "to",
            value_name = "PEER",
            required = true,
            value_delimiter = ','
        )]
        to: Vec<String>,
        /// Content kind; detected from the content when omitted.
        #[arg(long)]
        kind: Option<Kind>,
        /// Input format: auto, stix, csaf, misp, list or csv (as for
        /// `share create`).
        #[arg(long, default_value = "auto")]
        format: Format,
        /// Named individuals (TLP:RED).
        #[arg(long = "individual", value_name = "NAME", value_delimiter = ',')]
        individuals: Vec<String>,
        /// The content.
        file: PathBuf,
        /// Print the API's JSON.
        #[arg(long, conflicts_with = "content")]
        json: bool,
        /// Print only the content that would be sealed.
        #[arg(long)]
        content: bool,
    },
    /// List outbound shares, newest first.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a share: per-recipient delivery state, attempts, errors and
    /// signed receipts.
    Show {
        /// Share id.
        id: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCmd {
    /// List entries.
    Show {
        /// First sequence number.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute every leaf, the tree and every checkpoint signature; name
    /// the first bad entry. Exits non-zero if anything is wrong.
    Verify {
        /// Read the node home's database directly instead of asking the
        /// running node (needs read access to the home).
        #[arg(long)]
        offline: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove that an entry is in a signed checkpoint, and check the proof.
    Proof {
        /// The entry's sequence number.
        entry: u64,
        /// The checkpoint's size (default: the latest).
        #[arg(long)]
        size: Option<u64>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove that a newer checkpoint extends an older one, and check it.
    Consistency {
        /// The older checkpoint's size.
        old: u64,
        /// The newer checkpoint's size (default: the latest).
        new: Option<u64>,
        /// Your own saved copy of the old checkpoint (a signed note), to
        /// check against instead of the one the node serves now.
        #[arg(long, value_name = "FILE")]
        trusted: Option<PathBuf>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EvidenceCmd {
    /// Download a signed evidence archive (tar) from the running node
    /// (auditors): one share, the entries since a date, or everything.
    Export {
        /// Only this share: its ledger entries, release, approvals,
        /// receipts and agreements.
        #[arg(long, conflicts_with = "since")]
        share: Option<String>,
        /// Only entries from this time on (RFC 3339, or YYYY-MM-DD in UTC)
        /// and the releases among them.
        #[arg(long)]
        since: Option<String>,
        /// Where to write the archive (mode 0600).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Verify an evidence archive offline (no node, no token) and print per
    /// release: the agreement in force, who approved and when, when it was
    /// sent, and each recipient's receipt. Exits non-zero, naming the file
    /// at fault, if anything does not verify.
    Verify {
        /// The archive.
        file: PathBuf,
        /// The exporting node's id (from its operator, out of band).
        #[arg(long = "node-id", value_name = "ID")]
        node_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Create a user with a role; prints its token once.
    Add {
        /// Login name.
        name: String,
        /// analyst, approver, admin or auditor.
        #[arg(long)]
        role: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users and roles.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's token (admin; ledgered): it authenticates nothing
    /// from now on, web sessions included. The last admin cannot be revoked.
    Revoke {
        /// Login name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApprovalsCmd {
    /// One waiting share: decisions so far and what would be sent now.
    Show {
        /// Share id.
        id: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AgreementCmd {
    /// Sign an agreement (TOML, written from this node's point of view: see
    /// config/agreement.example.toml) and send it to a peer to countersign.
    /// Without `id` in the file, it is a new version of the agreement
    /// already held with that peer (or a new agreement).
    Propose {
        /// The peer: local name or node id.
        #[arg(long)]
        peer: String,
        /// The agreement file (TOML).
        file: PathBuf,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List agreements (every version) and where they stand.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an agreement's versions, both directions in plain words.
    Show {
        /// Agreement id.
        id: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Countersign the peer's proposal: it comes into force on both nodes.
    Sign {
        /// Agreement id.
        id: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decline the peer's proposal (the peer is told, with the reason).
    Decline {
        /// Agreement id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agreement: nothing flows under it any more, on either side
    /// (the peer is told, with the reason, as soon as it is reachable).
    Revoke {
        /// Agreement id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum InboxCmd {
    /// List received bundles (the same as `inbox` alone): the latest
    /// version of each, without recalled or expired ones.
    List {
        /// Also earlier versions, recalled and expired bundles.
        #[arg(long)]
        all: bool,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deliveries this node refused (negative receipts), with the reason.
    Rejected {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a received bundle: you (a person) read it. A signed
    /// acknowledgement goes back to the originator, with store and forward;
    /// it counts against an incident's acknowledgement deadline there.
    Ack {
        /// Bundle id.
        id: String,
        /// What to tell the originator.
        #[arg(long, default_value = "")]
        comment: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-share a received TLP:CLEAR or TLP:GREEN bundle, unchanged and with
    /// the originator's signature inside, where the originator's agreement
    /// allows it (AMBER, AMBER+STRICT and RED never go further).
    Forward {
        /// Bundle id.
        id: String,
        /// New recipients: local peer names or node ids.
        #[arg(
            long = "to",
            value_name = "PEER",
            required = true,
            value_delimiter = ','
        )]
        to: Vec<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a received STIX bundle as STIX 2.1 with its TLP 2.0 marking
    /// on every object and the official marking definitions inside.
    Export {
        /// Bundle id.
        id: String,
        /// Where to write the bundle (mode 0600).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Show a received bundle: sender, TLP, manifest and receipt.
    Show {
        /// Bundle id.
        id: String,
        /// Print the API's JSON.
        #[arg(long, conflicts_with = "content")]
        json: bool,
        /// Write the content itself to stdout, byte-exact.
        #[arg(long)]
        content: bool,
    },
}

/// `liaison import`: convert `file` to a STIX bundle at `output`; the
/// report goes to stdout. Nothing is written unless the import succeeds.
fn import_file(
    file: &std::path::Path,
    format: Format,
    include_non_ids: bool,
    max_mib: usize,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let format = match format {
        Format::Auto => liaison_core::import::detect(&bytes)
            .with_context(|| format!("cannot import {}", file.display()))?,
        f => f,
    };
    if !format.is_convertible() {
        anyhow::bail!(
            "{} is already {format} content: share it as it is (`liaison share create`)",
            file.display()
        );
    }
    let options = liaison_core::import::Options {
        max_bytes: max_mib.saturating_mul(1024 * 1024),
        include_non_ids,
        ..liaison_core::import::Options::default()
    };
    let imported = upload::convert(&bytes, format, &options, file)?;
    std::fs::write(output, &imported.bundle)
        .with_context(|| format!("cannot write {}", output.display()))?;
    let mut out = imported.report.to_string();
    out += &format!(
        "wrote {} (STIX 2.1 bundle, {} indicator(s))\n",
        output.display(),
        imported.report.converted
    );
    if let Some(t) = imported.report.suggested_tlp {
        out += &format!("share it with --tlp {} or higher\n", t.stix_value());
    }
    remote::emit(&out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = Home::new(&cli.home);
    let token = cli.token.as_deref();
    let result = match cli.command {
        Command::Init { org, listen, api } => offline::init(&home, &org, &listen, &api),
        Command::Id { json } => offline::id(&home, json),
        Command::Seal {
            tlp,
            to,
            kind,
            input,
            output,
        } => offline::seal(&home, tlp, &to, kind, &input, &output),
        Command::Open {
            input,
            from,
            output,
        } => offline::open(&home, &input, &from, &output),
        Command::Import {
            file,
            format,
            include_non_ids,
            max_size,
            output,
        } => import_file(&file, format, include_non_ids, max_size, &output),
        Command::Serve => serve::run(&home),
        Command::Demo => demo::run(),
        Command::Bench { quick, smoke, json } => bench::run(&bench::Options { quick, smoke, json }),
        Command::Incident { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            IncidentCmd::Open {
                title,
                severity,
                trigger,
                peers,
                dependencies,
                exercise,
                json,
            } => {
                let req = liaison_api::incidents::OpenIncidentRequest {
                    title,
                    severity,
                    supply_chain: trigger.is_some(),
                    trigger,
                    peers,
                    dependencies,
                    exercise,
                };
                crate::incident_cmd::open(&c, &req, json)
            }
            IncidentCmd::List { json } => crate::incident_cmd::list(&c, json),
            IncidentCmd::Show { id, json } => crate::incident_cmd::show(&c, &id, json),
            IncidentCmd::Report { id, json } => crate::incident_cmd::report(&c, &id, json),
            IncidentCmd::Close { id } => crate::incident_cmd::close(&c, &id),
            IncidentCmd::Action {
                id,
                text,
                owner,
                due,
            } => crate::incident_cmd::add_item(&c, &id, "action", text, owner, due),
            IncidentCmd::Decide { id, text } => {
                crate::incident_cmd::add_item(&c, &id, "decision", text, None, None)
            }
            IncidentCmd::Update {
                id,
                item,
                status,
                text,
                owner,
                due,
            } => crate::incident_cmd::update_item(
                &c,
                &id,
                &item,
                &liaison_api::joint::ReviseItemRequest {
                    text,
                    owner,
                    due,
                    status,
                },
            ),
            IncidentCmd::Share { id, tlp } => crate::incident_cmd::share(&c, &id, &tlp),
        }),
        Command::Peer { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            PeerCmd::Add {
                card,
                name,
                tier,
                json,
            } => remote::peer_add(&c, &card, name.as_deref(), tier, json),
            PeerCmd::List { json } => remote::peer_list(&c, json),
            PeerCmd::Remove { peer } => remote::peer_remove(&c, &peer),
            PeerCmd::Check { peer, json } => remote::peer_check(&c, peer.as_deref(), json),
            PeerCmd::Roster {
                peer,
                tier,
                contact,
                backups,
                escalation,
                fallback,
                contracts,
                json,
            } => {
                let set = tier.is_some()
                    || contact.is_some()
                    || fallback.is_some()
                    || !backups.is_empty()
                    || !escalation.is_empty()
                    || !contracts.is_empty();
                let roster = set.then(|| liaison_api::views::RosterRequest {
                    tier,
                    roster: liaison_core::roster::Roster {
                        security_contact: contact.unwrap_or_default(),
                        backup_contacts: backups,
                        escalation_path: escalation,
                        fallback_channel: fallback.unwrap_or_default(),
                        contract_refs: contracts,
                    },
                });
                remote::peer_roster(&c, &peer, roster, json)
            }
        }),
        Command::Share { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            ShareCmd::Create {
                tlp,
                to,
                kind,
                format,
                individuals,
                incident,
                expires,
                file,
                json,
            } => upload::share_request(tlp, &to, kind, format, &individuals, &file).and_then(
                |mut input| {
                    input.request.incident = incident;
                    input.request.not_after =
                        expires.as_deref().map(revise_cmd::expiry).transpose()?;
                    remote::share_create(&c, input, json)
                },
            ),
            ShareCmd::Revise {
                id,
                file,
                tlp,
                to,
                kind,
                format,
                expires,
                json,
            } => revise_cmd::revise(
                &c,
                &id,
                &file,
                revise_cmd::Options {
                    tlp,
                    to,
                    kind,
                    format,
                    expires,
                },
                json,
            ),
            ShareCmd::Recall { id, reason, json } => revise_cmd::recall(&c, &id, &reason, json),
            ShareCmd::Preview {
                tlp,
                to,
                kind,
                format,
                individuals,
                file,
                json,
                content,
            } => upload::share_request(tlp, &to, kind, format, &individuals, &file)
                .and_then(|input| input.into_json_request(&file))
                .and_then(|r| remote::share_preview(&c, &r, json, content)),
            ShareCmd::List { json } => remote::share_list(&c, json),
            ShareCmd::Show { id, json } => remote::share_show(&c, &id, json),
        }),
        Command::Agreement { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            AgreementCmd::Propose { peer, file, json } => {
                agreement_cmd::propose(&c, &peer, &file, json)
            }
            AgreementCmd::List { json } => agreement_cmd::list(&c, json),
            AgreementCmd::Show { id, json } => agreement_cmd::show(&c, &id, json),
            AgreementCmd::Sign { id, json } => agreement_cmd::decide(&c, &id, "sign", "", json),
            AgreementCmd::Decline { id, reason, json } => {
                agreement_cmd::decide(&c, &id, "decline", &reason, json)
            }
            AgreementCmd::Revoke { id, reason, json } => {
                agreement_cmd::decide(&c, &id, "revoke", &reason, json)
            }
        }),
        Command::Ledger {
            cmd:
                LedgerCmd::Verify {
                    offline: true,
                    json,
                },
        } => ledger_cmd::verify(&home, None, json),
        Command::Ledger { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            LedgerCmd::Show { since, limit, json } => ledger_cmd::show(&c, since, limit, json),
            LedgerCmd::Verify { json, .. } => ledger_cmd::verify(&home, Some(&c), json),
            LedgerCmd::Proof { entry, size, json } => home
                .card()
                .and_then(|card| ledger_cmd::proof(&c, &card.node_id(), entry, size, json)),
            LedgerCmd::Consistency {
                old,
                new,
                trusted,
                json,
            } => home.card().and_then(|card| {
                ledger_cmd::consistency(&c, &card.node_id(), old, new, trusted.as_deref(), json)
            }),
        }),
        Command::User { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            UserCmd::Add { name, role, json } => approval_cmd::user_add(&c, &name, &role, json),
            UserCmd::List { json } => approval_cmd::user_list(&c, json),
            UserCmd::Revoke { name } => approval_cmd::user_revoke(&c, &name),
        }),
        Command::Approvals { cmd, json } => remote::connect(&home, token).and_then(|c| match cmd {
            None => approval_cmd::list(&c, json),
            Some(ApprovalsCmd::Show { id, json: j }) => approval_cmd::show(&c, &id, json || j),
        }),
        Command::Approve { id, comment, json } => remote::connect(&home, token)
            .and_then(|c| approval_cmd::decide(&c, &id, "approve", &comment, json)),
        Command::Reject { id, comment, json } => remote::connect(&home, token)
            .and_then(|c| approval_cmd::decide(&c, &id, "reject", &comment, json)),
        Command::Evidence {
            cmd: EvidenceCmd::Verify { file, node_id },
        } => evidence_cmd::verify(&file, &node_id),
        Command::Evidence {
            cmd:
                EvidenceCmd::Export {
                    share,
                    since,
                    output,
                },
        } => remote::connect(&home, token)
            .and_then(|c| evidence_cmd::export(&c, share.as_deref(), since.as_deref(), &output)),
        Command::Inbox { cmd, json } => remote::connect(&home, token).and_then(|c| match cmd {
            None => remote::inbox_list(&c, false, json),
            Some(InboxCmd::List { all, json: j }) => remote::inbox_list(&c, all, json || j),
            Some(InboxCmd::Rejected { json: j }) => remote::inbox_rejected(&c, json || j),
            Some(InboxCmd::Ack {
                id,
                comment,
                json: j,
            }) => remote::inbox_ack(&c, &id, &comment, json || j),
            Some(InboxCmd::Forward { id, to, json: j }) => {
                remote::inbox_forward(&c, &id, &to, json || j)
            }
            Some(InboxCmd::Show {
                id,
                json: j,
                content,
            }) => remote::inbox_show(&c, &id, json || j, content),
            Some(InboxCmd::Export { id, output }) => remote::inbox_export(&c, &id, &output),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

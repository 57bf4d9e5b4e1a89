//! `liaison`: one binary for the node, its operators and its demo.

mod agreement_cmd;
mod client;
mod demo;
mod home;
mod offline;
mod remote;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Run the node: QUIC listener for pinned peers, delivery worker and
    /// the local HTTP API, until SIGTERM or Ctrl-C.
    Serve,
    /// Run a self-contained demonstration with several organizations.
    Demo,
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
        /// Named individuals at the recipients it is for (required for
        /// TLP:RED); comma-separated or repeated.
        #[arg(long = "individual", value_name = "NAME", value_delimiter = ',')]
        individuals: Vec<String>,
        /// The content to share (STIX 2.1 bundle, CSAF 2.0 advisory, text
        /// note or log excerpt).
        file: PathBuf,
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
    /// List received bundles (the same as `inbox` alone).
    List {
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
        Command::Serve => serve::run(&home),
        Command::Demo => demo::run(),
        Command::Peer { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            PeerCmd::Add {
                card,
                name,
                tier,
                json,
            } => remote::peer_add(&c, &card, name.as_deref(), tier, json),
            PeerCmd::List { json } => remote::peer_list(&c, json),
            PeerCmd::Remove { peer } => remote::peer_remove(&c, &peer),
        }),
        Command::Share { cmd } => remote::connect(&home, token).and_then(|c| match cmd {
            ShareCmd::Create {
                tlp,
                to,
                kind,
                individuals,
                file,
                json,
            } => remote::share_request(tlp, &to, kind, &individuals, &file)
                .and_then(|r| remote::share_create(&c, &r, json)),
            ShareCmd::Preview {
                tlp,
                to,
                kind,
                individuals,
                file,
                json,
                content,
            } => remote::share_request(tlp, &to, kind, &individuals, &file)
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
        Command::Inbox { cmd, json } => remote::connect(&home, token).and_then(|c| match cmd {
            None => remote::inbox_list(&c, json),
            Some(InboxCmd::List { json: j }) => remote::inbox_list(&c, json || j),
            Some(InboxCmd::Rejected { json: j }) => remote::inbox_rejected(&c, json || j),
            Some(InboxCmd::Forward { id, to, json: j }) => {
                remote::inbox_forward(&c, &id, &to, json || j)
            }
            Some(InboxCmd::Show {
                id,
                json: j,
                content,
            }) => remote::inbox_show(&c, &id, json || j, content),
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

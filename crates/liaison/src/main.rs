//! `liaison`: one binary for the node, its operators and its demo.

mod demo;
mod home;
mod offline;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = Home::new(&cli.home);
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

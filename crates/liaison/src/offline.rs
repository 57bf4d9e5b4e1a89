//! Commands that work on the node home alone, with no running node.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;
use liaison_core::envelope::{self, Draft, OpenLimits};
use liaison_core::identity::{IdentityCard, PinSet};
use liaison_core::{Kind, Tlp};

use crate::home::{load_card, Home};

pub fn init(home: &Home, org: &str, listen: &str, api: &str) -> Result<()> {
    let (card, token) = home.init(org, listen, api)?;
    println!("initialized node home {}", home.dir().display());
    println!("org:          {}", card.card.org);
    println!("node id:      {}", card.node_id());
    println!("fingerprint:  {}", card.node_id().fingerprint());
    println!("identity card: {}", home.card_path().display());
    println!("admin token: {}", token.as_str());
    println!("(the admin token is shown only now; the node keeps only its hash)");
    Ok(())
}

pub fn id(home: &Home, json: bool) -> Result<()> {
    let card = home.card()?;
    if json {
        println!("{}", card.to_json());
        return Ok(());
    }
    print_card(&card.card);
    Ok(())
}

pub fn print_card(card: &IdentityCard) {
    println!("org:           {}", card.org);
    println!("node id:       {}", card.node_id);
    println!("fingerprint:   {}", card.node_id.fingerprint());
    println!("age recipient: {}", card.age_recipient);
    println!("endpoints:     {}", card.endpoints.join(", "));
    println!("created:       {}", card.created.to_rfc3339());
}

pub fn seal(
    home: &Home,
    tlp: Tlp,
    to: &[PathBuf],
    kind: Option<Kind>,
    input: &Path,
    output: &Path,
) -> Result<()> {
    let keys = home.keys()?;
    let config = home.config()?;
    let content =
        fs::read(input).with_context(|| format!("cannot read input {}", input.display()))?;
    let kind = crate::upload::kind_or_detected(kind, &content, input)?;
    let recipients = to
        .iter()
        .map(|p| load_card(p).map(|c| c.card))
        .collect::<Result<Vec<_>>>()?;
    let draft = Draft::new(kind, tlp, recipients);
    let sealed = envelope::seal(&keys, &config.node.org, &draft, &content, Utc::now())
        .with_context(|| format!("cannot seal {}", input.display()))?;
    write_output(output, &sealed.ciphertext)?;
    let m = &sealed.bundle.manifest;
    eprintln!(
        "sealed {} ({} bytes, {})",
        input.display(),
        content.len(),
        m.kind
    );
    eprintln!("bundle:   {}", m.bundle_id);
    eprintln!("tlp:      {}", m.tlp);
    for r in &m.recipients {
        eprintln!("to:       {} ({})", r.org, r.node_id.fingerprint());
    }
    eprintln!("manifest: sha256:{}", sealed.bundle.manifest_sha256());
    eprintln!("written:  {}", output.display());
    Ok(())
}

pub fn open(home: &Home, input: &Path, from: &[PathBuf], output: &Path) -> Result<()> {
    let keys = home.keys()?;
    let pins: PinSet = from
        .iter()
        .map(|p| load_card(p).map(|c| c.card))
        .collect::<Result<_>>()?;
    let ciphertext =
        fs::read(input).with_context(|| format!("cannot read envelope {}", input.display()))?;
    let (opened, content) = envelope::open(&keys, &pins, &ciphertext, &OpenLimits::default())
        .with_context(|| format!("cannot open {}", input.display()))?;
    write_output(output, &content)?;
    let m = &opened.manifest;
    println!("bundle:     {}", m.bundle_id);
    println!("tlp:        {}", m.tlp);
    println!("kind:       {} ({})", m.kind, m.content.media_type);
    println!(
        "originator: {} (node {}, fingerprint {})",
        m.sender.org,
        m.sender.node_id,
        m.sender.node_id.fingerprint()
    );
    println!("created:    {}", m.created.to_rfc3339());
    for r in &m.recipients {
        println!("audience:   {} (node {})", r.org, r.node_id);
    }
    println!(
        "content:    {} bytes, sha256:{}",
        m.content.size, m.content.sha256
    );
    println!("written:    {}", output.display());
    Ok(())
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

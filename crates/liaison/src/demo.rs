//! `liaison demo`: the story of DESIGN §1, as far as it is built, printed as
//! it happens. Everything runs in temporary node homes that are removed at
//! the end.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use liaison_core::envelope::{self, Draft, OpenError, OpenLimits};
use liaison_core::identity::PinSet;
use liaison_core::{content, Kind, Tlp};

use crate::home::Home;

const BUNDLE: &str = include_str!("../assets/demo-supplier-iocs.json");

struct Org {
    home: Home,
    name: &'static str,
}

pub fn run() -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    println!("== Liaison demo: a supplier compromise, shared under TLP 2.0 ==\n");

    let orgs = [
        ("ACME Corp", "acme"),
        ("Bolt Supplies", "bolt"),
        ("Cobalt Logistics", "cobalt"),
        ("Mallory Ltd (outsider)", "mallory"),
    ]
    .map(|(name, dir)| Org {
        home: Home::new(tmp.path().join(dir)),
        name,
    });
    for (i, org) in orgs.iter().enumerate() {
        let (card, _admin_token) = org.home.init(
            org.name,
            &format!("127.0.0.1:{}", 7443 + i),
            &format!("127.0.0.1:{}", 7080 + i),
        )?;
        println!(
            "[{}] node created: id {}…, fingerprint {}",
            org.name,
            &card.node_id().to_string()[..12],
            card.node_id().fingerprint()
        );
    }
    let [acme, bolt, cobalt, mallory] = &orgs;

    // Cards are exchanged out of band and pinned.
    println!("\n-- identity cards exchanged and pinned (fingerprints compared by phone) --");
    let card = |o: &Org| o.home.card().map(|c| c.card);
    let acme_pins: PinSet = [card(acme)?].into_iter().collect();
    let bolt_pins = acme_pins.clone();

    // ACME seals its IOC bundle for Bolt and Cobalt.
    let info = content::validate(Kind::Stix, BUNDLE.as_bytes())?;
    println!(
        "\n[{}] STIX bundle validated: {} objects, highest marking inside: {}",
        acme.name,
        info.objects,
        info.max_tlp.map_or("none".to_string(), |t| t.to_string())
    );
    let keys = acme.home.keys()?;
    let too_low = Draft::new(Kind::Stix, Tlp::Green, vec![card(bolt)?]);
    match envelope::seal(&keys, acme.name, &too_low, BUNDLE.as_bytes(), Utc::now()) {
        Err(e) => println!("[{}] sealing as TLP:GREEN refused: {e}", acme.name),
        Ok(_) => bail!("a TLP:AMBER bundle was sealed as TLP:GREEN"),
    }
    let draft = Draft::new(Kind::Stix, Tlp::Amber, vec![card(bolt)?, card(cobalt)?]);
    let sealed = envelope::seal(&keys, acme.name, &draft, BUNDLE.as_bytes(), Utc::now())?;
    println!(
        "[{}] sealed bundle {} as {} for {} and {}: {} bytes, manifest sha256:{}…",
        acme.name,
        sealed.bundle.manifest.bundle_id,
        sealed.bundle.manifest.tlp,
        bolt.name,
        cobalt.name,
        sealed.ciphertext.len(),
        &sealed.bundle.manifest_sha256()[..16]
    );

    let limits = OpenLimits::default();
    for org in [bolt, cobalt] {
        let (opened, body) =
            envelope::open(&org.home.keys()?, &acme_pins, &sealed.ciphertext, &limits)
                .with_context(|| format!("{} could not open the bundle", org.name))?;
        if body != BUNDLE.as_bytes() {
            bail!("{} got different content", org.name);
        }
        println!(
            "[{}] opened: {} from {} (signature verified), {} bytes, audience {}",
            org.name,
            opened.manifest.tlp,
            opened.manifest.sender.org,
            body.len(),
            opened
                .manifest
                .recipients
                .iter()
                .map(|r| r.org.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // An outsider cannot read it...
    match envelope::open(
        &mallory.home.keys()?,
        &acme_pins,
        &sealed.ciphertext,
        &limits,
    ) {
        Err(e @ OpenError::NotARecipient) => println!("[{}] refused: {e}", mallory.name),
        other => bail!("the outsider was not refused: {other:?}"),
    }
    // ...and a recipient that re-encrypts it for the outsider is caught.
    let plain = age::decrypt(bolt.home.keys()?.age_identity(), &sealed.ciphertext)
        .context("Bolt could not decrypt")?;
    let forwarded = age::encrypt(&mallory.home.keys()?.age_recipient(), &plain)
        .context("re-encryption failed")?;
    match envelope::open(&mallory.home.keys()?, &bolt_pins, &forwarded, &limits) {
        Err(e @ OpenError::NotInAudience(_)) => println!(
            "[{}] a copy re-encrypted by {} is refused: {e}",
            mallory.name, bolt.name
        ),
        other => bail!("surreptitious forwarding was not caught: {other:?}"),
    }

    println!("\n== demo complete: 2 recipients opened the bundle, 2 refusals as expected ==");
    Ok(())
}

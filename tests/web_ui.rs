//! The web UI in real Chromium (Debian's `chromium` and `chromedriver`,
//! which `.ci/run` installs), driven over WebDriver by fantoccini, against
//! two real nodes (`liaison serve` on 127.0.0.1): an analyst drafts a
//! TLP:AMBER share by uploading a STIX bundle, a legal approver logs in,
//! sees the redaction preview and approves, the share shows as delivered
//! with a signed receipt, and the recipient's inbox page shows it.
//!
//! Screenshots of the approvals and inbox pages (wide and narrow) are
//! saved under the target directory, `target/tmp/web-ui/` (not committed).
//! Chromium is started with the flags this closed network needs (no
//! background networking, no QUIC, no sync) and talks to loopback only.
//! `LIAISON_SKIP_BROWSER=1` skips the test where Chromium is missing.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{pin_and_agree, TestNode, FAST_DELIVERY};

/// ACME → Bolt: AMBER needs one approval; internal addresses are removed.
const APPROVAL_AGREEMENT: &str = r#"
title = "ACME to Bolt: IOCs, legal approval from AMBER"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
approval = { from_tlp = "amber", approvers = 1 }
[outbound.redact]
internal_cidrs = ["10.0.0.0/8"]
"#;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The whole browser story may take this long, no more.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

/// chromedriver, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    // An ephemeral port, released just before chromedriver takes it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1280,800",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in Chromium")
}

fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(shots_dir().join(name), png).unwrap();
}

/// Log in through the form, with the keyboard: type the token, press Enter.
async fn login(c: &Client, node: &TestNode, token: &str) {
    c.goto(&format!("http://{}/ui/login", node.api))
        .await
        .unwrap();
    let field = c.find(Locator::Css("input#token")).await.unwrap();
    field.send_keys(&format!("{token}\u{E007}")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form.logout"))
        .await
        .expect("logged in");
}

async fn logout(c: &Client) {
    c.find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input#token"))
        .await
        .expect("back at the login page");
}

async fn text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Whether the page fits the window's width (no sideways scrolling).
async fn fits_width(c: &Client) -> bool {
    let v = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    v.as_bool() == Some(true)
}

#[test]
fn an_amber_share_is_drafted_approved_delivered_and_received_in_chromium() {
    if std::env::var("LIAISON_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("LIAISON_SKIP_BROWSER=1: skipped");
        return;
    }
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver; .ci/run does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.configure(FAST_DELIVERY);
    a.start();
    b.start();
    pin_and_agree(&a, &b, APPROVAL_AGREEMENT);
    let ana = a.add_user("ana", "analyst");
    let lena = a.add_user("lena", "approver");
    let bob = b.add_user("bob", "analyst");
    let driver = start_driver();
    let profile = tmp.path().join("chromium-profile");
    let upload = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/stix-internal-and-external-ip.json")
        .canonicalize()
        .unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(&driver, &profile).await;
        let story = async {
            // The analyst drafts: upload, pick the peer and TLP, preview, create.
            login(&c, &a, &ana).await;
            c.goto(&format!("http://{}/ui/shares/new", a.api))
                .await
                .unwrap();
            c.find(Locator::Css("input[name=to][value=bolt]"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            c.find(Locator::Css("select#tlp"))
                .await
                .unwrap()
                .select_by_value("TLP:AMBER")
                .await
                .unwrap();
            c.find(Locator::Css("input#file"))
                .await
                .unwrap()
                .send_keys(&upload.display().to_string())
                .await
                .unwrap();
            c.find(Locator::Css("button#preview"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let create = c
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("button#create"))
                .await
                .expect("the preview offers Create");
            let preview = text(&c).await;
            assert!(preview.contains("needs 1 approval"), "{preview}");
            create.click().await.unwrap();
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#share-state"))
                .await
                .unwrap();
            let url = c.current_url().await.unwrap();
            let share_id = url
                .path()
                .strip_prefix("/ui/shares/")
                .expect("the share page")
                .to_string();
            let state = c.find(Locator::Css("#share-state")).await.unwrap();
            assert_eq!(state.text().await.unwrap(), "awaiting_approval");
            logout(&c).await;

            // The approver: the queue, the redaction preview, approve.
            login(&c, &a, &lena).await;
            c.goto(&format!("http://{}/ui/approvals", a.api))
                .await
                .unwrap();
            let queue = text(&c).await;
            assert!(queue.contains("TLP:AMBER"), "{queue}");
            assert!(queue.contains("ana"), "the drafter is shown: {queue}");
            screenshot(&c, "approvals.png").await;
            c.find(Locator::Css(&format!("a[href='/ui/approvals/{share_id}']")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("button#approve"))
                .await
                .unwrap();
            let detail = c.source().await.unwrap();
            assert!(detail.contains("198.51.100.7"), "what is sent is shown");
            assert!(
                !detail.contains("10.20.30.40"),
                "the internal address is not"
            );
            assert!(detail.contains("internal_cidrs"), "the removal is named");
            let badge = c.find(Locator::Css("h1 .tlp")).await.unwrap();
            let colour = badge.css_value("color").await.unwrap();
            assert_eq!(colour, "rgba(255, 192, 0, 1)", "TLP 2.0 amber #FFC000");
            screenshot(&c, "approval-detail.png").await;
            c.set_window_size(390, 800).await.unwrap();
            screenshot(&c, "approval-detail-narrow.png").await;
            assert!(
                fits_width(&c).await,
                "the approval page fits a narrow screen"
            );
            c.set_window_size(1280, 800).await.unwrap();
            c.find(Locator::Css("textarea#approve-comment"))
                .await
                .unwrap()
                .send_keys("Indicators checked; internal host removed.")
                .await
                .unwrap();
            c.find(Locator::Css("button#approve"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            // Delivered with a signed receipt (reload until it arrives).
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                c.goto(&format!("http://{}/ui/shares/{share_id}", a.api))
                    .await
                    .unwrap();
                let page = text(&c).await;
                if page.contains("signed receipt: accepted") {
                    assert!(page.contains("delivered"), "{page}");
                    break;
                }
                assert!(Instant::now() < deadline, "no receipt in time: {page}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            screenshot(&c, "share-delivered.png").await;
            logout(&c).await;

            // The recipient's inbox shows it, with the approval trail.
            login(&c, &b, &bob).await;
            c.goto(&format!("http://{}/ui/inbox?tlp=TLP:AMBER", b.api))
                .await
                .unwrap();
            let inbox = text(&c).await;
            assert!(inbox.contains("acme"), "{inbox}");
            assert!(inbox.contains("1 of 1"), "{inbox}");
            screenshot(&c, "inbox.png").await;
            c.set_window_size(390, 800).await.unwrap();
            screenshot(&c, "inbox-narrow.png").await;
            assert!(fits_width(&c).await, "the inbox fits a narrow screen");
            c.set_window_size(1280, 800).await.unwrap();
            c.find(Locator::Css(&format!("a[href='/ui/inbox/{share_id}']")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#approval-trail"))
                .await
                .unwrap();
            let item = text(&c).await;
            assert!(item.contains("lena"), "the approver is named: {item}");
            assert!(item.contains("Download the content"), "{item}");
        };
        let outcome = tokio::time::timeout(TEST_TIMEOUT, story).await;
        let _ = c.close().await;
        outcome.expect("the browser story finished in time");
    });
    a.stop();
    b.stop();
}
